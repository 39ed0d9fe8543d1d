"""auctions.services and the database constraints behind them, below the HTTP layer."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from auctions import services
from auctions.errors import (
    AuctionFinished,
    AuctionNotFound,
    BidTooLow,
    EndTimeNotInFuture,
    OwnAuction,
)
from auctions.models import Auction, Bid
from common import clock
from tests.factories import AuctionFactory, UserFactory

pytestmark = pytest.mark.django_db


# --- The lock helper ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_auction_lock_refuses_to_run_outside_a_transaction():
    auction = AuctionFactory()

    with pytest.raises(RuntimeError, match=r"transaction\.atomic"):
        services._auction_lock(auction.pk)


def test_auction_lock_returns_the_row_inside_a_transaction():
    auction = AuctionFactory()

    with transaction.atomic():
        locked = services._auction_lock(auction.pk)

    assert locked == auction


def test_auction_lock_raises_not_found_for_an_unknown_id_unless_skipping():
    with transaction.atomic(), pytest.raises(AuctionNotFound):
        services._auction_lock(424242)
    with transaction.atomic():
        assert services._auction_lock(424242, skip_locked=True) is None


# --- auction_create -----------------------------------------------------------------------


def test_auction_create_stamps_now_and_starts_the_price_at_the_starting_price(frozen_clock):
    end_time = clock.now() + timedelta(seconds=3)

    auction = services.auction_create(
        owner=UserFactory(),
        title="Lamp",
        description="",
        starting_price=Decimal("0.00"),
        price_step=Decimal("0.01"),
        end_time=end_time,
    )

    auction.refresh_from_db()
    assert auction.created_at == clock.now()
    assert auction.closes_at == auction.end_time == end_time
    assert auction.current_price == Decimal("0.00")
    assert auction.currency == "USD"
    assert auction.bid_count == 0
    assert auction.leader is None
    assert auction.closed_at is None


def test_auction_create_refuses_an_end_time_that_is_not_in_the_future(frozen_clock):
    with pytest.raises(EndTimeNotInFuture):
        services.auction_create(
            owner=UserFactory(),
            title="Lamp",
            description="",
            starting_price=Decimal("1.00"),
            price_step=Decimal("1.00"),
            end_time=clock.now(),
        )
    assert not Auction.objects.exists()


# --- bid_place ----------------------------------------------------------------------------


def test_bid_place_inserts_the_bid_and_updates_the_auction(auction_create, frozen_clock):
    auction = auction_create()
    bidder = UserFactory()

    bid = services.bid_place(auction.pk, bidder=bidder, amount=Decimal("100.00"))

    auction.refresh_from_db()
    assert bid.pk is not None
    assert bid.created_at == clock.now()
    assert (auction.current_price, auction.leader, auction.bid_count) == (
        Decimal("100.00"),
        bidder,
        1,
    )
    assert auction.min_next_bid == Decimal("105.00")


def test_bid_place_refuses_the_owner(auction_create):
    owner = UserFactory()
    auction = auction_create(owner=owner)

    with pytest.raises(OwnAuction):
        services.bid_place(auction.pk, bidder=owner, amount=Decimal("100.00"))


def test_bid_place_refuses_from_end_time_on(auction_create, frozen_clock):
    auction = auction_create(end_time=clock.now() + timedelta(seconds=1))
    frozen_clock.shift(1)

    with pytest.raises(AuctionFinished):
        services.bid_place(auction.pk, bidder=UserFactory(), amount=Decimal("100.00"))


def test_bid_too_low_carries_the_min_next_bid(auction_create, bid_place):
    auction = auction_create()
    bid_place(auction, UserFactory(), "100.00")

    with pytest.raises(BidTooLow) as refused:
        services.bid_place(auction.pk, bidder=UserFactory(), amount=Decimal("104.99"))

    assert refused.value.extra == {"min_next_bid": "105.00"}
    assert Bid.objects.count() == 1


def test_bid_place_on_an_unknown_auction_raises_not_found():
    with pytest.raises(AuctionNotFound):
        services.bid_place(424242, bidder=UserFactory(), amount=Decimal("1.00"))


# --- The database is the last line of defence ---------------------------------------------
# These bypass the services on purpose: they prove the constraints exist.


def test_the_database_refuses_two_bids_of_the_same_amount_on_one_auction(auction_create, bid_place):
    auction = auction_create()
    bid = bid_place(auction, UserFactory(), "100.00")

    with pytest.raises(IntegrityError), transaction.atomic():
        Bid.objects.create(
            auction=auction, bidder=UserFactory(), amount=bid.amount, created_at=clock.now()
        )


def test_the_same_amount_on_two_auctions_is_fine(auction_create, bid_place):
    bidder = UserFactory()
    bid_place(auction_create(), bidder, "100.00")
    bid_place(auction_create(), bidder, "100.00")

    assert Bid.objects.count() == 2


@pytest.mark.parametrize(
    "fields",
    [
        {"price_step": Decimal("-5.00")},
        {"price_step": Decimal("0.00")},
        {"starting_price": Decimal("-0.01"), "current_price": Decimal("-0.01")},
        {"current_price": Decimal("99.99")},  # below the starting price of 100.00
        {"bid_count": 1},  # a count without a leader
    ],
)
def test_the_database_refuses_an_inconsistent_auction(fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        AuctionFactory(**fields)


def test_the_database_refuses_an_auction_that_closes_before_it_was_created():
    created_at = clock.now()

    with pytest.raises(IntegrityError), transaction.atomic():
        AuctionFactory(created_at=created_at, end_time=created_at, closes_at=created_at)


@pytest.mark.parametrize("amount", [Decimal("0.00"), Decimal("-1.00")])
def test_the_database_refuses_a_bid_that_is_not_positive(auction_create, amount):
    auction = auction_create()

    with pytest.raises(IntegrityError), transaction.atomic():
        Bid.objects.create(
            auction=auction, bidder=UserFactory(), amount=amount, created_at=clock.now()
        )
