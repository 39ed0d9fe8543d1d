"""Reads of the outbox: who an event concerns, what is due, a user's inbox."""

import functools
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet

from auctions.models import Auction, Bid, Watch
from common.prepared import PreparedRows
from notifications import preferences
from notifications.models import Event, Notification

User = get_user_model()


def _honouring_email_preferences(
    recipients_select: Callable[[Event], QuerySet],
) -> Callable[[Event], QuerySet]:
    """Leave out of an event's recipients every user who turned off the email preference
    that governs it (`notifications.preferences`): they get no outbox row, so no email.
    Users who never changed their preferences have no row and stay in. Applied to the
    whole selector, so every kind of event honours it, including kinds added later.
    """

    @functools.wraps(recipients_select)
    def recipients(event: Event) -> QuerySet:
        users = recipients_select(event)  # an unknown kind fails there first
        field = preferences.preference_for_event(event.kind)
        return users.exclude(**{f"email_preferences__{field}": False})

    return recipients


@_honouring_email_preferences
def event_recipients(event: Event) -> QuerySet:
    """Everyone the event concerns, as a user queryset. Deterministic for a given event,
    so an expansion that runs twice finds the same people. Those who opted out of the
    event's category of email are then left out (`_honouring_email_preferences`).

    - auction created: every active user registered when it was created, but the owner;
    - bid placed: every user who bid on the auction before this bid, but its bidder;
    - auction closed: every bidder of the auction, and its owner;
    - auction ending soon: every user watching the auction (its owner too, if watching),
      among the watches made up to the reminder (`last_watch_id`).
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
    if event.kind == Event.Kind.AUCTION_ENDING_SOON:
        watch = Watch.objects.filter(
            auction_id=auction.pk, id__lte=event.payload["last_watch_id"], user_id=OuterRef("pk")
        )
        return User.objects.filter(Exists(watch))
    raise ValueError(f"Unknown event kind {event.kind!r}")


class Recipient(NamedTuple):
    """A recipient as a message needs them: read with the batch, not per message."""

    id: int
    username: str
    email: str


def _recipient_rows_query(event: Event, *, limit: int) -> QuerySet:
    # A user without an email address (an admin made with `createsuperuser`, say) cannot be
    # told anything: they get no outbox row rather than one that fails forever.
    return (
        event_recipients(event)
        .filter(id__gt=event.cursor)
        .exclude(email="")
        .order_by("id")
        .values_list("id", "username", "email")[:limit]
    )


# The recipients of every event of a kind are one query but for the ids in it (the auction,
# the bid, the cursor...): compiled to SQL once per process, kind and batch size
# (`common.prepared.PreparedRows`), since compiling it cost a new bid's fan-out more than
# running it. The placeholders stand for the ids while it is compiled.
_PLACEHOLDERS = {
    "auction": -7_000_001, "owner": -7_000_002, "bid": -7_000_003, "bidder": -7_000_004,
    "last_user": -7_000_005, "last_watch": -7_000_006, "cursor": -7_000_007,
}  # fmt: skip
_prepared_recipients: dict[tuple[str, int], PreparedRows] = {}


def _event_values(event: Event) -> dict[str, int | None]:
    payload = event.payload
    return {
        "auction": event.auction_id, "owner": event.auction.owner_id, "bid": event.bid_id,
        "bidder": payload.get("bidder_id"), "last_user": payload.get("last_user_id"),
        "last_watch": payload.get("last_watch_id"), "cursor": event.cursor,
    }  # fmt: skip


def _event_from_values(kind: str, values: dict) -> Event:
    """An event of `kind` whose ids are `values`: what `event_recipients` reads of one."""
    payload = {
        "bidder_id": values["bidder"],
        "last_user_id": values["last_user"],
        "last_watch_id": values["last_watch"],
    }
    auction = Auction(pk=values["auction"], owner_id=values["owner"])
    return Event(
        kind=kind, auction=auction, bid_id=values["bid"], cursor=values["cursor"], payload=payload
    )


def event_recipient_rows(event: Event, *, limit: int) -> list[Recipient]:
    """The next `limit` recipients after the event's cursor, in id order, who have an
    email address."""
    key = (event.kind, limit)
    prepared = _prepared_recipients.get(key)
    if prepared is None:
        prepared = _prepared_recipients[key] = PreparedRows(
            lambda values, kind=event.kind: _recipient_rows_query(
                _event_from_values(kind, values), limit=limit
            ),
            placeholders=_PLACEHOLDERS,
        )
    return [Recipient(*row) for row in prepared.fetch(_event_values(event))]


def event_recipient_batch(event: Event, *, limit: int) -> list[int]:
    """The ids of `event_recipient_rows`."""
    return [recipient.id for recipient in event_recipient_rows(event, limit=limit)]


def events_recipient_batches(events: list[Event], *, limit: int) -> dict[int, list[Recipient]]:
    """`event_recipient_rows` of each event, by event id.

    The events of ended auctions (a burst closed together) are answered together, by two
    queries whatever their number: their bidders, then which of these users and owners
    can be told. Compiling `event_recipients`' query for each one would cost more than
    the rest of its expansion. The rule is the same: every bidder and the owner, with an
    email address and not opted out of end notices, after the cursor, in id order.
    Events of other kinds are answered one by one.
    """
    batches: dict[int, list[Recipient]] = {}
    closed = [event for event in events if event.kind == Event.Kind.AUCTION_CLOSED]
    for event in events:
        if event.kind != Event.Kind.AUCTION_CLOSED:
            batches[event.pk] = event_recipient_rows(event, limit=limit)
    if not closed:
        return batches
    concerned: dict[int, set[int]] = {event.auction_id: set() for event in closed}
    bidders = Bid.objects.filter(auction_id__in=concerned).values_list("auction_id", "bidder_id")
    for auction_id, bidder_id in bidders.distinct():
        concerned[auction_id].add(bidder_id)
    for event in closed:
        concerned[event.auction_id].add(event.auction.owner_id)
    field = preferences.preference_for_event(Event.Kind.AUCTION_CLOSED)
    reachable = {
        row[0]: Recipient(*row)
        for row in User.objects.filter(id__in=set().union(*concerned.values()))
        .exclude(email="")
        .exclude(**{f"email_preferences__{field}": False})
        .values_list("id", "username", "email")
    }
    for event in closed:
        users = sorted(user for user in concerned[event.auction_id] & reachable.keys())
        batches[event.pk] = [reachable[user] for user in users if user > event.cursor][:limit]
    return batches


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
