"""Thin Celery wrappers around the closing service, and the arming of precise closes."""

import logging
from datetime import timedelta

from celery import shared_task

from auctions import selectors, services
from common import clock

logger = logging.getLogger(__name__)

# Auctions ending within this horizon get a close task timed to their end (eta), so they
# close within milliseconds rather than at the next tick of the every-second sweep.
ARM_HORIZON = timedelta(seconds=1.5)


@shared_task(acks_late=True, ignore_result=True)
def auction_close_task(auction_id: int) -> None:
    services.auction_close(auction_id)


@shared_task(ignore_result=True)
def auctions_close_due_task() -> None:
    """Close every auction whose end has passed, then arm the ones about to end.

    Safe with any number of workers and schedulers: closing skips rows another worker
    holds, and an early or duplicate close is a no-op.
    """
    services.auction_close_due()
    now = clock.now()
    for auction_id, closes_at in selectors.auction_closing_soon(now=now, within=ARM_HORIZON):
        auction_close_task.apply_async((auction_id,), eta=closes_at)
