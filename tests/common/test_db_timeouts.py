"""PostgreSQL's `lock_timeout` and `statement_timeout`, set where a connection pooler keeps
them: at the start of every transaction (`SET LOCAL`, in the BEGIN's message) and of every
session, never as a startup parameter (which PgBouncer refuses or drops)."""

import pytest
from django.conf import settings
from django.db import OperationalError, connection, transaction

from auctions.models import Auction, Bid
from common.errors import problem_exception_handler
from tests.factories import AuctionFactory, UserFactory
from tests.support.database import auction_row_locked, database_timeouts
from tests.support.probe import python_probe
from tests.support.threads import postgres_only

on_postgres = postgres_only("lock_timeout and statement_timeout are PostgreSQL's")


def show(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


def test_a_statement_timeout_is_a_503_busy_with_retry_after():
    error = OperationalError("canceling statement due to statement timeout")

    response = problem_exception_handler(error, {})

    assert response.status_code == 503
    assert response.data["code"] == "busy"
    assert response.data["detail"] == "The database took too long to answer; retry shortly."
    assert response["Retry-After"] == "1"


def test_the_timeouts_come_from_the_environment():
    probe = (
        "import django; django.setup(); from django.conf import settings; "
        "db = settings.DATABASES['default']; "
        "print(db['LOCK_TIMEOUT_MS'], db['STATEMENT_TIMEOUT_MS'], 'options' in db['OPTIONS'])"
    )
    printed = python_probe(
        probe,
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none",
        DATABASE_LOCK_TIMEOUT_MS="1500",
        DATABASE_STATEMENT_TIMEOUT_MS="0",
    )
    assert printed == "1500 0 False"


@on_postgres
@pytest.mark.django_db
def test_no_startup_options_parameter_is_sent():
    connection.ensure_connection()

    assert "options" not in settings.DATABASES["default"].get("OPTIONS", {})
    assert "options" not in connection.get_connection_params()
    assert "options" not in connection.connection.info.get_parameters()  # as psycopg sent them


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_every_transaction_sets_its_timeouts_whatever_the_session_has():
    """A pooler in transaction mode may hand the transaction a server session with any
    setting: the transaction sets its own."""
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = 0; SET statement_timeout = 0")
    with database_timeouts(lock_ms=1500, statement_ms=2500), transaction.atomic():
        inside = show("lock_timeout"), show("statement_timeout")
    after = show("lock_timeout"), show("statement_timeout")
    connection.close()  # the next test starts a session with the usual settings

    assert inside == ("1500ms", "2500ms")
    assert after == ("0", "0")  # SET LOCAL: gone with the transaction


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_new_session_has_both_timeouts_for_statements_outside_a_transaction():
    with database_timeouts(lock_ms=1500, statement_ms=2500):
        connection.close()
        session = show("lock_timeout"), show("statement_timeout")
    connection.close()  # the next test starts a session with the usual settings

    assert session == ("1500ms", "2500ms")


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_statement_past_statement_timeout_is_cut_and_rolled_back():
    auction = AuctionFactory(title="Lamp")

    def sleep_after_an_update() -> None:
        with transaction.atomic():
            Auction.objects.filter(pk=auction.pk).update(title="Vase")
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_sleep(30)")

    with (
        database_timeouts(statement_ms=100),
        pytest.raises(OperationalError, match="statement timeout"),
    ):
        sleep_after_an_update()
    assert Auction.objects.get(pk=auction.pk).title == "Lamp"


@on_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_a_bid_cut_by_statement_timeout_is_503_busy_not_500(make_client):
    """No lock timeout at all: the statement timeout alone ends the bid's wait for a lock
    that another transaction holds."""
    auction = AuctionFactory()
    client = make_client(UserFactory())

    with auction_row_locked(auction.pk), database_timeouts(lock_ms=0, statement_ms=200):
        response = client.post(
            f"/api/v1/auctions/{auction.pk}/bids", {"amount": "500.00"}, format="json"
        )

    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "busy"
    assert response.json()["detail"] == "The database took too long to answer; retry shortly."
    assert not Bid.objects.filter(auction=auction).exists()
