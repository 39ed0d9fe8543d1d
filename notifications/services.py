"""Writes to the outbox: record an event, expand it, deliver, recover. See models.py for the
whole design; in short, the intent is written with the change, and delivery is retried
until it succeeds."""

import contextlib
import functools
import logging
import re
import secrets
import select
import smtplib
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as SmtpEmailBackend
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q

from auctions.models import Auction, Bid
from common import clock
from common.prepared import (
    PreparedQuery,
    fetch_together,
    model_insert,
    models_insert,
    pk_updates,
)
from notifications import dispatch, emails, selectors, tasks
from notifications.models import Event, Notification

logger = logging.getLogger(__name__)

Status = Notification.Status
User = get_user_model()


def event_record(
    kind: Event.Kind,
    *,
    auction: Auction,
    bid: Bid | None = None,
    payload: dict | None = None,
    batched: bool = False,
) -> Event:
    """Write the intent to notify, in the caller's transaction; fan out after commit.

    Must be called inside the transaction that makes the change the event describes, so
    that both commit or neither does. Locks nothing. After commit, the fan-out task is
    enqueued; if the broker is down then, the error is logged and the sweep re-dispatches
    the event later (`notifications_recover`). With `batched`, the event is handed to the
    process's collector instead, which publishes the events of a short window together
    (`notifications.dispatch`): for frequent, small events (a new bid).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_record() must be called inside the change's transaction")
    now = clock.now()
    event = model_insert(  # the ORM's create() without compiling the INSERT each time
        Event(
            kind=kind,
            auction=auction,
            bid=bid,
            payload=payload or {},
            created_at=now,
            touched_at=now,
        )
    )
    event_id = event.pk

    def fanout_dispatch() -> None:
        if batched:
            dispatch.collector.add(event_id)
        else:
            tasks.event_fanout_task.delay(event_id)

    # robust: a failure to publish is logged, never turned into an error for the request
    # whose change already committed. (A named function, not a partial: Django's log line
    # for a failed robust callback reads its __qualname__.)
    transaction.on_commit(fanout_dispatch, robust=True)
    return event


def events_record(kind: Event.Kind, changes: Sequence[tuple[Auction, dict]]) -> list[Event]:
    """Write one event per (auction, payload), all of one kind, in the caller's transaction;
    fan them out together after commit.

    For a burst of changes made in one transaction (the auctions `auctions_close` closes
    together): one INSERT instead of one per event, and one fan-out task for them all, which
    expands every event and delivers all their messages over one SMTP connection
    (`events_fanout_task`), instead of one task and one connection per event. Same contract
    as `event_record` otherwise: locks nothing; a failure to publish is logged and the sweep
    re-dispatches the events later.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("events_record() must be called inside the change's transaction")
    now = clock.now()
    events = Event.objects.bulk_create(
        Event(kind=kind, auction=auction, payload=payload, created_at=now, touched_at=now)
        for auction, payload in changes
    )
    event_ids = [event.pk for event in events]

    def fanout_dispatch_together() -> None:
        tasks.events_fanout_task.delay(event_ids)

    if event_ids:
        transaction.on_commit(fanout_dispatch_together, robust=True)
    return events


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
    notification_ids, unfinished = events_expand([event_id], batch_size=batch_size)
    return notification_ids, bool(unfinished)


def events_expand(
    event_ids: Sequence[int], *, batch_size: int | None = None
) -> tuple[list[int], list[int]]:
    """`event_expand` for several events at once: the next batch of each.

    Transaction: one; locks the events' rows in id order, skipping those another worker
    holds. One INSERT for the rows of all the events. Idempotent. Returns the ids of the
    new batches' pending notifications and the ids of the events whose recipients may not
    all have their row yet (each needs another `event_expand`).
    """
    batch = _events_expand(event_ids, batch_size=batch_size, claim=0)
    return batch.pending_ids, batch.unfinished


@dataclass
class Batch:
    """What one expansion wrote, for the worker that delivers it."""

    # Written already claimed by this worker (`sending`, with a lease), each with its event
    # and recipient in hand: sent without a claim transaction or a read.
    claimed: list[Notification]
    # The rest of the batch, pending: claimed as they are sent (`notification_deliver`).
    pending_ids: list[int]
    # Events whose recipients may not all have their row yet.
    unfinished: list[int]
    # The fencing token the claimed rows carry (`Notification.claim`): the delivery run
    # that sends them claims the rest with it too.
    claim: int = 0


