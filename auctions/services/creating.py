from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from auctions.errors import EndTimeNotInFuture, InvalidAuctionTerms
from auctions.models import Auction
from common import clock
from common.money import DEFAULT_CURRENCY
from notifications import services as notifications


def _auction_terms_check(
    *,
    starting_price: Decimal,
    reserve_price: Decimal | None,
    buy_now_price: Decimal | None,
    end_time: datetime,
    extension_seconds: int | None,
    max_end_time: datetime | None,
) -> None:
    errors: dict[str, list[str]] = {}
    if reserve_price is not None and reserve_price < starting_price:
        errors["reserve_price"] = ["The reserve price cannot be below the starting price."]
    if buy_now_price is not None:
        floor = max(starting_price, reserve_price or starting_price)
        if buy_now_price < floor or buy_now_price == 0:
            errors["buy_now_price"] = [
                "The buy-now price must be positive and at least the starting and reserve prices."
            ]
    if max_end_time is not None:
        if not extension_seconds:
            errors["max_end_time"] = ["A cap on the end only applies with extension_seconds."]
        elif max_end_time < end_time:
            errors["max_end_time"] = ["The cap on the end cannot be before the end time."]
    if errors:
        raise InvalidAuctionTerms(next(iter(errors.values()))[0], errors=errors)


def auction_create(
    *,
    owner: AbstractBaseUser,
    title: str,
    description: str,
    starting_price: Decimal,
    price_step: Decimal,
    end_time: datetime,
    currency: str = DEFAULT_CURRENCY,
    condition: str = Auction.Condition.USED,
    reserve_price: Decimal | None = None,
    buy_now_price: Decimal | None = None,
    extension_seconds: int | None = None,
    max_end_time: datetime | None = None,
) -> Auction:
    """Create an auction that accepts bids until `end_time` (later with soft close).

    Transaction: one, inserting the auction and the "auction created" event (every user but
    the owner is emailed after commit). Locks nothing (the row is new).
    Raises `EndTimeNotInFuture` when `end_time` is not after now (any duration is valid),
    and `InvalidAuctionTerms` when the optional prices or the cap contradict each other.
    """
    now = clock.now()
    if end_time <= now:
        raise EndTimeNotInFuture(
            "end_time must be in the future.",
            errors={"end_time": ["The end time must be in the future."]},
        )
    _auction_terms_check(
        starting_price=starting_price,
        reserve_price=reserve_price,
        buy_now_price=buy_now_price,
        end_time=end_time,
        extension_seconds=extension_seconds,
        max_end_time=max_end_time,
    )
    with transaction.atomic():
        auction = Auction.objects.create(
            owner=owner,
            title=title,
            description=description,
            starting_price=starting_price,
            price_step=price_step,
            currency=currency,
            condition=condition,
            reserve_price=reserve_price,
            buy_now_price=buy_now_price,
            end_time=end_time,
            extension_seconds=extension_seconds or None,
            max_end_time=max_end_time,
            closes_at=end_time,
            created_at=now,
            current_price=starting_price,
        )
        notifications.auction_created_record(auction)
    return auction
