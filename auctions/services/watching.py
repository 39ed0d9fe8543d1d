"""Watching: a member's watchlist, and the one "ending soon" email its watchers get.

The reminder is a periodic sweep (`auction_watch_remind_due`, every 30 seconds from the beat
schedule): it finds, by query, the watched auctions whose effective end is less than
`WATCH_REMINDER_SECONDS` away, and claims each under its row lock by setting
`watch_reminded_at` in the transaction that records the "ending soon" event. The flag makes
it once per auction: a duplicate sweep, a second scheduler, or a soft-close extension that
moves the end after the reminder never sends another.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max

from auctions import selectors
from auctions.models import Auction, Watch
from auctions.services.locking import _auction_lock
from common import clock
from notifications import services as notifications
from notifications.models import Event


def watch_add(auction_id: int, *, user: AbstractBaseUser) -> Watch:
    """Put the auction on the user's watchlist. Idempotent: watching again changes nothing.

    Transaction: one (a savepoint inside a caller's). Locks nothing: a watch does not change
    the auction. Any auction may be watched, one's own or a finished one included (the
    reminder only ever goes out before the end). Raises `AuctionNotFound` for an unknown id.
    The returned watch carries `created`: False when the user already watched the auction
    (two concurrent calls both succeed; the unique (user, auction) constraint keeps one row).
    """
    selectors.auction_exists_or_404(auction_id)
    with transaction.atomic():
        watch, created = Watch.objects.get_or_create(
            user_id=user.pk, auction_id=auction_id, defaults={"created_at": clock.now()}
        )
    watch.created = created
    return watch


def watch_remove(auction_id: int, *, user: AbstractBaseUser) -> None:
    """Take the auction off the user's watchlist. Idempotent: not watching is no error.

    One statement (autocommit); locks nothing. Raises `AuctionNotFound` for an unknown id.
    """
    selectors.auction_exists_or_404(auction_id)
    Watch.objects.filter(user_id=user.pk, auction_id=auction_id).delete()


def _watch_reminder_due(auction: Auction, *, now: datetime, lead: timedelta) -> bool:
    """The rule of `selectors.auction_watch_reminder_due_ids`, re-read on the locked row."""
    return (
        auction.watch_reminded_at is None
        and auction.is_active_at(now)
        and auction.closes_at <= now + lead
        and auction.end_time - auction.created_at >= lead
    )


def auction_watch_remind(auction_id: int, *, lead: timedelta) -> Event | None:
    """Record the "ending soon" event of one auction if it is due, and mark it reminded.
    Returns the event, or None when nothing was due.

    Transaction: one. Locks the auction row without waiting (`_auction_lock(skip_locked=
    True)`; when a bid or the close holds it, does nothing: the next sweep retries), then
    re-checks the rule on the locked row and the clock read after the lock. The watchers are
    those up to the latest watch now (`last_watch_id`), emailed after commit.
    Idempotent: an auction already reminded, closed, or no longer watched is left alone
    (without watchers it stays unreminded, so a later watcher still gets the email).
    """
    with transaction.atomic():
        auction = _auction_lock(auction_id, skip_locked=True)
        if auction is None:
            return None
        now = clock.now()
        if not _watch_reminder_due(auction, now=now, lead=lead):
            return None
        last_watch_id = Watch.objects.filter(auction=auction).aggregate(last=Max("id"))["last"]
        if last_watch_id is None:
            return None
        auction.watch_reminded_at = now
        auction.save(update_fields=["watch_reminded_at"])
        return notifications.event_record(
            Event.Kind.AUCTION_ENDING_SOON,
            auction=auction,
            payload={
                "last_watch_id": last_watch_id,
                "current_price": f"{auction.current_price:.2f}",
                "min_next_bid": f"{auction.min_next_bid:.2f}",
                "closes_at": auction.closes_at.isoformat(),
            },
        )


def auction_watch_remind_due(*, limit: int = 1000) -> int:
    """Remind the watchers of every auction ending within `WATCH_REMINDER_SECONDS`, once.

    Each auction in its own short transaction (`auction_watch_remind`), skipping rows other
    transactions hold, so any number of workers and schedulers can run it. Returns how many
    auctions this call reminded.
    """
    lead = timedelta(seconds=settings.WATCH_REMINDER_SECONDS)
    due_ids = selectors.auction_watch_reminder_due_ids(now=clock.now(), lead=lead, limit=limit)
    return sum(auction_watch_remind(auction_id, lead=lead) is not None for auction_id in due_ids)
