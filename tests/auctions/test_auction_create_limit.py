"""AUCTION_CREATE_LIMIT: each new auction emails every user, so one account may create only
so many per period; past it, a 429 `auction_create_limit_reached` with Retry-After."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from auctions import services
from auctions.errors import AuctionCreateLimitReached
from auctions.models import Auction
from common import clock
from config.settings import env_rate
from tests.common.assertions import assert_problem
from tests.factories import UserFactory

URL = "/api/v1/auctions"


def payload() -> dict:
    return {
        "title": "Antique clock",
        "description": "Still ticks.",
        "starting_price": "100.00",
        "price_step": "5.00",
        "end_time": (clock.now() + timedelta(days=2)).isoformat(),
    }


@pytest.fixture
def two_per_hour(settings):
    settings.AUCTION_CREATE_LIMIT = (2, 3600)


@pytest.mark.django_db
def test_the_auction_past_the_limit_is_429_with_retry_after_and_is_not_created(
    client_for, two_per_hour, frozen_clock
):
    alice = client_for("alice")
    assert alice.post(URL, payload(), format="json").status_code == 201
    frozen_clock.shift(100)
    assert alice.post(URL, payload(), format="json").status_code == 201
    frozen_clock.shift(100)

    response = alice.post(URL, payload(), format="json")

    body = assert_problem(response, 429, "auction_create_limit_reached")
    # A place frees when the first auction, 200 s old, leaves the hour.
    assert response["Retry-After"] == "3400"
    assert body["retry_after"] == 3400
    assert Auction.objects.filter(owner=alice.user).count() == 2


@pytest.mark.django_db
def test_the_limit_counts_per_owner(client_for, two_per_hour):
    alice, bob = client_for("alice"), client_for("bob")
    for _ in range(2):
        assert alice.post(URL, payload(), format="json").status_code == 201

    assert bob.post(URL, payload(), format="json").status_code == 201
    assert_problem(alice.post(URL, payload(), format="json"), 429, "auction_create_limit_reached")


@pytest.mark.django_db
def test_a_place_frees_when_the_oldest_auction_leaves_the_period(
    client_for, settings, frozen_clock
):
    settings.AUCTION_CREATE_LIMIT = (2, 600)  # within the access token's hour
    alice = client_for("alice")
    assert alice.post(URL, payload(), format="json").status_code == 201
    frozen_clock.shift(100)
    assert alice.post(URL, payload(), format="json").status_code == 201
    frozen_clock.shift(499)
    assert_problem(alice.post(URL, payload(), format="json"), 429, "auction_create_limit_reached")

    frozen_clock.shift(1)

    assert alice.post(URL, payload(), format="json").status_code == 201, "a place freed"
    assert_problem(alice.post(URL, payload(), format="json"), 429, "auction_create_limit_reached")


@pytest.mark.django_db
def test_without_a_limit_any_number_of_auctions_is_created(client_for, settings):
    settings.AUCTION_CREATE_LIMIT = None
    alice = client_for("alice")

    statuses = {alice.post(URL, payload(), format="json").status_code for _ in range(5)}

    assert statuses == {201}


def test_the_default_limit_is_100_auctions_a_day(monkeypatch):
    monkeypatch.delenv("AUCTION_CREATE_LIMIT", raising=False)

    assert env_rate("AUCTION_CREATE_LIMIT", "100/day") == (100, 86400)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("20/hour", (20, 3600)), ("5/m", (5, 60)), ("0/day", (0, 86400)), ("none", None), ("", None)],
)
def test_the_limit_is_read_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("AUCTION_CREATE_LIMIT", value)

    assert env_rate("AUCTION_CREATE_LIMIT", "100/day") == expected


@pytest.mark.parametrize("value", ["100", "lots/day", "10/fortnight", "-1/day"])
def test_a_malformed_limit_stops_the_service_from_starting(monkeypatch, value):
    monkeypatch.setenv("AUCTION_CREATE_LIMIT", value)

    with pytest.raises(ImproperlyConfigured):
        env_rate("AUCTION_CREATE_LIMIT", "100/day")


def test_the_schema_documents_the_429(db):
    from rest_framework.test import APIClient

    schema = APIClient().get("/api/v1/schema", {"format": "json"}).json()

    responses = schema["paths"]["/api/v1/auctions"]["post"]["responses"]
    assert "auction_create_limit_reached" in responses["429"]["description"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_creations_by_one_owner_never_pass_the_limit(settings):
    """Eight creations at once by one owner, with room for three: exactly three land (the
    owner's row lock on PostgreSQL, the immediate write transaction on SQLite)."""
    settings.AUCTION_CREATE_LIMIT = (3, 3600)
    owner = UserFactory()
    barrier = threading.Barrier(8)
    outcomes: list[object] = [None] * 8

    def create(i: int) -> None:
        from django.db import connection

        try:
            barrier.wait()
            outcomes[i] = services.auction_create(
                owner=owner,
                title=f"Lot {i}",
                description="",
                starting_price=Decimal("1.00"),
                price_step=Decimal("1.00"),
                end_time=clock.now() + timedelta(hours=1),
            )
        except Exception as exc:
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    created = [o for o in outcomes if isinstance(o, Auction)]
    refused = [o for o in outcomes if isinstance(o, AuctionCreateLimitReached)]
    assert (len(created), len(refused)) == (3, 5), outcomes
    assert Auction.objects.filter(owner=owner).count() == 3
