"""Thin Celery wrappers around the closing and reminder services, and the arming of precise
closes."""

import logging
import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from celery import shared_task

from auctions import selectors, services
from common import clock

logger = logging.getLogger(__name__)

# Auctions ending within this horizon get a close task timed to their end (eta), so they
# close within milliseconds rather than at the next tick of the every-second sweep. Ends
# are grouped in buckets of ARM_BUCKET_SECONDS (an auction closes at most that late), and
# a bucket is split into tasks of ARM_CHUNK auctions so that several worker threads share
# a burst of simultaneous ends.
ARM_HORIZON = timedelta(seconds=1.5)
ARM_BUCKET_SECONDS = 0.1
ARM_CHUNK = 20


@shared_task(acks_late=True, ignore_result=True)
def auction_close_task(auction_ids: list[int]) -> None:
    """Close auctions at their end. Waits for a bid still holding one of them (refused: it
    came at the end) rather than leaving that auction to the sweep's next tick."""
    services.auctions_close(auction_ids, wait=True)


def _close_tasks_arm(soon: list[tuple[int, datetime]]) -> None:
    buckets: dict[float, list[int]] = defaultdict(list)
    for auction_id, closes_at in soon:
        bucket_end = math.ceil(closes_at.timestamp() / ARM_BUCKET_SECONDS) * ARM_BUCKET_SECONDS
        buckets[bucket_end].append(auction_id)
    for bucket_end, auction_ids in buckets.items():
        eta = datetime.fromtimestamp(bucket_end, tz=UTC)
        for start in range(0, len(auction_ids), ARM_CHUNK):
            auction_close_task.apply_async((auction_ids[start : start + ARM_CHUNK],), eta=eta)


@shared_task(ignore_result=True)
def auctions_close_due_task() -> None:
    """Close every auction whose end has passed, then arm the ones about to end.

    Safe with any number of workers and schedulers: closing skips rows another worker
    holds, and an early or duplicate close is a no-op.
    """
    services.auction_close_due()
    _close_tasks_arm(selectors.auction_closing_soon(now=clock.now(), within=ARM_HORIZON))


@shared_task(ignore_result=True)
def auctions_watch_remind_task() -> None:
    """Send the "ending soon" reminder of every watched auction that is due, once each.

    Safe with any number of workers and schedulers: each auction is claimed under its lock.
    """
    services.auction_watch_remind_due()
