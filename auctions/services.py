"""Every write to an auction or a bid. The rules of bidding live here and nowhere else.

How an auction is locked
------------------------
`_auction_lock` is the one place that takes an auction's row lock. Every service that
changes an auction (a bid, the close) goes through it, and follows the same order:

1. open one transaction;
2. lock the auction row (`SELECT ... FOR UPDATE OF auction`; only that row, not the joined
   users);
3. read the clock, check the rules against the locked row, write;
4. commit; side effects (Celery tasks, emails) run only after the commit.

No decision is taken on data read before the lock, so under any number of concurrent
bidders the accepted bids of one auction form a strictly increasing sequence, each at least
the previous one plus the step. One lock per transaction: nothing here ever holds two.

On SQLite `FOR UPDATE` does not exist; every `transaction.atomic()` starts with
`BEGIN IMMEDIATE` instead (see settings), which takes the database's write lock up front
and gives the same serial order. Concurrency is proven on PostgreSQL.

A lock wait longer than PostgreSQL's `lock_timeout` (settings) ends the transaction; the API
answers 503 `busy` with `Retry-After`, and nothing was written.
"""

from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from auctions.errors import (
    AuctionFinished,
    AuctionNotFound,
    BidTooLow,
    EndTimeNotInFuture,
    OwnAuction,
)
from auctions.models import Auction, Bid
from common import clock
from common.money import DEFAULT_CURRENCY
from notifications import services as notifications
from notifications.models import Event


def _auction_lock(auction_id: int, *, skip_locked: bool = False) -> Auction | None:
    """Fetch the auction row and lock it until the surrounding transaction ends.

    Must run inside `transaction.atomic()`: a lock taken in autocommit mode would be
    released before the caller could act on what it read.

    With `skip_locked=False` (the default) waits for the lock and raises `AuctionNotFound`
    for an unknown id. With `skip_locked=True` (the closing sweep) returns None at once when
    another transaction holds the row, so any number of workers can share the work.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("_auction_lock() must be called inside transaction.atomic()")
    queryset = Auction.objects.select_for_update(of=("self",), skip_locked=skip_locked)
    auction = queryset.filter(pk=auction_id).first()
    if auction is None and not skip_locked:
        raise AuctionNotFound(f"There is no auction with id {auction_id}.")
    return auction


def auction_create(
    *,
    owner: AbstractBaseUser,
    title: str,
    description: str,
    starting_price: Decimal,
    price_step: Decimal,
    end_time: datetime,
    currency: str = DEFAULT_CURRENCY,
) -> Auction:
    """Create an auction that accepts bids until `end_time`.

    Transaction: one, inserting the auction and the "auction created" event (every user but
    the owner is emailed after commit). Locks nothing (the row is new).
    Raises `EndTimeNotInFuture` when `end_time` is not after now; any duration is valid.
    """
    now = clock.now()
    if end_time <= now:
        raise EndTimeNotInFuture(
            "end_time must be in the future.",
            errors={"end_time": ["The end time must be in the future."]},
        )
    with transaction.atomic():
        auction = Auction.objects.create(
            owner=owner,
            title=title,
            description=description,
            starting_price=starting_price,
            price_step=price_step,
            currency=currency,
            end_time=end_time,
            closes_at=end_time,
            created_at=now,
            current_price=starting_price,
        )
        notifications.auction_created_record(auction)
    return auction


def bid_place(auction_id: int, *, bidder: AbstractBaseUser, amount: Decimal) -> Bid:
    """Place a bid of `amount` on the auction, or refuse it.

    Transaction: one. Locks the auction row (`_auction_lock`), then, against the locked
    row and the clock read after the lock: the bidder is not the owner (`OwnAuction`), the
    auction is open, `now < closes_at` (`AuctionFinished`), and
    `amount >= min_next_bid` (`BidTooLow`, carrying `min_next_bid`). Inserts the bid and
    updates `current_price`, `leader` and `bid_count` before releasing the lock, and
    records a "bid placed" event when someone else bid before (earlier bidders are emailed
    after commit). Not idempotent: each call that succeeds is one more bid.
    """
    with transaction.atomic():
        auction = _auction_lock(auction_id)
        assert auction is not None
        now = clock.now()
        if auction.owner_id == bidder.pk:
            raise OwnAuction("The owner of an auction cannot bid on it.")
        if not auction.is_active_at(now):
            raise AuctionFinished(
                f"Auction {auction.pk} stopped accepting bids at {auction.closes_at.isoformat()}."
            )
        min_next_bid = auction.min_next_bid
        if amount < min_next_bid:
            raise BidTooLow(
                f"The minimum next bid is {min_next_bid:.2f}.",
                min_next_bid=f"{min_next_bid:.2f}",
            )
        bid = Bid.objects.create(auction=auction, bidder=bidder, amount=amount, created_at=now)
        previous_leader_id = auction.leader_id
        auction.current_price = amount
        auction.leader = bidder
        auction.bid_count += 1
        auction.save(update_fields=["current_price", "leader", "bid_count"])
        if previous_leader_id is not None:  # nobody to tell about the first bid
            notifications.event_record(
                Event.Kind.BID_PLACED,
                auction=auction,
                bid=bid,
                payload={
                    "bidder_id": bidder.pk,
                    "bidder": bidder.get_username(),
                    "previous_leader_id": previous_leader_id,
                    "amount": f"{amount:.2f}",
                    "min_next_bid": f"{auction.min_next_bid:.2f}",
                },
            )
    bid.auction = auction
    return bid


def auction_close(auction_id: int, *, skip_locked: bool = False) -> Auction | None:
    """Close the auction if its effective end has passed: record winner and final price.

    Transaction: one. Locks the auction row (`_auction_lock`; with `skip_locked=True`
    returns None at once when another transaction holds it). Records the "auction closed"
    event; the bidders and the owner are emailed after commit.
    Idempotent: does nothing to an auction already closed or still open, so an early or a
    duplicate trigger (the timed task, the sweep, several workers) is harmless.
    """
    with transaction.atomic():
        auction = _auction_lock(auction_id, skip_locked=skip_locked)
        if auction is None:
            return None
        now = clock.now()
        if auction.closed_at is not None or auction.is_active_at(now):
            return auction
        # Bids only go up, so the leader is the highest bidder; None when nobody bid.
        auction.closed_at = now
        auction.winner_id = auction.leader_id
        auction.final_price = auction.current_price if auction.bid_count else None
        auction.save(update_fields=["closed_at", "winner", "final_price"])
        winner = auction.winner.get_username() if auction.winner_id else None
        notifications.event_record(
            Event.Kind.AUCTION_CLOSED,
            auction=auction,
            payload={
                "winner_id": auction.winner_id,
                "winner": winner,
                "final_price": f"{auction.final_price:.2f}" if auction.final_price else None,
            },
        )
    return auction


def auction_close_due(*, limit: int = 1000) -> int:
    """Close every auction whose end has passed and that is not closed yet, oldest end
    first. Each in its own short transaction, skipping rows other workers hold (they are
    closing them). Returns how many this call closed.
    """
    now = clock.now()
    due_ids = list(
        Auction.objects.due(now).order_by("closes_at").values_list("id", flat=True)[:limit]
    )
    closed = 0
    for auction_id in due_ids:
        auction = auction_close(auction_id, skip_locked=True)
        if auction is not None and auction.closed_at is not None:
            closed += 1
    return closed
