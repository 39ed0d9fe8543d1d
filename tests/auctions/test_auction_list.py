"""GET /api/v1/auctions: pagination, the clock-derived status filter, search, owner, ordering."""

from datetime import timedelta

import pytest

from common import clock
from tests.common.assertions import assert_problem
from tests.factories import AuctionFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/auctions"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def test_the_list_is_paginated_with_count_next_previous_results(api_client, auction_create):
    auction = auction_create()

    response = api_client.get(URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 1
    assert body["next"] is None
    assert body["previous"] is None
    [item] = body["results"]
    assert item["id"] == auction.pk
    assert item["current_price"] == "100.00"
    assert "bids" not in item


def test_the_list_is_public_and_empty_without_auctions(api_client):
    response = api_client.get(URL)

    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_pages_default_to_20_items_with_links_to_the_neighbours(api_client):
    AuctionFactory.create_batch(25, owner=UserFactory())

    first = api_client.get(URL).json()
    second = api_client.get(first["next"]).json()

    assert first["count"] == 25
    assert len(first["results"]) == 20
    assert "page=2" in first["next"]
    assert first["previous"] is None
    assert len(second["results"]) == 5
    assert second["next"] is None
    assert second["previous"] is not None
    assert not {a["id"] for a in first["results"]} & {a["id"] for a in second["results"]}


def test_page_size_is_honoured(api_client):
    AuctionFactory.create_batch(7, owner=UserFactory())

    body = api_client.get(URL, {"page_size": 5}).json()

    assert len(body["results"]) == 5
    assert body["count"] == 7


def test_page_size_is_capped_at_100(api_client):
    AuctionFactory.create_batch(101, owner=UserFactory())

    body = api_client.get(URL, {"page_size": 1000}).json()

    assert body["count"] == 101
    assert len(body["results"]) == 100
    assert body["next"] is not None


@pytest.mark.parametrize("page", ["2", "99999999999999999999999"])
def test_a_page_that_does_not_exist_is_404_problem(api_client, auction_create, page):
    auction_create()

    response = api_client.get(URL, {"page": page})

    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("page", "0"),
        ("page", "-1"),
        ("page", "abc"),
        ("page", ""),
        ("page", "last"),
        ("page", "1.5"),
        ("page", "\u0661"),  # an Arabic-Indic one: a digit to Python, not to the schema
        ("page_size", "0"),
        ("page_size", "-5"),
        ("page_size", "null"),
        ("page_size", "false"),
        ("page_size", ""),
    ],
)
def test_a_page_or_page_size_that_is_not_a_positive_integer_is_400_validation_error(
    api_client, auction_create, param, value
):
    auction_create()

    response = api_client.get(URL, {param: value})

    body = assert_problem(response, 400, "validation_error")
    assert param in body["errors"]


def test_a_page_size_given_twice_is_400_validation_error(api_client, auction_create):
    auction_create()

    response = api_client.get(f"{URL}?page_size=5&page_size=7")

    body = assert_problem(response, 400, "validation_error")
    assert "page_size" in body["errors"]


def test_status_is_derived_from_the_clock_with_no_worker(api_client, auction_create, frozen_clock):
    soon = auction_create(end_time=clock.now() + timedelta(minutes=10))
    later = auction_create(end_time=clock.now() + timedelta(hours=1))

    assert set(ids(api_client.get(URL, {"status": "active"}))) == {soon.pk, later.pk}
    assert ids(api_client.get(URL, {"status": "finished"})) == []

    frozen_clock.move_to(soon.end_time)  # exactly at end_time the auction is over

    assert ids(api_client.get(URL, {"status": "active"})) == [later.pk]
    assert ids(api_client.get(URL, {"status": "finished"})) == [soon.pk]
    everything = api_client.get(URL, {"status": "all"}).json()["results"]
    assert {item["id"]: item["status"] for item in everything} == {
        soon.pk: "finished",
        later.pk: "active",
    }


def test_status_defaults_to_all(api_client, auction_create, frozen_clock):
    finished = auction_create(end_time=clock.now() + timedelta(seconds=1))
    active = auction_create()
    frozen_clock.shift(5)

    assert set(ids(api_client.get(URL))) == {finished.pk, active.pk}


@pytest.mark.parametrize("status", ["open", "ACTIVE", "closed", "1"])
def test_an_unknown_status_is_400_validation_error(api_client, status):
    response = api_client.get(URL, {"status": status})

    problem = assert_problem(response, 400, "validation_error")
    assert "status" in problem["errors"]


def test_search_looks_in_the_title_and_the_description(api_client, auction_create):
    in_title = auction_create(title="Red bicycle", description="Two wheels.")
    in_description = auction_create(title="Bell", description="Fits any Bicycle.")
    auction_create(title="Blue car", description="Four wheels.")

    assert set(ids(api_client.get(URL, {"search": "bicycle"}))) == {in_title.pk, in_description.pk}
    assert ids(api_client.get(URL, {"search": "FOUR WHEELS"})) != []
    assert ids(api_client.get(URL, {"search": "submarine"})) == []


def test_owner_filters_by_username(api_client, auction_create):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    alices = {auction_create(owner=alice).pk, auction_create(owner=alice).pk}
    auction_create(owner=bob)

    assert set(ids(api_client.get(URL, {"owner": "alice"}))) == alices
    assert ids(api_client.get(URL, {"owner": "nobody"})) == []


def test_filters_combine(api_client, auction_create, frozen_clock):
    alice = UserFactory(username="alice")
    wanted = auction_create(owner=alice, title="Lamp", end_time=clock.now() + timedelta(hours=2))
    auction_create(owner=alice, title="Lamp", end_time=clock.now() + timedelta(minutes=1))
    auction_create(owner=alice, title="Chair", end_time=clock.now() + timedelta(hours=2))
    auction_create(title="Lamp", end_time=clock.now() + timedelta(hours=2))
    frozen_clock.shift(120)

    response = api_client.get(URL, {"owner": "alice", "search": "lamp", "status": "active"})

    assert ids(response) == [wanted.pk]


@pytest.fixture
def three_auctions(auction_create, bid_place, frozen_clock):
    """a: oldest, ends last, cheapest; b: ends first, dearest; c: newest, in between."""
    start = clock.now()
    a = auction_create(starting_price="50.00", end_time=start + timedelta(hours=3))
    frozen_clock.shift(1)
    b = auction_create(starting_price="100.00", end_time=start + timedelta(hours=1))
    bid_place(b, UserFactory(), "300.00")
    frozen_clock.shift(1)
    c = auction_create(starting_price="200.00", end_time=start + timedelta(hours=2))
    return a.pk, b.pk, c.pk


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("end_time", "bca"),
        ("-end_time", "acb"),
        ("-created_at", "cba"),
        ("current_price", "acb"),
        ("-current_price", "bca"),
        (None, "cba"),  # default: newest first
    ],
)
def test_each_ordering_of_the_contract(api_client, three_auctions, ordering, expected):
    by_name = dict(zip("abc", three_auctions, strict=True))
    params = {"ordering": ordering} if ordering else {}

    assert ids(api_client.get(URL, params)) == [by_name[name] for name in expected]


@pytest.mark.parametrize("ordering", ["price", "title", "owner", "-id; DROP TABLE auctions"])
def test_an_unknown_ordering_is_400_validation_error(api_client, ordering):
    response = api_client.get(URL, {"ordering": ordering})

    problem = assert_problem(response, 400, "validation_error")
    assert "ordering" in problem["errors"]
