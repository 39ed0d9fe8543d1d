"""Each event's recipients come from SQL compiled once per kind: for every event, the same
rows as the ORM's query for that event."""

from decimal import Decimal

import pytest

from auctions import services as auctions
from notifications import selectors
from notifications.models import Event
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_every_events_recipients_are_the_orms_whatever_the_event_before(
    auction_create, frozen_clock
):
    users = UserFactory.create_batch(5)
    first = auction_create(owner=users[0])
    second = auction_create(owner=users[4])
    for auction, bidders in ((first, users[1:4]), (second, users[2:4])):
        for n, bidder in enumerate(bidders):
            auctions.bid_place(auction.pk, bidder=bidder, amount=Decimal(100 + 5 * n))
    frozen_clock.shift(3600)
    auctions.auctions_close([first.pk, second.pk])
    events = list(Event.objects.select_related("auction", "bid").order_by("id"))
    assert {event.kind for event in events} == {"auction_created", "bid_placed", "auction_closed"}

    for event in events + events[::-1]:
        for cursor in (0, users[2].pk):
            event.cursor = cursor
            expected = list(selectors._recipient_rows_query(event, limit=10))
            assert selectors.event_recipient_rows(event, limit=10) == expected
            assert selectors.event_recipient_rows(event, limit=2) == expected[:2]