def events_expand_claimed(event_ids: Sequence[int], *, batch_size: int | None = None) -> Batch:
    """`events_expand` for a worker that delivers the batch itself, right after.

    The first `CLAIM_CHUNK` rows are inserted already claimed by it, so that a small event
    (a new bid, an auction's end) costs one transaction before its messages go out instead
    of three (expand, read back, claim) and a read of the events. Deliver the result with
    `batch_deliver`. A worker that dies before sending leaves claimed rows, which the sweep
    re-dispatches when their lease expires, as for any claim.
    """
    return _events_expand(event_ids, batch_size=batch_size, claim=CLAIM_CHUNK)


def _events_expand(event_ids: Sequence[int], *, batch_size: int | None, claim: int) -> Batch:
    try:
        return _events_expand_once(event_ids, batch_size=batch_size, claim=claim, replay=False)
    except IntegrityError:
        # A row the cursor says cannot exist yet is there (a row written by hand, say): the
        # INSERT failed as a whole and rolled back. Once more, keeping the rows already there.
        logger.warning("Outbox rows past the cursor of events %s: expanding as a replay", event_ids)
        return _events_expand_once(event_ids, batch_size=batch_size, claim=0, replay=True)


def _events_expand_once(
    event_ids: Sequence[int], *, batch_size: int | None, claim: int, replay: bool
) -> Batch:
    """The expansion: lock the events, read the next batch of recipients of each, insert
    their rows (the first `claim` claimed for this worker), move the cursors.

    Rows past an event's cursor cannot exist (the cursor moves in the transaction that
    writes them, under the event's lock), so the INSERT returns every row's id. With
    `replay`, rows already there are kept instead (ON CONFLICT DO NOTHING) and the batch's
    pending ids are read back.
    """
    batch_size = batch_size or settings.NOTIFICATION_BATCH_SIZE
    unfinished: list[int] = []
    with transaction.atomic():
        events = _events_lock(event_ids)
        if not events:
            return Batch([], [], [])
        now = clock.now()
        lease = now + timedelta(seconds=settings.NOTIFICATION_CLAIM_SECONDS)
        token = _claim_token() if claim else None
        batches = selectors.events_recipient_batches(events, limit=batch_size)
        rows: list[Notification] = []
        for event in events:
            recipients = batches[event.pk]
            for recipient in recipients:
                kind = emails.notification_kind(event, recipient.id)
                claimed = len(rows) < claim
                rows.append(
                    Notification(
                        event=event,
                        recipient=User(
                            id=recipient.id, username=recipient.username, email=recipient.email
                        ),
                        kind=kind,
                        subject=emails.subject(kind, event),
                        status=Status.SENDING if claimed else Status.PENDING,
                        created_at=now,
                        next_attempt_at=lease if claimed else now,
                        claim=token if claimed else None,
                    )
                )
            if recipients:
                event.cursor = recipients[-1].id
            if len(recipients) == batch_size:
                unfinished.append(event.pk)
        if replay:
            Notification.objects.bulk_create(rows, ignore_conflicts=True)
        else:
            models_insert(rows)  # one INSERT, not compiled by the ORM (common/prepared.py)
        _events_progress(events, batches, unfinished, now)
    if replay or any(row.pk is None for row in rows):
        return Batch([], _events_pending_ids(batches), unfinished)
    claimed_rows = rows[:claim]
    pending_ids = [row.pk for row in rows[claim:]]
    return Batch(claimed_rows, pending_ids, unfinished, claim=token or 0)


# An event's fan-out starts with this query: compiled once per process (common/prepared.py).
# The auction's owner is read only if a message needs it (the winner's names the seller).
_EVENT_LOCK = PreparedQuery(
    lambda event_id: (
        Event.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("auction", "bid")
        .filter(pk=event_id, expanded_at__isnull=True)
    ),
    placeholder=-1,  # ids are positive
)


# Up to this many events (a batch of new bids) are locked and advanced with the statements of
# a single event, sent together in one round trip; more (a burst of closes) by one query each.
_TOGETHER_MAX = 20


