"""Closing: record the winner and the final price once the effective end has passed."""

from datetime import datetime

from django.db import transaction
from django.db.models import F

from auctions.models import Auction
from auctions.services.locking import _auction_lock, _auctions_lock_many
from common import clock
from notifications import services as notifications
from notifications.models import Event


def _auction_outcome(auction: Auction, *, now: datetime, bought_now: bool = False) -> dict:
    """Set the outcome on the locked auction (not saved yet); return the payload of its
    "auction closed" event.

    The winner is the leader (bids only go up, so the leader is the highest bidder of this
    auction) when the reserve was met; otherwise nobody wins.
    """
    reserve_met = auction.reserve_met
    auction.closed_at = now
    auction.winner_id = auction.leader_id if reserve_met else None
    auction.final_price = auction.current_price if auction.winner_id else None
    winner = auction.leader.get_username() if auction.winner_id else None  # loaded by the lock
    return {
        "winner_id": auction.winner_id,
        "winner": winner,
        "final_price": f"{auction.final_price:.2f}" if auction.final_price else None,
        "reserve_not_met": bool(auction.bid_count) and not reserve_met,
        "bought_now": bought_now,
    }


_OUTCOME_FIELDS = ["closed_at", "winner", "final_price"]


def _auction_finish(auction: Auction, *, now: datetime, bought_now: bool = False) -> None:
    """Record the outcome and the "auction closed" event. The caller holds the lock."""
    payload = _auction_outcome(auction, now=now, bought_now=bought_now)
    auction.save(update_fields=_OUTCOME_FIELDS)
    notifications.event_record(Event.Kind.AUCTION_CLOSED, auction=auction, payload=payload)


def _auctions_finish(auctions: list[Auction], *, now: datetime) -> None:
    """`_auction_finish` for a burst of auctions whose locks the caller holds: one UPDATE for
    all their outcomes and one INSERT for all their events, whose emails then go out
    together (`events_record`). The locked section stays a few statements long however
    many auctions end in the same second."""
    if not auctions:
        return
    changes = [(auction, _auction_outcome(auction, now=now)) for auction in auctions]
    # Two plain UPDATEs rather than `bulk_update`, whose CASE expressions (three fields,
    # a WHEN per auction) cost more to compile than the rest of the close. The rows are
    # locked, so their leader and price are the very values the outcome was decided on.
    sold = [auction.pk for auction in auctions if auction.winner_id]
    unsold = [auction.pk for auction in auctions if not auction.winner_id]
    if sold:
        Auction.objects.filter(pk__in=sold).update(
            closed_at=now, winner=F("leader"), final_price=F("current_price")
        )
    if unsold:
        Auction.objects.filter(pk__in=unsold).update(closed_at=now, winner=None, final_price=None)
    notifications.events_record(Event.Kind.AUCTION_CLOSED, changes)


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


def auctions_close(auction_ids: list[int], *, wait: bool = False) -> list[Auction]:
    """Close those of the given auctions whose effective end has passed, together.

    Transaction: one for all of them. Locks their rows in id order in one statement
    (`_auctions_lock_many`). By default skips rows other transactions hold (a bid still
    deciding, another closer: the next tick retries); with `wait=True` waits for them
    instead, as a close timed to the end does: a bid refused at the last instant holds its
    auction for milliseconds, the next tick is a second away. Same rules as
    `auction_close`, at a fraction of the cost per auction when many end in the same
    second: one UPDATE for all the outcomes, one INSERT for all the events, one fan-out
    task for all their emails after commit (`_auctions_finish`). Idempotent.
    Returns the auctions this call closed.
    """
    with transaction.atomic():
        auctions = _auctions_lock_many(auction_ids, skip_locked=not wait)
        now = clock.now()
        due = [auction for auction in auctions if auction.is_due_at(now)]
        _auctions_finish(due, now=now)
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
