"""How many SQL statements a bid costs: pinned, so the hot path cannot grow unnoticed.

Counted inside the test's transaction, where `transaction.atomic()` is a savepoint (two
statements: SAVEPOINT and RELEASE) instead of BEGIN and COMMIT. Counted as Django counts
them, one per round trip: on PostgreSQL the token and the auction's committed read travel
together (`common.prepared.fetch_together`), elsewhere one after the other. On PostgreSQL the
statements run as EXECUTE of statements prepared on the session: read through
`statement_sql`, which gives the SQL each one runs.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common.prepared import statement_sql
from tests.factories import AuctionFactory, UserFactory

pytestmark = pytest.mark.django_db


def _reads() -> list[str]:
    """The token with its user, and the auction: one round trip on PostgreSQL."""
    return ["SELECT"] if connection.vendor == "postgresql" else ["SELECT", "SELECT"]


def _bid(client, auction, amount):
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            f"/api/v1/auctions/{auction.pk}/bids", {"amount": str(amount)}, format="json"
        )
    return response, [statement_sql(q["sql"]).split()[0].upper() for q in queries]


def test_a_bid_below_the_price_is_two_reads_and_no_transaction(make_client):
    auction = AuctionFactory()
    first, _ = _bid(make_client(UserFactory()), auction, auction.starting_price)
    assert first.status_code == 201
    response, statements = _bid(make_client(UserFactory()), auction, auction.starting_price)
    assert response.status_code == 400
    assert statements == _reads()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one round trip on PostgreSQL only")
def test_on_postgresql_the_token_and_the_auction_are_read_in_one_round_trip(make_client):
    auction = AuctionFactory()
    client = make_client(UserFactory())
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            f"/api/v1/auctions/{auction.pk}/bids", {"amount": "0.01"}, format="json"
        )
    assert response.status_code == 400
    assert response.json()["code"] == "bid_too_low"
    (read,) = queries
    sql = statement_sql(read["sql"])
    assert "oauth2_provider_accesstoken" in sql
    assert "auctions_auction" in sql


def test_an_accepted_bid_on_a_plain_auction(make_client):
    auction = AuctionFactory()
    first, second = make_client(UserFactory()), make_client(UserFactory())
    response, statements = _bid(first, auction, auction.starting_price)
    assert response.status_code == 201
    # token, early read, savepoint, lock, bid, auction; no event for the first bid
    assert statements == [*_reads(), "SAVEPOINT", "SELECT", "INSERT", "UPDATE", "RELEASE"]
    response, statements = _bid(second, auction, auction.starting_price + auction.price_step)
    assert response.status_code == 201
    # the same, and the outbox event that tells the first bidder
    assert statements == [*_reads(), "SAVEPOINT", "SELECT", "INSERT", "UPDATE", "INSERT", "RELEASE"]