def _events_lock(event_ids: Sequence[int]) -> list[Event]:
    """The events among `event_ids` still to expand, locked, in id order, with their
    auction (and owner) and bid; those another worker holds are skipped."""
    if len(event_ids) == 1:
        event = _EVENT_LOCK.fetch_one(event_ids[0])
        return [event] if event is not None else []
    if len(event_ids) <= _TOGETHER_MAX:
        # In id order: the statements run one after another, so the locks are taken in it.
        reads = [(_EVENT_LOCK, event_id) for event_id in sorted(set(event_ids))]
        events = [event for event in fetch_together(reads) if event is not None]
        closed = [event for event in events if event.kind == Event.Kind.AUCTION_CLOSED]
        if closed:  # their messages name the seller
            owners = User.objects.in_bulk({event.auction.owner_id for event in closed})
            for event in closed:
                event.auction.owner = owners[event.auction.owner_id]
        return events
    return list(
        Event.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("auction", "auction__owner", "bid")
        .filter(pk__in=event_ids, expanded_at__isnull=True)
        .order_by("id")
    )


def _events_progress(
    events: list[Event], batches: dict, unfinished: list[int], now: datetime
) -> None:
    """Record how far each event's expansion got (its cursor), and which are done."""
    if len(events) <= _TOGETHER_MAX:
        changes = []
        for event in events:
            done = {} if event.pk in unfinished else {"expanded_at": now}
            changes.append(([event.pk], {"cursor": event.cursor, "touched_at": now, **done}))
        pk_updates(Event, changes)
        return
    # Three plain statements rather than one `bulk_update` of three fields: the CASE
    # expressions of a burst of events cost more to compile than the rest of the work.
    Event.objects.bulk_update([event for event in events if batches[event.pk]], ["cursor"])
    finished = [event.pk for event in events if event.pk not in unfinished]
    Event.objects.filter(pk__in=finished).update(expanded_at=now, touched_at=now)
    if unfinished:
        Event.objects.filter(pk__in=unfinished).update(touched_at=now)


def _events_pending_ids(batches: dict) -> list[int]:
    """The pending rows of the batches, read back: after an INSERT that kept the rows
    already there (a replay), some may have been sent meanwhile."""
    wanted = {(event_id, user.id) for event_id, users in batches.items() for user in users}
    pending = Notification.objects.filter(
        event_id__in=batches,
        recipient_id__in={user_id for _, user_id in wanted},
        status=Status.PENDING,
    ).values_list("id", "event_id", "recipient_id")
    return sorted(pk for pk, event_id, user_id in pending if (event_id, user_id) in wanted)


_CLAIMED_FIELDS = (
    "id", "event_id", "kind", "subject", "attempts", "created_at",
    "recipient__id", "recipient__username", "recipient__email",
)  # fmt: skip


def _claim_token() -> int:
    """A new fencing token for one delivery run (`Notification.claim`)."""
    return secrets.randbits(62) + 1


def _notifications_claim(notification_ids: Sequence[int], *, token: int) -> list[Notification]:
    """Claim the due ones among `notification_ids` for this worker, with a lease and the
    run's fencing token.

    Transaction: one; locks the rows, skipping those another worker holds. A claim is
    exclusive: whoever claimed a notification is the only one sending it until the lease
    runs out, and only the holder of its token may record its outcome.
    """
    now = clock.now()
    lease = now + timedelta(seconds=settings.NOTIFICATION_CLAIM_SECONDS)
    with transaction.atomic():
        claimed = list(
            Notification.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(pk__in=notification_ids, next_attempt_at__lte=now)
            .filter(Q(status=Status.PENDING) | Q(status=Status.SENDING))
            .select_related("recipient")
            # What a message needs of the row and its recipient, nothing more: a fan-out
            # claims thousands. The event comes from `_events_attach`, once per run.
            .only(*_CLAIMED_FIELDS)
            .order_by("id")
        )
        Notification.objects.filter(pk__in=[n.pk for n in claimed]).update(
            status=Status.SENDING, next_attempt_at=lease, claim=token
        )
    for notification in claimed:
        notification.next_attempt_at = lease
    return claimed


