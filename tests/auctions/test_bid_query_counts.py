"""How many SQL statements a bid costs: pinned, so the hot path cannot grow unnoticed.

Counted inside the test's transaction, where `transaction.atomic()` is a savepoint (two
statements: SAVEPOINT and RELEASE) instead of BEGIN and COMMIT.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import AuctionFactory, UserFactory

pytestmark = pytest.mark.django_db


def _bid(client, auction, amount):
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            f"/api/v1/auctions/{auction.pk}/bids", {"amount": str(amount)}, format="json"
        )
    return response, [q["sql"].split()[0].upper() for q in queries]


def test_a_bid_below_the_price_is_two_reads_and_no_transaction(make_client):
    auction = AuctionFactory()
    first, _ = _bid(make_client(UserFactory()), auction, auction.starting_price)
    assert first.status_code == 201
    response, statements = _bid(make_client(UserFactory()), auction, auction.starting_price)
    assert response.status_code == 400
    assert statements == ["SELECT", "SELECT"]  # the token with its user; the auction


def test_an_accepted_bid_on_a_plain_auction(make_client):
    auction = AuctionFactory()
    first, second = make_client(UserFactory()), make_client(UserFactory())
    response, statements = _bid(first, auction, auction.starting_price)
    assert response.status_code == 201
    # token, early read, savepoint, lock, bid, auction; no event for the first bid
    assert statements == ["SELECT", "SELECT", "SAVEPOINT", "SELECT", "INSERT", "UPDATE", "RELEASE"]
    response, statements = _bid(second, auction, auction.starting_price + auction.price_step)
    assert response.status_code == 201
    # the same, and the outbox event that tells the first bidder
    assert statements == [
        "SELECT", "SELECT", "SAVEPOINT", "SELECT", "INSERT", "UPDATE", "INSERT", "RELEASE",
    ]  # fmt: skip
