"""Writes to the outbox: record an event, expand it, deliver, recover. See models.py for the
whole design; in short, the intent is written with the change, and delivery is retried
until it succeeds."""

import contextlib
import logging
import smtplib
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import get_connection
from django.db import connection, transaction
from django.db.models import F, Q

from auctions.models import Auction, Bid
from common import clock
from notifications import emails, selectors, tasks
from notifications.models import Event, Notification

logger = logging.getLogger(__name__)

Status = Notification.Status


def event_record(
    kind: Event.Kind, *, auction: Auction, bid: Bid | None = None, payload: dict | None = None
) -> Event:
    """Write the intent to notify, in the caller's transaction; fan out after commit.

    Must be called inside the transaction that makes the change the event describes, so
    that both commit or neither does. Locks nothing. After commit, the fan-out task is
    enqueued; if the broker is down then, the error is logged and the sweep re-dispatches
    the event later (`notifications_recover`).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_record() must be called inside the change's transaction")
    now = clock.now()
    event = Event.objects.create(
        kind=kind, auction=auction, bid=bid, payload=payload or {}, created_at=now, touched_at=now
    )
    event_id = event.pk

    def fanout_dispatch() -> None:
        tasks.event_fanout_task.delay(event_id)

    # robust: a failure to publish is logged, never turned into an error for the request
    # whose change already committed. (A named function, not a partial: Django's log line
    # for a failed robust callback reads its __qualname__.)
    transaction.on_commit(fanout_dispatch, robust=True)
    return event


def auction_created_record(auction: Auction) -> Event:
    """Every active user registered now, but the owner, is to hear of the new auction."""
    last_user_id = get_user_model().objects.order_by("-id").values_list("id", flat=True).first()
    return event_record(
        Event.Kind.AUCTION_CREATED, auction=auction, payload={"last_user_id": last_user_id or 0}
    )


def event_expand(event_id: int, *, batch_size: int | None = None) -> tuple[list[int], bool]:
    """Create the Notification rows of the event's next batch of recipients.

    Transaction: one; locks the event row, skipping it if another worker holds it (that
    worker is expanding it; nothing is lost, the sweep re-dispatches if it stalls).
    Idempotent: rows already there are left alone. Returns the ids of the batch's
    notifications and whether recipients may remain.
    """
    batch_size = batch_size or settings.NOTIFICATION_BATCH_SIZE
    with transaction.atomic():
        event = (
            Event.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("auction", "auction__owner", "bid")
            .filter(pk=event_id, expanded_at__isnull=True)
            .first()
        )
        if event is None:
            return [], False
        now = clock.now()
        recipients = selectors.event_recipient_batch(event, limit=batch_size)
        Notification.objects.bulk_create(
            [
                Notification(
                    event=event,
                    recipient_id=user_id,
                    kind=(kind := emails.notification_kind(event, user_id)),
                    subject=emails.subject(kind, event),
                    created_at=now,
                    next_attempt_at=now,
                )
                for user_id in recipients
            ],
            ignore_conflicts=True,
        )
        more = len(recipients) == batch_size
        if recipients:
            event.cursor = recipients[-1]
        if not more:
            event.expanded_at = now
        event.touched_at = now
        event.save(update_fields=["cursor", "expanded_at", "touched_at"])
    ids = list(
        Notification.objects.filter(
            event_id=event_id,
            recipient_id__in=recipients,
            status=Status.PENDING,
        ).values_list("id", flat=True)
    )
    return ids, more


def _notifications_claim(notification_ids: Sequence[int]) -> list[Notification]:
    """Claim the due ones among `notification_ids` for this worker, with a lease.

    Transaction: one; locks the rows, skipping those another worker holds. A claim is
    exclusive: whoever claimed a notification is the only one sending it until the lease
    runs out.
    """
    now = clock.now()
    with transaction.atomic():
        claimed = list(
            Notification.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(pk__in=notification_ids, next_attempt_at__lte=now)
            .filter(Q(status=Status.PENDING) | Q(status=Status.SENDING))
            .select_related("recipient", "event__auction__owner", "event__bid")
            .order_by("id")
        )
        Notification.objects.filter(pk__in=[n.pk for n in claimed]).update(
            status=Status.SENDING,
            next_attempt_at=now + timedelta(seconds=settings.NOTIFICATION_CLAIM_SECONDS),
        )
    return claimed


def _notification_retry_later(notification: Notification, error: Exception) -> None:
    """Back to pending with an exponential backoff; `failed` after too many attempts."""
    attempts = notification.attempts + 1
    delay = min(
        settings.NOTIFICATION_RETRY_BASE_SECONDS * 2 ** (attempts - 1),
        settings.NOTIFICATION_RETRY_MAX_SECONDS,
    )
    gave_up = attempts >= settings.NOTIFICATION_MAX_ATTEMPTS
    Notification.objects.filter(pk=notification.pk).update(
        status=Status.FAILED if gave_up else Status.PENDING,
        attempts=attempts,
        last_error=f"{type(error).__name__}: {error}"[:2000],
        next_attempt_at=clock.now() + timedelta(seconds=delay),
    )


def _notifications_mark_sent_async_commit(notification_ids: list[int]) -> None:
    """Record that the mail server accepted these messages, without waiting for the commit
    to reach the disk (PostgreSQL's `synchronous_commit = off`, this transaction only).

    Safe because the only cost of losing this write in a database crash is one more copy of
    the messages (same Message-IDs) — the at-least-once the outbox promises anyway — and it
    spares the fan-out an fsync. Bids and every other write stay durable.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        Notification.objects.filter(pk__in=notification_ids).update(
            status=Status.SENT, sent_at=clock.now(), attempts=F("attempts") + 1
        )


# Notifications are claimed this many at a time, so that a claim's lease
# (NOTIFICATION_CLAIM_SECONDS) covers a few seconds of sending, however long the batch.
CLAIM_CHUNK = 50
# Sent messages are recorded this many at a time: one write instead of ten. A worker that
# dies in between sends at most these again (same Message-IDs) after its claim expires.
MARK_EVERY = 10


def notification_deliver(notification_ids: Sequence[int]) -> int:
    """Send the given notifications that are due, one message per recipient, over one SMTP
    connection. Returns how many were sent.

    Claims the rows `CLAIM_CHUNK` at a time (`_notifications_claim`), then sends outside any
    transaction (no lock is held while talking to the mail server). Each message is marked
    sent as soon as the server accepts it. When the server refuses one recipient, only that
    notification is retried later; when the connection fails, every claimed unsent one is,
    and the unclaimed rest stays pending for the sweep.
    Idempotent: a notification already sent or claimed elsewhere is skipped.
    """
    ids = list(notification_ids)
    sent = 0
    smtp = None
    accepted: list[int] = []  # sent, not yet recorded
    rendered: dict = {}  # bodies per (event, kind), for this run

    def record_accepted() -> None:
        if accepted:
            _notifications_mark_sent_async_commit(accepted)
            accepted.clear()

    try:
        for start in range(0, len(ids), CLAIM_CHUNK):
            claimed = _notifications_claim(ids[start : start + CLAIM_CHUNK])
            if not claimed:
                continue
            if smtp is None:
                smtp = get_connection()
                try:
                    smtp.open()
                except (smtplib.SMTPException, OSError) as exc:  # could not even connect
                    for unsent in claimed:
                        _notification_retry_later(unsent, exc)
                    logger.warning("SMTP unavailable; messages will be retried: %s", exc)
                    return sent
            for index, notification in enumerate(claimed):
                try:
                    smtp.send_messages(
                        [emails.message(notification, connection=smtp, rendered=rendered)]
                    )
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
                    _notification_retry_later(notification, exc)
                    continue
                except (smtplib.SMTPException, OSError) as exc:
                    # The connection is gone: none of the rest can be sent now.
                    record_accepted()
                    for unsent in claimed[index:]:
                        _notification_retry_later(unsent, exc)
                    logger.warning("SMTP failed after %d messages: %s", sent, exc)
                    return sent
                accepted.append(notification.pk)
                sent += 1
                if len(accepted) >= MARK_EVERY:
                    record_accepted()
    finally:
        record_accepted()
        if smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.close()
    return sent


def notifications_recover(*, limit: int = 20) -> dict[str, int]:
    """Re-dispatch what stalled: expansions with no progress, due retries, expired claims.

    Reads without locks and only enqueues tasks; those tasks claim before they act, so a
    re-dispatch of something still in flight is harmless. Returns what it enqueued.
    """
    now = clock.now()
    before = now - timedelta(seconds=settings.NOTIFICATION_RECOVER_AFTER_SECONDS)
    event_ids = selectors.event_stale_ids(before=before, limit=limit * 10)
    for event_id in event_ids:
        tasks.event_fanout_task.delay(event_id)
    batch_size = settings.NOTIFICATION_BATCH_SIZE
    # Rows younger than the grace period belong to the expansion that just created them.
    due_ids = selectors.notification_due_ids(before=before, limit=limit * batch_size)
    for start in range(0, len(due_ids), batch_size):
        tasks.notification_deliver_task.delay(due_ids[start : start + batch_size])
    if event_ids:
        Event.objects.filter(pk__in=event_ids).update(touched_at=now)
    return {"events": len(event_ids), "notifications": len(due_ids)}
