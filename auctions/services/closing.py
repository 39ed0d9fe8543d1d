"""Closing: record the winner and the final price once the effective end has passed."""

from datetime import datetime

from django.db import transaction

from auctions.models import Auction
from auctions.services.locking import _auction_lock
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
        if auction.closed_at is not None or auction.is_active_at(now):
            return auction
        _auction_finish(auction, now=now)
    return auction


def auction_close_due(*, limit: int = 1000) -> int:
    """Close every auction whose end has passed and that is not closed yet, oldest end
    first. Each in its own short transaction, skipping rows other workers hold (they are
    closing them, or a bid holds the lock and the next tick retries). Returns how many this
    call closed.
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
