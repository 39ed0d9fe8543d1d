"""An expansion whose worker delivers the batch itself writes the first rows already
claimed (`events_expand_claimed`), then sends them without claiming or reading them again."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection

from auctions import services as auctions
from common import clock
from notifications import selectors, services
from notifications.models import Event, Notification
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def bid_event_with_earlier_bidders(auction_create, count: int) -> Event:
    """A new-bid event that concerns `count` earlier bidders."""
    auction = auction_create()
    bidders = UserFactory.create_batch(count + 1)
    for n, bidder in enumerate(bidders):
        auctions.bid_place(auction.pk, bidder=bidder, amount=Decimal(100 + 5 * n))
    return Event.objects.filter(kind="bid_placed").latest("id")


def test_a_new_bid_event_is_written_claimed_and_sent_without_reading_it_back(
    auction_create, mailbox, django_assert_num_queries
):
    event = bid_event_with_earlier_bidders(auction_create, 3)
    before = clock.now()

    # The event locked, its recipients, the rows, the cursor: four statements in one
    # transaction (here a savepoint, inside the test's own transaction: two more).
    with django_assert_num_queries(4 + 2):
        batch = services.events_expand_claimed([event.pk])

    assert batch.pending_ids == []
    assert batch.unfinished == []
    assert len(batch.claimed) == 3
    for row in Notification.objects.all():
        assert row.status == "sending"
        lease = timedelta(seconds=settings.NOTIFICATION_CLAIM_SECONDS)
        assert row.next_attempt_at >= before + lease
    # Sending them reads nothing: the messages, then one write recording them sent (with,
    # on PostgreSQL, its `SET LOCAL synchronous_commit`; and the savepoint).
    with django_assert_num_queries((2 if connection.vendor == "postgresql" else 1) + 2):
        assert services.batch_deliver(batch) == 3
    assert len(mailbox.snapshot()) == 3
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
    assert services.events_expand_claimed([event.pk]).claimed == []  # expanded: nothing twice


def test_only_the_first_rows_of_a_big_batch_are_claimed_the_rest_as_they_are_sent(
    auction_create, mailbox
):
    UserFactory.create_batch(services.CLAIM_CHUNK + 7)
    auction_create()
    event = Event.objects.get(kind="auction_created")

    batch = services.events_expand_claimed([event.pk])

    assert len(batch.claimed) == services.CLAIM_CHUNK
    assert len(batch.pending_ids) == 7
    assert Notification.objects.filter(status="pending").count() == 7
    assert services.batch_deliver(batch) == services.CLAIM_CHUNK + 7
    assert Notification.objects.exclude(status="sent").count() == 0


def test_rows_claimed_by_a_worker_that_died_before_sending_are_due_after_the_lease(
    auction_create, frozen_clock, mailbox
):
    event = bid_event_with_earlier_bidders(auction_create, 2)
    services.events_expand_claimed([event.pk])  # ... and the worker dies here
    frozen_clock.shift(settings.NOTIFICATION_CLAIM_SECONDS - 1)
    assert selectors.notification_due_ids(before=clock.now(), limit=10) == []

    frozen_clock.shift(2)
    due = selectors.notification_due_ids(before=clock.now(), limit=10)

    assert len(due) == 2
    assert services.notification_deliver(due) == 2
    assert len(mailbox.snapshot()) == 2


def test_a_row_already_past_the_cursor_is_kept_and_the_rest_delivered_once(auction_create, mailbox):
    event = bid_event_with_earlier_bidders(auction_create, 3)
    [first, *rest] = selectors.event_recipient_batch(event, limit=10)
    now = clock.now()
    # A row the expansion could not have written: the INSERT conflicts, and is replayed.
    Notification.objects.create(
        event=event, recipient_id=first, kind="new_bid", subject="Written by hand",
        status="sent", created_at=now, next_attempt_at=now, sent_at=now,
    )  # fmt: skip

    batch = services.events_expand_claimed([event.pk])

    assert batch.claimed == []
    assert len(batch.pending_ids) == 2
    assert services.batch_deliver(batch) == 2
    assert sorted(Notification.objects.values_list("recipient_id", flat=True)) == [first, *rest]
    assert Notification.objects.get(recipient_id=first).subject == "Written by hand"
    assert len(mailbox.snapshot()) == 2
