"""A transaction's BEGIN travels with its first statement (common/db/base.py): one round trip
less per transaction, the same transactions."""

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction
from psycopg import pq

from auctions.models import Auction
from tests.factories import AuctionFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),  # real BEGIN and COMMIT, not savepoints
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend's"),
]


@pytest.fixture
def last_message():
    """The text of the last message this test's session sent, as the server saw it (read
    from another session's `pg_stat_activity`): several statements in one message show as
    one text."""
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as observer:

        def read() -> str:
            row = observer.execute(
                "SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]
            ).fetchone()
            return row[0]

        yield read


def _status() -> pq.TransactionStatus:
    return connection.connection.info.transaction_status


def test_the_begin_travels_with_the_first_statement(last_message):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT %s", ["first"])
        assert cursor.fetchone() == ("first",)  # the statement's result, not BEGIN's
        timeouts = (
            connection.settings_dict["LOCK_TIMEOUT_MS"],
            connection.settings_dict["STATEMENT_TIMEOUT_MS"],
        )
        assert last_message() == (
            f"BEGIN; SET LOCAL lock_timeout = {timeouts[0]}; "
            f"SET LOCAL statement_timeout = {timeouts[1]}; SELECT 'first'"
        )  # the transaction's timeouts too (tests/common/test_db_timeouts.py)
        assert _status() == pq.TransactionStatus.INTRANS
        cursor.execute("SELECT %s", ["second"])
        assert last_message() == "SELECT 'second'"
    assert last_message() == "COMMIT"
    assert _status() == pq.TransactionStatus.IDLE


def test_a_transaction_that_runs_nothing_never_reaches_the_server(last_message):
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s", ["before"])
    with transaction.atomic():
        pass
    assert last_message() == "SELECT 'before'"
    assert _status() == pq.TransactionStatus.IDLE


def test_outside_a_transaction_statements_autocommit_alone(last_message):
    auction = AuctionFactory()
    Auction.objects.filter(pk=auction.pk).update(title="Vase")
    assert last_message().startswith("UPDATE ")
    assert _status() == pq.TransactionStatus.IDLE
    assert Auction.objects.get(pk=auction.pk).title == "Vase"


def test_a_rollback_undoes_every_statement_including_the_first():
    auction = AuctionFactory(title="Lamp")
    with transaction.atomic():
        Auction.objects.filter(pk=auction.pk).update(title="Vase")
        Auction.objects.filter(pk=auction.pk).update(description="blue")
        transaction.set_rollback(True)
    auction.refresh_from_db()
    assert (auction.title, auction.description) != ("Vase", "blue")
    assert auction.title == "Lamp"


def test_with_autocommit_off_each_commit_or_rollback_ends_one_transaction():
    auction = AuctionFactory(title="Lamp")
    transaction.set_autocommit(False)
    try:
        Auction.objects.filter(pk=auction.pk).update(title="Vase")
        transaction.rollback()
        assert _status() == pq.TransactionStatus.IDLE
        Auction.objects.filter(pk=auction.pk).update(title="Bowl")
        assert _status() == pq.TransactionStatus.INTRANS  # the next one began again
        transaction.commit()
    finally:
        transaction.set_autocommit(True)
    assert Auction.objects.get(pk=auction.pk).title == "Bowl"


def test_a_first_statement_that_fails_leaves_a_transaction_to_roll_back():
    auction = AuctionFactory(title="Lamp")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 1 / 0")
    assert _status() == pq.TransactionStatus.IDLE
    with transaction.atomic():
        Auction.objects.filter(pk=auction.pk).update(title="Vase")
    assert Auction.objects.get(pk=auction.pk).title == "Vase"


def test_a_statement_that_never_left_keeps_the_begin_for_the_next():
    auction = AuctionFactory(title="Lamp")
    with transaction.atomic():
        with pytest.raises(DatabaseError, match="cannot adapt"), connection.cursor() as cursor:
            cursor.execute("SELECT %s", [object()])  # psycopg cannot send this
        assert _status() == pq.TransactionStatus.IDLE
        Auction.objects.filter(pk=auction.pk).update(title="Vase")
        assert _status() == pq.TransactionStatus.INTRANS
        transaction.set_rollback(True)
    assert Auction.objects.get(pk=auction.pk).title == "Lamp"  # the update was inside


def test_a_named_cursor_reads_inside_the_transaction():
    AuctionFactory(title="Lamp")
    with transaction.atomic():
        AuctionFactory(title="Vase")
        titles = {a.title for a in Auction.objects.iterator(chunk_size=1)}
        transaction.set_rollback(True)
    assert titles == {"Lamp", "Vase"}
    assert set(Auction.objects.values_list("title", flat=True)) == {"Lamp"}