def _notifications_lease_renew(
    notification_ids: Sequence[int], *, token: int
) -> tuple[set[int], datetime]:
    """Extend the lease of those of `notification_ids` this run still holds; returns their
    ids and the new end of the lease. A row whose lease ran out and that another run has
    claimed since is not among them: its new holder sends it."""
    lease = clock.now() + timedelta(seconds=settings.NOTIFICATION_CLAIM_SECONDS)
    held = _held(notification_ids, token)
    with transaction.atomic():
        held.update(next_attempt_at=lease)
        return set(held.values_list("pk", flat=True)), lease


def _held(notification_ids: Sequence[int], token: int):
    """The rows among `notification_ids` still claimed by the run with `token`: the only
    ones whose outcome that run may record."""
    return Notification.objects.filter(pk__in=notification_ids, status=Status.SENDING, claim=token)


def _events_attach(notifications: list[Notification], events: dict[int, Event]) -> None:
    """Give each notification its event (with the auction, its owner and the bid), read
    once per delivery run into `events` rather than joined to every claimed row."""
    missing = {notification.event_id for notification in notifications} - events.keys()
    if missing:
        events.update(Event.objects.select_related("auction__owner", "bid").in_bulk(missing))
    for notification in notifications:
        notification.event = events[notification.event_id]


