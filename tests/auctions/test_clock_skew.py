"""The recorded close is the one truth: a closer whose clock runs ahead of the web process's
(a VM's drift, an NTP step) closes an auction, and bids, maxima and purchases that the web
clock still thinks in time are refused all the same, with nothing changed."""

from datetime import timedelta
from decimal import Decimal

import pytest

from auctions import services
from auctions.errors import AuctionFinished
from auctions.models import Auction, Bid, ProxyBid
from notifications.models import Event
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def close_with_the_closer_clock_ahead(auction: Auction, frozen_clock) -> Auction:
    """Close `auction` on a clock one second past its end, then put the clock back ten
    seconds before that end: the web process's clock, behind the closer's."""
    web_now = auction.closes_at - timedelta(seconds=10)
    frozen_clock.move_to(auction.closes_at + timedelta(seconds=1))
    closed = services.auction_close(auction.pk)
    assert closed is not None
    assert closed.closed_at is not None
    frozen_clock.move_to(web_now)
    return Auction.objects.get(pk=auction.pk)


def state_of(auction: Auction) -> tuple:
    row = Auction.objects.get(pk=auction.pk)
    closes = Event.objects.filter(auction=auction, kind=Event.Kind.AUCTION_CLOSED).count()
    return (
        row.closed_at,
        row.closes_at,
        row.extension_count,
        row.current_price,
        row.leader_id,
        row.bid_count,
        row.winner_id,
        row.final_price,
        Bid.objects.filter(auction=auction).count(),
        ProxyBid.objects.filter(auction=auction).count(),
        closes,
    )


def test_a_bid_after_the_close_is_409_even_when_the_web_clock_is_before_the_end(
    auction_create, make_client, frozen_clock
):
    bob, cat = UserFactory(), UserFactory()
    auction = auction_create()
    services.bid_place(auction.pk, bidder=bob, amount=Decimal("100.00"))
    auction = close_with_the_closer_clock_ahead(auction, frozen_clock)
    assert auction.winner_id == bob.pk
    before = state_of(auction)

    response = make_client(cat).post(
        f"/api/v1/auctions/{auction.pk}/bids", {"amount": "105.00"}, format="json"
    )

    assert response.status_code == 409, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "auction_finished"
    assert state_of(auction) == before


def test_a_bid_with_a_maximum_after_the_close_is_409_and_records_no_maximum(
    auction_create, make_client, frozen_clock
):
    auction = close_with_the_closer_clock_ahead(auction_create(), frozen_clock)
    before = state_of(auction)

    response = make_client(UserFactory()).post(
        f"/api/v1/auctions/{auction.pk}/bids",
        {"amount": "100.00", "max_amount": "500.00"},
        format="json",
    )

    assert response.status_code == 409, response.content
    assert response.json()["code"] == "auction_finished"
    assert state_of(auction) == before


def test_a_soft_close_bid_after_the_close_neither_lands_nor_extends(
    auction_create, make_client, frozen_clock
):
    auction = auction_create(extension_seconds=60)
    auction = close_with_the_closer_clock_ahead(auction, frozen_clock)  # 10 s left on the web
    before = state_of(auction)

    response = make_client(UserFactory()).post(
        f"/api/v1/auctions/{auction.pk}/bids", {"amount": "100.00"}, format="json"
    )

    assert response.status_code == 409, response.content
    assert response.json()["code"] == "auction_finished"
    assert state_of(auction) == before  # closes_at and extension_count untouched
    assert Auction.objects.due(auction.closes_at + timedelta(hours=1)).count() == 0


def test_a_buy_now_after_the_close_is_409_and_never_closes_twice(
    auction_create, make_client, frozen_clock
):
    auction = auction_create(buy_now_price=Decimal("300.00"))
    auction = close_with_the_closer_clock_ahead(auction, frozen_clock)
    before = state_of(auction)

    response = make_client(UserFactory()).post(f"/api/v1/auctions/{auction.pk}/buy")

    assert response.status_code == 409, response.content
    assert response.json()["code"] == "auction_finished"
    assert state_of(auction) == before  # one close, one "auction closed" event


def test_the_locked_check_refuses_a_bid_read_as_open_before_the_close(auction_create, frozen_clock):
    """The committed read that refuses early may predate the close: the check under the
    lock refuses the bid all the same."""
    auction = auction_create(extension_seconds=60)
    query, value = services.bid_early_read(auction.pk)
    read_while_open = query.fetch_one(value)
    close_with_the_closer_clock_ahead(auction, frozen_clock)
    before = state_of(auction)

    with pytest.raises(AuctionFinished, match="was closed at"):
        services.bid_place(
            auction.pk,
            bidder=UserFactory(),
            amount=Decimal("100.00"),
            max_amount=Decimal("200.00"),
            snapshot=read_while_open,
        )

    assert state_of(auction) == before


def test_a_close_behind_the_web_clock_is_still_the_close_and_stays_idempotent(
    auction_create, frozen_clock
):
    auction = close_with_the_closer_clock_ahead(auction_create(), frozen_clock)
    before = state_of(auction)
    frozen_clock.move_to(auction.closes_at + timedelta(minutes=5))

    services.auction_close(auction.pk)
    services.auction_close_due()

    assert state_of(auction) == before
