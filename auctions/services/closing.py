"""Closing: record the winner and the final price once the effective end has passed."""

from datetime import datetime

from django.db import transaction

from auctions.models import Auction
from auctions.services.locking import _auction_lock, _auctions_lock_many
from common import clock
from notifications import services as notifications
from notifications.models import Event


def _auction_finish(auction: Auction, *, now: datetime, bought_now: bool = False) -> None:
    """Record the outcome and the "auction closed" event. The caller holds the lock.

    The winner is the leader (bids only go up, so the leader is the highest bidder of this
    auction) when the reserve was met; otherwise nobody wins.
    """
    reserve_met = auction.reserve_met
    auction.closed_at = now
    auction.winner_id = auction.leader_id if reserve_met else None
    auction.final_price = auction.current_price if auction.winner_id else None
    auction.save(update_fields=["closed_at", "winner", "final_price"])
    winner = auction.leader.get_username() if auction.winner_id else None  # loaded by the lock
    notifications.event_record(
        Event.Kind.AUCTION_CLOSED,
        auction=auction,
        payload={
            "winner_id": auction.winner_id,
            "winner": winner,
            "final_price": f"{auction.final_price:.2f}" if auction.final_price else None,
            "reserve_not_met": bool(auction.bid_count) and not reserve_met,
            "bought_now": bought_now,
        },
    )


def auction_close(auction_id: int, *, skip_locked: bool = False) -> Auction | None:
    """Close the auction if its effective end has passed: record winner and final price.

    Transaction: one. Locks the auction row (`_auction_lock`; with `skip_locked=True`
    returns None at once when another transaction holds it). Records the "auction closed"
    event; the bidders and the owner are emailed after commit.
    Idempotent: does nothing to an auction already closed or still open (a soft close may
    have moved its end), so an early or a duplicate trigger is harmless.
    """
    with transaction.atomic():
        auction = _auction_lock(auction_id, skip_locked=skip_locked)
        if auction is None:
            return None
        now = clock.now()
        if auction.is_due_at(now):
            _auction_finish(auction, now=now)
    return auction


def auctions_close(auction_ids: list[int]) -> list[Auction]:
    """Close those of the given auctions whose effective end has passed, together.

    Transaction: one for all of them. Locks their rows in id order in one statement
    (`_auctions_lock_many`), skipping rows other transactions hold (a bid still deciding,
    another closer: the next tick retries). Same rules and events as `auction_close`, at a
    fraction of the cost per auction when many end in the same second. Idempotent.
    Returns the auctions this call closed.
    """
    with transaction.atomic():
        auctions = _auctions_lock_many(auction_ids)
        now = clock.now()
        due = [auction for auction in auctions if auction.is_due_at(now)]
        for auction in due:
            _auction_finish(auction, now=now)
    return due


# Due auctions closed per transaction by the sweep and the timed close tasks.
CLOSE_CHUNK = 50


def auction_close_due(*, limit: int = 1000) -> int:
    """Close every auction whose end has passed and that is not closed yet, oldest end
    first, `CLOSE_CHUNK` per transaction (`auctions_close`). Returns how many it closed.
    """
    now = clock.now()
    due_ids = list(
        Auction.objects.due(now).order_by("closes_at").values_list("id", flat=True)[:limit]
    )
    closed = 0
    for start in range(0, len(due_ids), CLOSE_CHUNK):
        closed += len(auctions_close(due_ids[start : start + CLOSE_CHUNK]))
    return closed
