"""Every API URL answers with and without its trailing slash, directly (no redirect)."""

from datetime import timedelta

import pytest

from auctions.models import Auction, Bid
from common import clock
from tests.common.assertions import assert_problem
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def auction(auction_create):
    return auction_create()


@pytest.mark.parametrize("slash", ["", "/"])
def test_the_auction_list_answers_get_with_and_without_a_slash(api_client, auction, slash):
    response = api_client.get(f"/api/v1/auctions{slash}")

    assert response.status_code == 200
    assert response.json()["count"] == 1


@pytest.mark.parametrize("slash", ["", "/"])
def test_creating_an_auction_works_with_and_without_a_slash(client_for, slash):
    body = {
        "title": "Lamp",
        "description": "",
        "starting_price": "1.00",
        "price_step": "1.00",
        "end_time": (clock.now() + timedelta(hours=1)).isoformat(),
    }

    response = client_for("alice").post(f"/api/v1/auctions{slash}", body, format="json")

    assert response.status_code == 201, response.content
    assert Auction.objects.count() == 1


@pytest.mark.parametrize("slash", ["", "/"])
def test_bidding_works_with_and_without_a_slash(client_for, auction, slash):
    response = client_for("bob").post(
        f"/api/v1/auctions/{auction.pk}/bids{slash}", {"amount": "100.00"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert Bid.objects.count() == 1


@pytest.mark.parametrize("slash", ["", "/"])
def test_every_read_answers_with_and_without_a_slash(api_client, auction, bid_place, slash):
    bid = bid_place(auction, UserFactory(), "100.00")

    for path in (
        f"/api/v1/auctions/{auction.pk}",
        f"/api/v1/auctions/{auction.pk}/bids",
        f"/api/v1/auctions/{auction.pk}/bids/{bid.pk}",
    ):
        assert api_client.get(f"{path}{slash}").status_code == 200, path


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/auctions/99999999999999999999999",
        "/api/v1/auctions/1000000000000000000",  # 19 digits: beyond a 64-bit id
        "/api/v1/auctions/99999999999999999999999/bids",
        "/api/v1/auctions/1/bids/99999999999999999999999",
    ],
)
def test_an_id_too_large_for_the_database_is_404_not_500(api_client, auction, path):
    assert_problem(api_client.get(path), 404, "not_found")


def test_the_largest_64_bit_id_is_an_ordinary_404(api_client, db):
    assert_problem(api_client.get("/api/v1/auctions/999999999999999999"), 404, "not_found")


def test_a_bid_on_a_huge_auction_id_is_404_not_500(client_for):
    response = client_for("bob").post(
        "/api/v1/auctions/99999999999999999999999/bids", {"amount": "1.00"}, format="json"
    )

    assert_problem(response, 404, "not_found")
