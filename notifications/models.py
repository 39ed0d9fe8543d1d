"""The outbox: what the product has promised to tell whom, and whether it has.

How it works
------------
1. A service that changes the world (an auction created, a bid placed, an auction closed)
   writes one `Event` row in the same transaction. If that transaction rolls back, nobody
   is told anything; if it commits, the intent to notify is as durable as the change.
2. After commit, a Celery task expands the event into one `Notification` row per recipient,
   a batch at a time (keyset over user ids, `Event.cursor` remembers how far it got), and
   delivers each batch over one SMTP connection. Events recorded together (the auctions
   one transaction closed) are expanded together, and delivered over one connection, by
   one task (`events_fanout_task`). The recipients of an event are a deterministic query
   (the users registered when the auction was created; the bidders before a given bid;
   the bidders and owner of a closed auction; the watchers of an auction ending soon, up
   to the latest watch at the event), so re-running an expansion finds the same people,
   and the unique (event, recipient) constraint makes it idempotent.
3. A notification moves `pending` -> `sending` (claimed by one worker, with a lease and a
   fencing token, `claim`) -> `sent`. A mail server that cannot be reached (refused,
   timeout, disconnect, 421, a login or other server-wide error) puts the row back to
   `pending` with a capped backoff and without counting an attempt, however long the outage
   lasts. A message that cannot be built, or that the server refuses for good (5xx after
   MAIL, RCPT or DATA), is `failed` at once with its reason in `last_error`; a message the
   server refuses for now (4xx) is retried, and `failed` after NOTIFICATION_MAX_ATTEMPTS.
   An operator sends `failed` rows again (`notifications_resend`). A periodic sweep
   re-dispatches unfinished expansions, due retries and expired leases, so a crashed
   worker, a broker that was down or a refusing SMTP server delay mail but never lose it.

Delivery is at most once in normal operation (a claim is exclusive) and at least once
across crashes: a worker killed between the SMTP server's "250 OK" and the row's update
sends that one message again, with the same Message-ID.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Event(models.Model):
    class Kind(models.TextChoices):
        AUCTION_CREATED = "auction_created", "Auction created"
        BID_PLACED = "bid_placed", "Bid placed"
        AUCTION_CLOSED = "auction_closed", "Auction closed"
        AUCTION_ENDING_SOON = "auction_ending_soon", "Auction ending soon"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    auction = models.ForeignKey(
        "auctions.Auction", on_delete=models.PROTECT, related_name="notification_events"
    )
    bid = models.ForeignKey(
        "auctions.Bid", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Values as they were at the event (prices as strings), for the message texts.
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    # Expansion progress: recipients with an id <= cursor have their Notification row.
    cursor = models.BigIntegerField(default=0)
    expanded_at = models.DateTimeField(null=True, blank=True)
    # Last time a worker made progress on the expansion; the sweep re-dispatches stale ones.
    touched_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(
                fields=["touched_at"],
                name="event_unexpanded_idx",
                condition=Q(expanded_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} (auction #{self.auction_id})"


class Notification(models.Model):
    """One email to one recipient about one event: the outbox row."""

    class Kind(models.TextChoices):
        AUCTION_CREATED = "auction_created", "New auction"
        NEW_BID = "new_bid", "New bid on an auction you bid on"
        OUTBID = "outbid", "You were outbid"
        AUCTION_WON = "auction_won", "You won"
        AUCTION_LOST = "auction_lost", "An auction you bid on ended"
        AUCTION_ENDED_OWNER = "auction_ended_owner", "Your auction ended"
        WATCH_REMINDER = "watch_reminder", "An auction you watch ends soon"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="notifications")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="notifications"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    subject = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    # pending: not before this instant; sending: the claim expires at this instant.
    next_attempt_at = models.DateTimeField()
    # The fencing token of the delivery run that claimed the row last: a run writes the
    # outcome of a message only while the row is still `sending` under its own token, so a
    # run that outlived its lease never undoes the work of the one that took the row over.
    claim = models.BigIntegerField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # The expansion may run twice (a crash, a duplicate task): one row all the same.
            models.UniqueConstraint(fields=["event", "recipient"], name="notification_once"),
        ]
        indexes = [
            models.Index(fields=["recipient", "-id"], name="notification_inbox_idx"),
            models.Index(
                fields=["next_attempt_at"],
                name="notification_due_idx",
                condition=Q(status__in=["pending", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to user #{self.recipient_id}: {self.status}"
