"""Reads of the outbox: who an event concerns, what is due, a user's inbox."""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet

from auctions.models import Bid
from notifications.models import Event, Notification

User = get_user_model()


def event_recipients(event: Event) -> QuerySet:
    """Everyone the event concerns, as a user queryset. Deterministic for a given event,
    so an expansion that runs twice finds the same people.

    - auction created: every active user registered when it was created, but the owner;
    - bid placed: every user who bid on the auction before this bid, but its bidder;
    - auction closed: every bidder of the auction, and its owner.
    """
    auction = event.auction
    if event.kind == Event.Kind.AUCTION_CREATED:
        return User.objects.filter(is_active=True, id__lte=event.payload["last_user_id"]).exclude(
            id=auction.owner_id
        )
    if event.kind == Event.Kind.BID_PLACED:
        earlier_bid = Bid.objects.filter(
            auction_id=auction.pk, id__lt=event.bid_id, bidder_id=OuterRef("pk")
        )
        return User.objects.filter(Exists(earlier_bid)).exclude(id=event.payload["bidder_id"])
    if event.kind == Event.Kind.AUCTION_CLOSED:
        any_bid = Bid.objects.filter(auction_id=auction.pk, bidder_id=OuterRef("pk"))
        return User.objects.filter(Exists(any_bid) | Q(id=auction.owner_id))
    raise ValueError(f"Unknown event kind {event.kind!r}")


def event_recipient_batch(event: Event, *, limit: int) -> list[tuple[int, str]]:
    """The next `limit` recipients after the event's cursor: (user id, email), by id."""
    return list(
        event_recipients(event)
        .filter(id__gt=event.cursor)
        .order_by("id")
        .values_list("id", "email")[:limit]
    )


def event_stale_ids(*, before: datetime, limit: int) -> list[int]:
    """Expansions that stopped making progress (a lost task, a crashed worker)."""
    return list(
        Event.objects.filter(expanded_at__isnull=True, touched_at__lte=before)
        .order_by("touched_at")
        .values_list("id", flat=True)[:limit]
    )


def notification_due_ids(*, before: datetime, limit: int) -> list[int]:
    """Pending notifications whose retry time has come, and claims whose lease expired."""
    return list(
        Notification.objects.filter(
            status__in=[Notification.Status.PENDING, Notification.Status.SENDING],
            next_attempt_at__lte=before,
        )
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def notification_list(*, recipient) -> QuerySet[Notification]:
    """A user's notifications, newest first, with the auction each is about."""
    return (
        Notification.objects.filter(recipient=recipient)
        .select_related("event__auction")
        .order_by("-id")
    )
