"""POST and GET /api/v1/auctions/{id}/bids: the bidding rules, as a client meets them."""

from datetime import timedelta
from decimal import Decimal

import pytest

from auctions.models import Auction, Bid
from common import clock
from tests.common.assertions import assert_problem
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

BID_FIELDS = {"id", "auction", "amount", "bidder", "created_at"}


def bids_url(auction_id) -> str:
    return f"/api/v1/auctions/{auction_id}/bids"


def place(client, auction_id, amount):
    return client.post(bids_url(auction_id), {"amount": amount}, format="json")


@pytest.fixture
def owner():
    return UserFactory(username="olga")


@pytest.fixture
def auction(auction_create, owner):
    """Starting price 100.00, step 5.00, ending in 30 minutes."""
    return auction_create(owner=owner)


@pytest.fixture
def bob(client_for):
    return client_for("bob")


@pytest.fixture
def carol(client_for):
    return client_for("carol")


def test_a_bid_is_201_with_the_contract_shape(bob, auction, frozen_clock):
    response = place(bob, auction.pk, "100.00")

    assert response.status_code == 201, response.content
    body = response.json()
    assert {field: body.get(field) for field in BID_FIELDS} == {
        "id": body["id"],
        "auction": auction.pk,
        "amount": "100.00",
        "bidder": "bob",
        "created_at": clock.now().isoformat().replace("+00:00", "Z"),
    }
    bid = Bid.objects.get(pk=body["id"])
    assert bid.auction_id == auction.pk
    assert bid.bidder.username == "bob"
    assert bid.amount == Decimal("100.00")


def test_a_bid_updates_the_auctions_price_leader_and_count(api_client, bob, carol, auction):
    place(bob, auction.pk, "100")
    place(carol, auction.pk, "120")

    body = api_client.get(f"/api/v1/auctions/{auction.pk}").json()

    assert body["current_price"] == "120.00"
    assert body["min_next_bid"] == "125.00"
    assert body["bid_count"] == 2
    assert body["leader"] == "carol"
    assert body["winner"] is None
    auction.refresh_from_db()
    assert auction.current_price == Decimal("120.00")
    assert auction.leader.username == "carol"
    assert auction.bid_count == 2


def test_the_first_bid_may_equal_the_starting_price(bob, auction):
    assert place(bob, auction.pk, "100.00").status_code == 201


def test_a_first_bid_below_the_starting_price_is_400_bid_too_low(bob, auction):
    response = place(bob, auction.pk, "99.99")

    body = assert_problem(response, 400, "bid_too_low")
    assert body["min_next_bid"] == "100.00"
    assert not Bid.objects.exists()


@pytest.mark.parametrize("amount", ["100.00", "104.99", "100.01", "50"])
def test_a_next_bid_below_price_plus_step_is_400_bid_too_low(bob, carol, auction, amount):
    place(bob, auction.pk, "100.00")

    response = place(carol, auction.pk, amount)

    body = assert_problem(response, 400, "bid_too_low")
    assert body["min_next_bid"] == "105.00"
    auction.refresh_from_db()
    assert auction.current_price == Decimal("100.00")
    assert auction.leader.username == "bob"
    assert auction.bid_count == 1


@pytest.mark.parametrize("amount", ["105.00", "105.01", "1000"])
def test_a_next_bid_of_at_least_price_plus_step_is_accepted(bob, carol, auction, amount):
    place(bob, auction.pk, "100.00")

    response = place(carol, auction.pk, amount)

    assert response.status_code == 201, response.content
    auction.refresh_from_db()
    assert auction.current_price == Decimal(amount)


def test_a_bid_on_your_own_auction_is_403_own_auction(make_client, owner, auction):
    response = place(make_client(owner), auction.pk, "100.00")

    assert_problem(response, 403, "own_auction")
    assert not Bid.objects.exists()


def test_a_bid_exactly_at_end_time_is_409_auction_finished(bob, auction, frozen_clock):
    frozen_clock.move_to(auction.end_time)

    response = place(bob, auction.pk, "100.00")

    assert_problem(response, 409, "auction_finished")
    assert not Bid.objects.exists()


def test_a_bid_one_microsecond_before_end_time_is_accepted(bob, auction, frozen_clock):
    frozen_clock.move_to(auction.end_time - timedelta(microseconds=1))

    assert place(bob, auction.pk, "100.00").status_code == 201


def test_a_bid_after_end_time_is_409_auction_finished(bob, carol, auction, frozen_clock):
    place(bob, auction.pk, "100.00")
    frozen_clock.move_to(auction.end_time + timedelta(seconds=1))

    response = place(carol, auction.pk, "500.00")

    assert_problem(response, 409, "auction_finished")
    auction.refresh_from_db()
    assert auction.bid_count == 1
    assert auction.leader.username == "bob"


def test_a_bid_on_an_unknown_auction_is_404(bob, db):
    assert_problem(place(bob, 424242, "100.00"), 404, "not_found")
    assert_problem(place(bob, "99999999999999999999999", "100.00"), 404, "not_found")


def test_a_bid_without_a_token_is_401(api_client, auction):
    response = place(api_client, auction.pk, "100.00")

    assert_problem(response, 401, "not_authenticated")
    assert not Bid.objects.exists()


