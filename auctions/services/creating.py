import math
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from auctions.errors import AuctionCreateLimitReached, EndTimeNotInFuture, InvalidAuctionTerms
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


def _auction_create_limit_check(owner: AbstractBaseUser, *, now: datetime) -> None:
    """Refuse a new auction when its owner has created `AUCTION_CREATE_LIMIT` of them
    within its period (each one emails every user).

    Must run inside the creating transaction. It locks the owner's user row first, so that
    two concurrent creations by one owner take turns: the second counts the first's
    auction and cannot slip past the limit with it (on SQLite, the transaction's write lock,
    taken at BEGIN, does the same). A lock wait past `lock_timeout` is a 503 `busy`.
    """
    limit = settings.AUCTION_CREATE_LIMIT
    if limit is None:
        return
    count, seconds = limit
    period = timedelta(seconds=seconds)
    list(get_user_model().objects.select_for_update().filter(pk=owner.pk).values_list("pk"))
    # The count-th newest auction of the period, if there is one, is the one whose
    # leaving the period frees a place (index auction_owner_idx answers it).
    nth_newest = (
        Auction.objects.filter(owner=owner, created_at__gt=now - period)
        .order_by("-created_at")
        .values_list("created_at", flat=True)[count - 1 : count]
        if count
        else [now]  # a limit of 0: no auction at all
    )
    for created_at in nth_newest:
        retry_after = max(1, math.ceil((created_at + period - now).total_seconds()))
        raise AuctionCreateLimitReached(
            f"At most {count} auctions per {seconds} seconds; retry in {retry_after} seconds.",
            retry_after=retry_after,
        )


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
    the owner is emailed after commit). Locks the owner's user row, for the creation limit
    (the auction row is new).
    Raises `EndTimeNotInFuture` when `end_time` is not after now (any duration is valid),
    `InvalidAuctionTerms` when the optional prices or the cap contradict each other, and
    `AuctionCreateLimitReached` (429, Retry-After) when the owner has created
    `AUCTION_CREATE_LIMIT` auctions in its period.
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
        _auction_create_limit_check(owner, now=now)
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