def _error_text(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


def _notification_retry_later(notification: Notification, error: Exception, *, token: int) -> None:
    """The server refused this message for now (a 4xx answer to it): back to pending with an
    exponential backoff, counting an attempt; `failed` after NOTIFICATION_MAX_ATTEMPTS."""
    attempts = notification.attempts + 1
    delay = min(
        settings.NOTIFICATION_RETRY_BASE_SECONDS * 2 ** (attempts - 1),
        settings.NOTIFICATION_RETRY_MAX_SECONDS,
    )
    gave_up = attempts >= settings.NOTIFICATION_MAX_ATTEMPTS
    _held([notification.pk], token).update(
        status=Status.FAILED if gave_up else Status.PENDING,
        attempts=attempts,
        last_error=_error_text(error),
        next_attempt_at=clock.now() + timedelta(seconds=delay),
    )


def _notification_fail(notification: Notification, error: Exception, *, token: int) -> None:
    """This message can never be sent as it is (it cannot be built, or the server refused
    it for good): `failed` at once, with the reason, for an operator to look at and send
    again (`notifications_resend`)."""
    logger.warning("Notification %s failed: %s", notification.pk, _error_text(error))
    _held([notification.pk], token).update(
        status=Status.FAILED, attempts=F("attempts") + 1, last_error=_error_text(error)
    )


def _notifications_defer(
    notifications: Sequence[Notification], error: Exception, *, token: int
) -> None:
    """The mail server could not be reached or dropped the session: nothing is wrong with
    these messages. Back to pending without counting an attempt, so that an outage however
    long delays mail and never fails it; the wait grows with the age of the newest message
    (half of it), between NOTIFICATION_RETRY_BASE_SECONDS and NOTIFICATION_RETRY_MAX_SECONDS.
    """
    if not notifications:
        return
    now = clock.now()
    newest = max(notification.created_at for notification in notifications)
    delay = min(
        max(settings.NOTIFICATION_RETRY_BASE_SECONDS, (now - newest).total_seconds() / 2),
        settings.NOTIFICATION_RETRY_MAX_SECONDS,
    )
    _held([notification.pk for notification in notifications], token).update(
        status=Status.PENDING,
        last_error=_error_text(error),
        next_attempt_at=now + timedelta(seconds=delay),
    )


def _notifications_mark_sent_async_commit(notification_ids: list[int], *, token: int) -> None:
    """Record that the mail server accepted these messages, without waiting for the commit
    to reach the disk (PostgreSQL's `synchronous_commit = off`, this transaction only).
    Only rows this run still holds are marked: a row taken over after its lease ran out is
    its new holder's to record.

    Safe because the only cost of losing this write in a database crash is one more copy of
    the messages (same Message-IDs) — the at-least-once the outbox promises anyway — and it
    spares the fan-out an fsync. Bids and every other write stay durable.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        _held(notification_ids, token).update(
            status=Status.SENT, sent_at=clock.now(), attempts=F("attempts") + 1
        )


# Notifications are claimed this many at a time, so that a claim's lease
# (NOTIFICATION_CLAIM_SECONDS) covers a few seconds of sending, however long the batch.
CLAIM_CHUNK = 50
# Sent messages are recorded this many at a time: one write instead of ten. A worker that
# dies in between sends at most these again (same Message-IDs) after its claim expires.
MARK_EVERY = 10


def _message_send(backend: BaseEmailBackend, notification: Notification, *, rendered: dict) -> None:
    """Send one notification's message through an open backend. Raises what smtplib raises.

    With Django's own SMTP backend, the message is serialised by hand
    (`emails.message_bytes`) and handed to its smtplib connection, which is what that
    backend does with the output of the much slower `email` generator. Any other backend
    (files in development, memory in tests, a subclass that signs messages) gets Django's
    message object, as does an address only Django's encoder can write.
    """
    if type(backend) is SmtpEmailBackend:
        outgoing = emails.message_bytes(notification, rendered=rendered)
        if outgoing is not None:
            _smtp_sendmail(
                backend.connection, outgoing.envelope_from, outgoing.recipient, outgoing.data
            )
            return
    backend.send_messages([emails.message(notification, connection=backend, rendered=rendered)])


_DOT_AT_LINE_START = re.compile(rb"(?m)^\.")

# A bare address whose local part and domain are dot-atoms (RFC 5322), as nearly every
# address is: `smtplib.quoteaddr` would only put it between angle brackets, after parsing
# it with the full address grammar of `email.utils` (7.5 µs an address). Anything else
# still goes through `quoteaddr`, remembered: the sender (`DEFAULT_FROM_EMAIL`, with its
# display name) is the same on every message.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


def _smtp_quoteaddr(address: str) -> str:
    """`smtplib.quoteaddr(address)`: the address as MAIL FROM and RCPT TO take it."""
    if _DOT_ATOM_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return _smtp_quoteaddr_parsed(address)


@functools.lru_cache(maxsize=256)
def _smtp_quoteaddr_parsed(address: str) -> str:
    return smtplib.quoteaddr(address)


def _smtp_sendmail(smtp: smtplib.SMTP, sender: str, recipient: str, data: bytes) -> None:
    """`smtp.sendmail(sender, [recipient], data)`, in two round trips instead of four when
    the server offers PIPELINING (RFC 2920), as most mail servers do: MAIL, RCPT and DATA
    go together, then the content once the server has said 354.

    `data` is a whole message with CRLF line endings. Raises what `sendmail` raises, and
    leaves the session ready for the next message, as `sendmail` does.
    """
    smtp.ehlo_or_helo_if_needed()
    if not (smtp.has_extn("pipelining") and sender.isascii() and recipient.isascii()):
        smtp.sendmail(sender, [recipient], data)
        return
    size = f" SIZE={len(data)}" if smtp.has_extn("size") else ""
    smtp.send(
        f"MAIL FROM:{_smtp_quoteaddr(sender)}{size}\r\n"
        f"RCPT TO:{_smtp_quoteaddr(recipient)}\r\n"
        "DATA\r\n"
    )
    mail, rcpt, ready = smtp.getreply(), smtp.getreply(), smtp.getreply()
    if ready[0] == 354:  # accepted (despite a refusal above?): content is due all the same
        if mail[0] == 250 and rcpt[0] in (250, 251):
            content = _DOT_AT_LINE_START.sub(b"..", data)
            if not content.endswith(b"\r\n"):
                content += b"\r\n"
            smtp.send(content + b".\r\n")
            code, message = smtp.getreply()
            if code != 250:
                _smtp_reset(smtp)
                raise smtplib.SMTPDataError(code, message)
            return
        smtp.send(b".\r\n")  # an empty message, so the transaction can be reset
        smtp.getreply()
    _smtp_reset(smtp)
    if mail[0] != 250:
        raise smtplib.SMTPSenderRefused(mail[0], mail[1], sender)
    if rcpt[0] not in (250, 251):
        raise smtplib.SMTPRecipientsRefused({recipient: rcpt})
    raise smtplib.SMTPDataError(*ready)


def _smtp_reset(smtp: smtplib.SMTP) -> None:
    """RSET after a refusal, as `sendmail` does; a server that hung up is found out by the
    next message."""
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        smtp.rset()


def notification_deliver(notification_ids: Sequence[int]) -> int:
    """Send the given notifications that are due, one message per recipient, over one SMTP
    connection. Returns how many were sent.

    Claims the rows `CLAIM_CHUNK` at a time (`_notifications_claim`), then sends outside any
    transaction (no lock is held while talking to the mail server), renewing the claim's
    lease as the sending goes (a slow relay) and skipping a row another run took over.
    Each message is marked sent as soon as the server accepts it. A message that cannot be
    built or that the server refuses for good is marked failed with its reason; one it
    refuses for now is retried later; when the connection fails, every claimed unsent one
    waits for the server to be back (no attempt counted), and the unclaimed rest stays
    pending for the sweep. Every outcome is recorded only while the run still holds the
    row's claim. Idempotent: a notification already sent or claimed elsewhere is skipped.
    """
    return _deliver([], list(notification_ids), token=_claim_token())


def batch_deliver(batch: Batch) -> int:
    """`notification_deliver` of an expansion's batch (`events_expand_claimed`): its claimed
    rows are sent as they are, the pending rest is claimed as it goes."""
    return _deliver(batch.claimed, batch.pending_ids, token=batch.claim or _claim_token())


def _claimed_chunks(
    claimed: list[Notification], ids: list[int], events: dict[int, Event], token: int
) -> Iterator[list[Notification]]:
    """`claimed` (rows claimed already, with their event), then the due ones among `ids`,
    claimed `CLAIM_CHUNK` at a time as the sending reaches them."""
    if claimed:
        yield claimed
    for start in range(0, len(ids), CLAIM_CHUNK):
        chunk = _notifications_claim(ids[start : start + CLAIM_CHUNK], token=token)
        if chunk:
            _events_attach(chunk, events)
            yield chunk


# What a failure to send one message says about it (`_failure_scope`).
MESSAGE_REFUSED = "message_refused"  # this message, for good: failed at once
MESSAGE_DEFERRED = "message_deferred"  # this message, for now (4xx): retried, attempts count
SERVER_UNAVAILABLE = "server_unavailable"  # the server or the session: wait, count nothing


def _failure_scope(error: Exception) -> str:
    """Whom a failure concerns. A reply code to this message's own MAIL, RCPT or DATA says
    it of the message (5xx for good, 4xx for now), except 421, the server closing the
    session. Any other SMTP or socket error (refused, timeout, disconnect, a failed login,
    an unexpected reply) is the server's. Anything else was raised while building the
    message (a header that cannot be written, a template error): that message, for good."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [reply[0] for reply in error.recipients.values()]
        return _reply_scope(max(codes) if codes else -1)
    if isinstance(error, (smtplib.SMTPSenderRefused, smtplib.SMTPDataError)):
        return _reply_scope(error.smtp_code)
    if isinstance(error, (smtplib.SMTPException, OSError)):
        return SERVER_UNAVAILABLE
    return MESSAGE_REFUSED


def _reply_scope(code: int) -> str:
    if code == 421 or not 400 <= code < 600:
        return SERVER_UNAVAILABLE
    return MESSAGE_REFUSED if code >= 500 else MESSAGE_DEFERRED


def _deliver(claimed_first: list[Notification], ids: list[int], *, token: int) -> int:
    sent = 0
    smtp = None
    accepted: list[int] = []  # sent, not yet recorded
    rendered: dict = {}  # drafts per (event, kind), for this run
    events: dict[int, Event] = {}  # the events of this run's notifications
    failed = False  # the connection broke: do not keep it
    # Past half of its lease, a claim is renewed before the next message (a slow relay).
    renew_within = timedelta(seconds=settings.NOTIFICATION_CLAIM_SECONDS / 2)

    def record_accepted() -> None:
        if accepted:
            _notifications_mark_sent_async_commit(accepted, token=token)
            accepted.clear()

    def send(notification: Notification) -> None:
        nonlocal smtp
        try:
            _message_send(smtp, notification, rendered=rendered)
        except (smtplib.SMTPServerDisconnected, ConnectionError):
            if sent or not getattr(smtp, "kept", False):
                raise
            # The kept session had ended unnoticed: once more, on a new one.
            _smtp_checkin(smtp, healthy=False)
            smtp = None
            smtp = _smtp_checkout()
            _message_send(smtp, notification, rendered=rendered)

    try:
        for claimed in _claimed_chunks(claimed_first, ids, events, token):
            lease_until = min(notification.next_attempt_at for notification in claimed)
            held: set[int] | None = None  # None: all of the chunk
            if smtp is None:
                try:
                    smtp = _smtp_checkout()
                except (smtplib.SMTPException, OSError) as exc:  # could not even connect
                    _notifications_defer(claimed, exc, token=token)
                    logger.warning("SMTP unavailable; messages will be retried: %s", exc)
                    return sent
            for index, notification in enumerate(claimed):
                if clock.now() >= lease_until - renew_within:
                    record_accepted()
                    rest = [unsent.pk for unsent in claimed[index:]]
                    held, lease_until = _notifications_lease_renew(rest, token=token)
                if held is not None and notification.pk not in held:
                    continue  # its lease ran out and another run took it over
                try:
                    send(notification)
                except DatabaseError:
                    raise
                except Exception as exc:
                    scope = _failure_scope(exc)
                    if scope == MESSAGE_REFUSED:
                        _notification_fail(notification, exc, token=token)
                        continue
                    if scope == MESSAGE_DEFERRED:
                        _notification_retry_later(notification, exc, token=token)
                        continue
                    # The server is gone: none of the rest can be sent now.
                    record_accepted()
                    unsent = claimed[index:]
                    if held is not None:
                        unsent = [n for n in unsent if n.pk in held]
                    _notifications_defer(unsent, exc, token=token)
                    logger.warning("SMTP failed after %d messages: %s", sent, exc)
                    failed = True
                    return sent
                accepted.append(notification.pk)
                sent += 1
                if len(accepted) >= MARK_EVERY:
                    record_accepted()
    finally:
        record_accepted()
        if smtp is not None:
            _smtp_checkin(smtp, healthy=not failed)
    return sent


# --- SMTP connections kept between delivery runs --------------------------------------------
#
# A delivery run sends the messages of one or a few events; on a busy auction that is a run
# every few milliseconds, each with a handful of messages. Opening a connection for each
# (TCP, greeting, EHLO, then QUIT) cost the mailer and the mail server about as much as the
# messages themselves. Each worker thread therefore keeps the connection its last run used,
# for at most SMTP_KEEP_SECONDS of idleness, and checks it before reuse without a round trip:
# a server that ended the session (idle timeout, restart) has written its goodbye or closed
# the socket, so there is something to read; a healthy idle session has nothing to say.

SMTP_KEEP_SECONDS = 30.0
_smtp_kept = threading.local()


def _smtp_key() -> tuple:
    """What a kept connection must still match: the configured backend and server."""
    return (
        settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_PORT,
        settings.EMAIL_HOST_USER, settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL,
    )  # fmt: skip


def _smtp_quiet(backend: BaseEmailBackend) -> bool:
    """An open SMTP session the server has said nothing on since our last command."""
    sock = getattr(getattr(backend, "connection", None), "sock", None)
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _smtp_checkout() -> BaseEmailBackend:
    """An open mail backend for this run: the one this thread kept, if it is recent, for
    the same server, and quiet; otherwise a new one (which may raise what connecting raises).
    Backends other than Django's SMTP one are opened anew every run, as before."""
    kept = getattr(_smtp_kept, "entry", None)
    _smtp_kept.entry = None
    if kept is not None:
        backend, key, idle_since = kept
        fresh = time.monotonic() - idle_since < SMTP_KEEP_SECONDS
        if fresh and key == _smtp_key() and _smtp_quiet(backend):
            backend.kept = True
            return backend
        with contextlib.suppress(smtplib.SMTPException, OSError):
            backend.close()
    backend = get_connection()
    backend.open()
    backend.kept = False  # a new session: a failure on it is the server's, not staleness
    return backend


def _smtp_checkin(backend: BaseEmailBackend, *, healthy: bool) -> None:
    """Keep a healthy SMTP session for this thread's next run; close anything else."""
    if healthy and type(backend) is SmtpEmailBackend and _smtp_quiet(backend):
        _smtp_kept.entry = (backend, _smtp_key(), time.monotonic())
        return
    with contextlib.suppress(smtplib.SMTPException, OSError):
        backend.close()


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


def notifications_resend(
    notification_ids: Sequence[int] | None = None, *, since: datetime | None = None
) -> int:
    """Send `failed` notifications again: an operator's decision, after fixing what made
    them fail (a mail server that refused the sender, an address since corrected).

    Only `failed` rows are touched, those among `notification_ids` when given and created at
    or after `since` when given (both None: every failed row). Each goes back to `pending`,
    due now, with its attempts reset and its last error kept until the next outcome.
    Transactions: one per `NOTIFICATION_BATCH_SIZE` rows, walking the primary key (a resend
    of every failed row never holds many locks, nor sends an IN list longer than SQLite
    takes); each batch's delivery is enqueued after its commit (if the broker is down, the
    sweep sends them). Idempotent: a row already resent is no longer `failed`. Returns how
    many were resent.
    """
    rows = Notification.objects.filter(status=Status.FAILED)
    if notification_ids is not None:
        rows = rows.filter(pk__in=list(notification_ids))
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    batch_size = settings.NOTIFICATION_BATCH_SIZE
    resent, last = 0, 0
    while True:
        with transaction.atomic():
            batch = rows.filter(pk__gt=last).order_by("pk").select_for_update(skip_locked=True)
            ids = list(batch.values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            resent += Notification.objects.filter(pk__in=ids, status=Status.FAILED).update(
                status=Status.PENDING, attempts=0, claim=None, next_attempt_at=clock.now()
            )

            def deliver_dispatch(ids: list[int] = ids) -> None:
                tasks.notification_deliver_task.delay(ids)

            transaction.on_commit(deliver_dispatch, robust=True)
        last = ids[-1]
    logger.info("Resent %d failed notifications", resent)
    return resent


# --- Retention ------------------------------------------------------------------------------
#
# Old rows are deleted RETENTION_BATCH_SIZE at a time, each batch in its own short
# transaction, walking the primary key (ids grow with time): a purge never holds many
# locks for long, and a big backlog is worked off over a few runs (at most
# `_PURGE_BATCHES_PER_RUN` batches each).

_PURGE_BATCHES_PER_RUN = 100


def _purge(rows, *, before: datetime) -> int:
    """Delete `rows` (a queryset of one model, ordered by nothing) created before `before`,
    in batches; returns how many were deleted."""
    model = rows.model
    newer = model.objects.filter(created_at__gte=before).order_by("pk").values_list("pk")[:1]
    bound = next(iter(newer), None)
    if bound is not None:
        rows = rows.filter(pk__lt=bound[0])
    batch_size = settings.RETENTION_BATCH_SIZE
    deleted, last = 0, 0
    for _ in range(_PURGE_BATCHES_PER_RUN):
        batch = rows.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)
        ids = list(batch[:batch_size])
        if not ids:
            break
        with transaction.atomic():  # the conditions checked again as the rows go
            deleted += rows.filter(pk__in=ids).delete()[1].get(model._meta.label, 0)
        last = ids[-1]
    return deleted


def notifications_sent_purge() -> int:
    """Delete the `sent` notifications sent more than NOTIFICATION_RETENTION_DAYS ago.

    Pending, sending and failed rows are kept whatever their age (a failed one waits for an
    operator). Transactions: one per batch of RETENTION_BATCH_SIZE; idempotent. Returns how
    many were deleted.
    """
    before = clock.now() - timedelta(days=settings.NOTIFICATION_RETENTION_DAYS)
    rows = Notification.objects.filter(status=Status.SENT, sent_at__lt=before)
    return _purge(rows, before=before)


def events_purge() -> int:
    """Delete the events older than EVENT_RETENTION_DAYS whose work is done: fully expanded,
    with no notification left (their sent ones purged by `notifications_sent_purge`).

    An event with a pending, sending or failed notification is kept. Transactions: one per
    batch of RETENTION_BATCH_SIZE; idempotent. Returns how many were deleted.
    """
    before = clock.now() - timedelta(days=settings.EVENT_RETENTION_DAYS)
    rows = Event.objects.filter(expanded_at__isnull=False).exclude(
        Exists(Notification.objects.filter(event=OuterRef("pk")))
    )
    return _purge(rows, before=before)
