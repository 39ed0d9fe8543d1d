"""What can go wrong with an auction or a bid, each with the contract's code and status."""

from rest_framework import status

from common.errors import DomainError


class AuctionNotFound(DomainError):
    code = "not_found"
    status = status.HTTP_404_NOT_FOUND
    title = "Auction not found"


class BidNotFound(DomainError):
    code = "not_found"
    status = status.HTTP_404_NOT_FOUND
    title = "Bid not found"


class AuctionFinished(DomainError):
    code = "auction_finished"
    status = status.HTTP_409_CONFLICT
    title = "The auction has finished"


class OwnAuction(DomainError):
    code = "own_auction"
    status = status.HTTP_403_FORBIDDEN
    title = "You cannot bid on your own auction"


class BidTooLow(DomainError):
    """Carries `min_next_bid` so the client can retry with an acceptable amount."""

    code = "bid_too_low"
    status = status.HTTP_400_BAD_REQUEST
    title = "The bid is below the minimum next bid"


class EndTimeNotInFuture(DomainError):
    code = "end_time_not_in_future"
    status = status.HTTP_400_BAD_REQUEST
    title = "The end time must be in the future"


class BuyNowUnavailable(DomainError):
    code = "buy_now_unavailable"
    status = status.HTTP_409_CONFLICT
    title = "This auction cannot be bought now"


class InvalidAuctionTerms(DomainError):
    """The terms of a new auction contradict each other (field errors under `errors`)."""

    code = "validation_error"
    status = status.HTTP_400_BAD_REQUEST
    title = "Invalid input"


class MaxBelowAmount(DomainError):
    code = "max_amount_below_amount"
    status = status.HTTP_400_BAD_REQUEST
    title = "The maximum must be at least the bid"


class AuctionCreateLimitReached(DomainError):
    """The owner has created as many auctions as `AUCTION_CREATE_LIMIT` allows in its
    period; `retry_after` is when the oldest of them leaves the period (seconds)."""

    code = "auction_create_limit_reached"
    status = status.HTTP_429_TOO_MANY_REQUESTS
    title = "Too many auctions created; retry later"

    def __init__(self, detail: str | None = None, *, retry_after: int, **extra) -> None:
        super().__init__(detail, retry_after=retry_after, **extra)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