@pytest.mark.parametrize(
    "amount", ["abc", "NaN", "Infinity", "", None, True, 0, "-100", "100.001", 1e13, [100]]
)
def test_an_invalid_amount_is_400_validation_error(bob, auction, amount):
    response = place(bob, auction.pk, amount)

    problem = assert_problem(response, 400, "validation_error")
    assert "amount" in problem["errors"]
    assert not Bid.objects.exists()


def test_a_bid_without_an_amount_is_400_validation_error(bob, auction):
    response = bob.post(bids_url(auction.pk), {}, format="json")

    problem = assert_problem(response, 400, "validation_error")
    assert "amount" in problem["errors"]


def test_a_json_number_amount_is_stored_exactly_never_as_a_float(bob, auction):
    response = bob.generic(
        "POST", bids_url(auction.pk), '{"amount": 105.1}', content_type="application/json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["amount"] == "105.10"
    bid = Bid.objects.get()
    assert bid.amount == Decimal("105.10")
    assert str(bid.amount) == "105.10"
    auction.refresh_from_db()
    assert auction.current_price == Decimal("105.10")


def test_the_winner_is_null_while_active_and_the_highest_bidder_after(
    api_client, bob, carol, auction, frozen_clock
):
    place(bob, auction.pk, "100")
    place(carol, auction.pk, "110")
    place(bob, auction.pk, "150")
    assert api_client.get(f"/api/v1/auctions/{auction.pk}").json()["winner"] is None

    frozen_clock.move_to(auction.end_time)

    body = api_client.get(f"/api/v1/auctions/{auction.pk}").json()
    assert body["status"] == "finished"
    assert body["winner"] == "bob"
    assert body["current_price"] == "150.00"


def test_the_winner_is_per_auction_not_the_last_bidder_anywhere(
    api_client, client_for, auction_create, frozen_clock
):
    bob, carol, dave = client_for("bob"), client_for("carol"), client_for("dave")
    first = auction_create(end_time=clock.now() + timedelta(minutes=10))
    second = auction_create(end_time=clock.now() + timedelta(minutes=20))
    place(carol, first.pk, "100")
    place(bob, first.pk, "200")  # bob is the highest bidder on the first auction
    place(bob, second.pk, "100")
    place(dave, second.pk, "105")  # dave bids last, and on the second auction only
    place(carol, second.pk, "300")  # carol is the highest on the second

    frozen_clock.move_to(second.end_time + timedelta(seconds=1))

    results = api_client.get("/api/v1/auctions", {"status": "finished"}).json()["results"]
    winners = {item["id"]: item["winner"] for item in results}
    assert winners == {first.pk: "bob", second.pk: "carol"}


def test_a_finished_auction_without_bids_has_no_winner(api_client, auction, frozen_clock):
    frozen_clock.move_to(auction.end_time)

    body = api_client.get(f"/api/v1/auctions/{auction.pk}").json()

    assert body["status"] == "finished"
    assert body["winner"] is None
    assert body["leader"] is None


def test_the_bid_list_is_paginated_newest_first(api_client, auction, bid_place):
    bidders = UserFactory.create_batch(2)
    for n, amount in enumerate(["100", "105", "110", "120", "130"]):
        bid_place(auction, bidders[n % 2], amount)

    first = api_client.get(bids_url(auction.pk), {"page_size": 3}).json()
    second = api_client.get(first["next"]).json()

    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] == 5
    assert [bid["amount"] for bid in first["results"]] == ["130.00", "120.00", "110.00"]
    assert [bid["amount"] for bid in second["results"]] == ["105.00", "100.00"]
    assert set(first["results"][0]) >= BID_FIELDS
    assert first["results"][0]["auction"] == auction.pk


def test_the_bid_list_of_an_unknown_auction_is_404(api_client, db):
    assert_problem(api_client.get(bids_url(424242)), 404, "not_found")


def test_one_bid_can_be_read(api_client, auction, bid_place):
    bid = bid_place(auction, UserFactory(username="bob"), "100.00")

    response = api_client.get(f"{bids_url(auction.pk)}/{bid.pk}")

    assert response.status_code == 200
    body = response.json()
    assert {field: body.get(field) for field in BID_FIELDS} == {
        "id": bid.pk,
        "auction": auction.pk,
        "amount": "100.00",
        "bidder": "bob",
        "created_at": bid.created_at.isoformat().replace("+00:00", "Z"),
    }


def test_a_bid_read_through_another_auction_is_404(api_client, auction, auction_create, bid_place):
    other = auction_create()
    bid = bid_place(auction, UserFactory(), "100.00")

    assert_problem(api_client.get(f"{bids_url(other.pk)}/{bid.pk}"), 404, "not_found")
    assert_problem(api_client.get(f"{bids_url(auction.pk)}/424242"), 404, "not_found")
    assert_problem(
        api_client.get(f"{bids_url(auction.pk)}/99999999999999999999999"), 404, "not_found"
    )


def test_a_refused_bid_writes_nothing(bob, carol, auction, frozen_clock):
    place(bob, auction.pk, "100")
    before = Auction.objects.values().get(pk=auction.pk)

    place(carol, auction.pk, "101")  # too low
    frozen_clock.move_to(auction.end_time)
    place(carol, auction.pk, "500")  # finished

    assert Auction.objects.values().get(pk=auction.pk) == before
    assert Bid.objects.count() == 1
