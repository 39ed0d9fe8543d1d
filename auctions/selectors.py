"""Every non-trivial read of auctions and bids: the querysets the API and workers share."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet

from auctions.errors import AuctionNotFound, BidNotFound
from auctions.models import Auction, Bid


def auction_list() -> QuerySet[Auction]:
    """All auctions with the users needed to render them, newest first.

    Filtering (status, owner, search) and ordering are applied by `auctions.filters`,
    which derives `status` from the clock through `AuctionQuerySet.active/finished`.
    """
    return Auction.objects.select_related("owner", "leader", "winner").order_by(
        "-created_at", "-id"
    )


def auction_get(auction_id: int) -> Auction:
    """One auction with its users, or `AuctionNotFound`."""
    auction = (
        Auction.objects.select_related("owner", "leader", "winner").filter(pk=auction_id).first()
    )
    if auction is None:
        raise AuctionNotFound(f"There is no auction with id {auction_id}.")
    return auction


def auction_exists_or_404(auction_id: int) -> None:
    if not Auction.objects.filter(pk=auction_id).exists():
        raise AuctionNotFound(f"There is no auction with id {auction_id}.")


def bid_list(*, auction_id: int) -> QuerySet[Bid]:
    """The auction's bids, newest first (id order is commit order under the lock)."""
    return Bid.objects.filter(auction_id=auction_id).select_related("bidder").order_by("-id")


def bid_list_recent(*, auction_id: int) -> list[Bid]:
    """The latest bids shown inside an auction's detail (the whole history is paginated)."""
    return list(bid_list(auction_id=auction_id)[: settings.BIDS_IN_DETAIL])


def bid_get(*, auction_id: int, bid_id: int) -> Bid:
    bid = bid_list(auction_id=auction_id).filter(pk=bid_id).first()
    if bid is None:
        raise BidNotFound(f"Auction {auction_id} has no bid with id {bid_id}.")
    return bid


def auction_closing_soon(*, now: datetime, within: timedelta) -> list[tuple[int, datetime]]:
    """(id, closes_at) of open auctions whose effective end falls in (now, now + within]."""
    return list(
        Auction.objects.filter(
            closed_at__isnull=True, closes_at__gt=now, closes_at__lte=now + within
        ).values_list("id", "closes_at")
    )
