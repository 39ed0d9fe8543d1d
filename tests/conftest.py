"""Shared fixtures: API clients with and without a token, users, and a cleared cache."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.services import token_issue
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters, and the per-process read caches: tests roll back and reuse ids,
    which production never does (auctions and bids are never deleted)."""
    from auctions.selectors import _recent_bids_cache
    from common.pagination import _counts

    for clear in (cache.clear, _recent_bids_cache.clear, _counts.clear):
        clear()
    yield
    for clear in (cache.clear, _recent_bids_cache.clear, _counts.clear):
        clear()


@pytest.fixture
def api_client() -> APIClient:
    """An anonymous client."""
    return APIClient()


@pytest.fixture
def make_client():
    """A client that carries `user`'s bearer token."""

    def make(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_issue(user).access_token}")
        client.user = user
        return client

    return make


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def client_for(make_client, db):
    """`client_for("alice")`: a token-carrying client for a new user of that name."""

    def make(username: str) -> APIClient:
        return make_client(UserFactory(username=username))

    return make


# --- Auctions and bids, built through the services ----------------------------------------


@pytest.fixture
def auction_create(db):
    """`auction_create(owner=..., **overrides)`: an active auction made by the service.

    Defaults: starting price 100.00, step 5.00, USD, ending in 30 minutes (well inside an
    access token's hour, so a test may move the clock to the end and still bid).
    """
    from datetime import timedelta
    from decimal import Decimal

    from auctions import services
    from common import clock

    def make(*, owner=None, **overrides):
        fields = {
            "title": "A fine thing",
            "description": "Hardly used.",
            "starting_price": Decimal("100.00"),
            "price_step": Decimal("5.00"),
            "end_time": clock.now() + timedelta(minutes=30),
        }
        fields.update(overrides)
        for money in ("starting_price", "price_step"):
            fields[money] = Decimal(str(fields[money]))
        return services.auction_create(owner=owner or UserFactory(), **fields)

    return make


@pytest.fixture
def bid_place(db):
    """`bid_place(auction, bidder, "105.00")`: a bid placed by the service."""
    from decimal import Decimal

    from auctions import services

    def place(auction, bidder, amount):
        return services.bid_place(auction.pk, bidder=bidder, amount=Decimal(str(amount)))

    return place


@pytest.fixture
def frozen_clock():
    """The clock stands still at the real current instant; move it with `.shift(seconds)`
    or `.move_to(datetime)`. Tokens issued while it is frozen stay valid for an hour of it."""
    import time_machine
    from django.utils import timezone

    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller
