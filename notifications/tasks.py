"""Thin Celery wrappers: take ids, call one service. Retries and scheduling live here;
what to do lives in notifications.services."""

import logging

from celery import shared_task

from notifications import services

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def event_fanout_task(event_id: int) -> None:
    """Expand one batch of the event's recipients, chain the next batch, deliver this one."""
    batch = services.events_expand_claimed([event_id])
    if batch.unfinished:
        # The next batch goes to the queue first, so another worker expands it while this
        # one talks to the mail server. If the broker refuses, the sweep carries on later.
        try:
            event_fanout_task.delay(event_id)
        except Exception:
            logger.exception("Could not enqueue the next fan-out batch of event %s", event_id)
    services.batch_deliver(batch)


@shared_task(acks_late=True, ignore_result=True)
def events_fanout_task(event_ids: list[int]) -> None:
    """Expand the first batch of each event and deliver them all over one SMTP connection;
    an event with more recipients than one batch carries on in its own `event_fanout_task`.
    """
    batch = services.events_expand_claimed(event_ids)
    for event_id in batch.unfinished:
        try:
            event_fanout_task.delay(event_id)
        except Exception:
            logger.exception("Could not enqueue the next fan-out batch of event %s", event_id)
    services.batch_deliver(batch)


@shared_task(acks_late=True, ignore_result=True)
def notification_deliver_task(notification_ids: list[int]) -> None:
    services.notification_deliver(notification_ids)


@shared_task(ignore_result=True)
def notifications_recover_task() -> None:
    services.notifications_recover()


@shared_task(ignore_result=True)
def notifications_sent_purge_task() -> None:
    services.notifications_sent_purge()


@shared_task(ignore_result=True)
def events_purge_task() -> None:
    services.events_purge()
