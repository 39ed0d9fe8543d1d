"""Proxy (automatic) bidding: the service bids for a user up to a secret maximum."""

import itertools
from decimal import Decimal

import pytest

from auctions import services
from auctions.models import Auction, Bid, ProxyBid
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def place(auction, user, amount, max_amount=None):
    return services.bid_place(
        auction.pk,
        bidder=user,
        amount=Decimal(amount),
        max_amount=Decimal(max_amount) if max_amount else None,
    )


def history(auction):
    return [
        (bid.bidder.username, str(bid.amount), bid.auto)
        for bid in Bid.objects.filter(auction=auction).order_by("id")
    ]


def test_a_plain_bid_against_a_maximum_is_answered_one_step_above(auction_create):
    ann, bob = UserFactory(username="ann"), UserFactory(username="bob")
    auction = auction_create(starting_price="100.00", price_step="5.00")
    place(auction, ann, "100.00", max_amount="150.00")
    place(auction, bob, "110.00")

    auction.refresh_from_db()
    assert history(auction) == [
        ("ann", "100.00", False),
        ("bob", "110.00", False),
        ("ann", "115.00", True),
    ]
    assert auction.leader == ann
    assert auction.current_price == Decimal("115.00")
    assert auction.bid_count == 3


def test_a_bid_above_the_maximum_wins_and_the_maximum_is_never_exceeded(auction_create):
    ann, bob = UserFactory(username="ann"), UserFactory(username="bob")
    auction = auction_create(starting_price="100.00", price_step="5.00")
    place(auction, ann, "100.00", max_amount="150.00")
    place(auction, bob, "155.00")

    auction.refresh_from_db()
    assert auction.leader == bob
    assert auction.current_price == Decimal("155.00")
    assert max(b.amount for b in Bid.objects.filter(bidder=ann)) <= Decimal("150.00")


def test_two_maxima_the_higher_wins_at_the_other_maximum_plus_the_step(auction_create):
    ann, bob = UserFactory(username="ann"), UserFactory(username="bob")
    auction = auction_create(starting_price="100.00", price_step="5.00")
    place(auction, ann, "100.00", max_amount="150.00")
    place(auction, bob, "105.00", max_amount="200.00")

    auction.refresh_from_db()
    assert auction.leader == bob
    assert auction.current_price == Decimal("155.00")
    assert history(auction)[-1] == ("bob", "155.00", True)


def test_equal_maxima_the_earlier_one_wins_at_that_maximum(auction_create):
    ann, bob = UserFactory(username="ann"), UserFactory(username="bob")
    auction = auction_create(starting_price="100.00", price_step="5.00")
    place(auction, ann, "100.00", max_amount="150.00")
    place(auction, bob, "105.00", max_amount="150.00")

    auction.refresh_from_db()
    assert auction.leader == ann
    assert auction.current_price == Decimal("150.00")


def test_the_winning_maximum_is_capped_at_its_own_maximum(auction_create):
    ann, bob = UserFactory(username="ann"), UserFactory(username="bob")
    auction = auction_create(starting_price="100.00", price_step="5.00")
    place(auction, ann, "100.00", max_amount="152.00")
    place(auction, bob, "105.00", max_amount="150.00")

    auction.refresh_from_db()
    assert auction.leader == ann
    assert auction.current_price == Decimal("152.00")  # not 155: capped at ann's maximum


def test_every_bid_in_a_proxy_ladder_is_at_least_the_previous_plus_the_step(auction_create):
    users = [UserFactory() for _ in range(4)]
    auction = auction_create(starting_price="10.00", price_step="1.00")
    place(auction, users[0], "10.00", max_amount="30.00")
    place(auction, users[1], "11.00", max_amount="29.50")  # users[0] answers at 30.00
    place(auction, users[2], "31.00")
    place(auction, users[3], "32.00", max_amount="40.00")
    place(auction, users[1], "33.00", max_amount="45.00")  # users[3] at 40, users[1] at 41

    auction.refresh_from_db()
    amounts = list(
        Bid.objects.filter(auction=auction).order_by("id").values_list("amount", flat=True)
    )
    assert all(b - a >= Decimal("1.00") for a, b in itertools.pairwise(amounts))
    assert auction.current_price == amounts[-1]
    assert auction.bid_count == len(amounts)
    assert auction.leader == users[1]
    assert auction.current_price == Decimal("41.00")


def test_max_below_amount_is_400_and_changes_nothing(client_for, auction_create):
    bob = client_for("bob")
    auction = auction_create()
    response = bob.post(
        f"/api/v1/auctions/{auction.pk}/bids",
        {"amount": "100.00", "max_amount": "99.00"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "max_amount_below_amount"
    assert not Bid.objects.exists()
    assert not ProxyBid.objects.exists()


def test_the_answer_to_a_bid_says_who_leads_and_shows_only_my_maximum(client_for, auction_create):
    ann, bob = client_for("ann"), client_for("bob")
    auction = auction_create(starting_price="100.00", price_step="5.00")
    first = ann.post(
        f"/api/v1/auctions/{auction.pk}/bids",
        {"amount": "100.00", "max_amount": "150.00"},
        format="json",
    ).json()
    assert first["max_amount"] == "150.00"
    assert first["leading"] is True

    second = bob.post(f"/api/v1/auctions/{auction.pk}/bids", {"amount": "110.00"}, format="json")
    assert second.status_code == 201
    body = second.json()
    assert body["leading"] is False  # ann's maximum answered at once
    assert body["current_price"] == "115.00"
    assert body["max_amount"] is None

    detail = bob.get(f"/api/v1/auctions/{auction.pk}").json()
    assert "150.00" not in {str(value) for value in detail.values()}  # the maximum is secret
    assert all("max_amount" not in bid for bid in detail["bids"])
    assert detail["bids"][0] == {**detail["bids"][0], "bidder": "ann", "auto": True}
    assert Auction.objects.get(pk=auction.pk).leader.username == "ann"
