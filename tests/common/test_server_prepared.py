"""Statements PostgreSQL keeps prepared (common/prepared.py): prepared once per session, in
the same round trip as their first use, then run by name; the record of them follows the
session, survives rollbacks, and recovers from errors; off by the database's settings."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from auctions.models import Auction, Bid
from common import prepared
from common.prepared import PreparedQuery, fetch_together, model_insert, pk_update, statement_sql
from tests.factories import AuctionFactory, UserFactory

# Each test closes and opens sessions: outside a test transaction, which would end with them.
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL prepares"),
    pytest.mark.usefixtures("fresh_session"),
]

title_of = PreparedQuery(lambda pk: Auction.objects.filter(pk=pk).only("title"), placeholder=-1)


def _server_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def _fresh_session() -> None:
    connection.close()
    connection.ensure_connection()


@pytest.fixture
def fresh_session():
    """A test with a session of its own: the record starts empty."""
    _fresh_session()
    yield
    _fresh_session()


def _sent(queries) -> list[str]:
    return [query["sql"] for query in queries]


def test_the_first_use_prepares_in_the_same_round_trip_and_later_ones_execute():
    auction = AuctionFactory(title="Lamp")
    with CaptureQueriesContext(connection) as queries:
        first = title_of.fetch_one(auction.pk)
        second = title_of.fetch_one(auction.pk)
    assert first.title == second.title == "Lamp"
    prepare, execute = _sent(queries)
    assert prepare.startswith("PREPARE stmt_")
    assert "; EXECUTE stmt_" in prepare
    assert execute.startswith("EXECUTE stmt_")
    assert "PREPARE" not in execute
    assert "auctions_auction" in statement_sql(execute)
    assert connection.prepared_statements <= _server_names()
    assert len(connection.prepared_statements) == 1


def test_reads_together_prepare_each_statement_once():
    auction = AuctionFactory(title="Lamp")
    other = PreparedQuery(lambda pk: Auction.objects.filter(pk=pk), placeholder=-1)
    reads = [(title_of, auction.pk), (other, auction.pk), (title_of, auction.pk + 1000)]
    with CaptureQueriesContext(connection) as queries:
        got = fetch_together(reads)
        again = fetch_together(reads)
    assert [a.title if a else None for a in got] == ["Lamp", "Lamp", None]
    assert [a.title if a else None for a in again] == ["Lamp", "Lamp", None]
    first, second = _sent(queries)
    assert first.count("PREPARE ") == 2
    assert first.count("EXECUTE ") == 3
    assert "PREPARE" not in second


def test_a_new_session_prepares_again():
    auction = AuctionFactory(title="Lamp")
    title_of.fetch_one(auction.pk)
    _fresh_session()
    assert connection.prepared_statements == set()
    with CaptureQueriesContext(connection) as queries:
        assert title_of.fetch_one(auction.pk).title == "Lamp"
    assert _sent(queries)[0].startswith("PREPARE ")


def test_a_statement_prepared_in_a_transaction_rolled_back_is_still_there():
    auction = AuctionFactory(title="Lamp")
    with transaction.atomic():
        title_of.fetch_one(auction.pk)
        transaction.set_rollback(True)
    with CaptureQueriesContext(connection) as queries:
        assert title_of.fetch_one(auction.pk).title == "Lamp"
    assert _sent(queries)[0].startswith("EXECUTE ")


def test_after_an_error_the_next_message_starts_over():
    auction = AuctionFactory()
    bidder = UserFactory()
    bid = Bid(auction=auction, bidder=bidder, amount=auction.starting_price)
    bid.created_at = auction.created_at
    model_insert(bid)
    twin = Bid(auction=auction, bidder=bidder, amount=auction.starting_price)
    twin.created_at = auction.created_at
    with pytest.raises(IntegrityError), transaction.atomic():
        model_insert(twin)  # the same amount twice: the unique constraint refuses it
    assert connection.prepared_unsure
    with CaptureQueriesContext(connection) as queries:
        assert title_of.fetch_one(auction.pk).pk == auction.pk
    assert _sent(queries)[0].startswith("DEALLOCATE ALL; PREPARE ")
    assert not connection.prepared_unsure
    assert connection.prepared_statements == _server_names()


def test_a_statement_the_session_lost_is_prepared_again_after_the_error():
    auction = AuctionFactory(title="Lamp")
    title_of.fetch_one(auction.pk)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as a pooler's reset would
    with pytest.raises(Exception, match="does not exist"), transaction.atomic():
        title_of.fetch_one(auction.pk)
    assert title_of.fetch_one(auction.pk).title == "Lamp"


def test_updates_and_inserts_run_prepared_and_count_their_rows():
    auction = AuctionFactory()
    other = AuctionFactory()
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            count = pk_update(Auction, [auction.pk, other.pk], {"title": "50% off"})
        assert count == 2
    assert _sent(queries)[0].startswith("EXECUTE ")
    assert set(Auction.objects.values_list("title", flat=True)) == {"50% off"}


def test_a_session_holds_at_most_so_many(monkeypatch):
    monkeypatch.setattr(prepared, "MAX_PREPARED_PER_SESSION", 1)
    auction = AuctionFactory(title="Lamp")
    title_of.fetch_one(auction.pk)
    with CaptureQueriesContext(connection) as queries:
        pk_update(Auction, [auction.pk], {"title": "Vase"})
    assert _sent(queries)[0].startswith("UPDATE ")
    assert len(connection.prepared_statements) == 1
    assert title_of.fetch_one(auction.pk).title == "Vase"


def test_off_in_the_settings_every_statement_is_sent_as_text():
    connection.close()
    connection.settings_dict["PREPARED_STATEMENTS"] = False
    try:
        auction = AuctionFactory(title="Lamp")
        with CaptureQueriesContext(connection) as queries:
            assert title_of.fetch_one(auction.pk).title == "Lamp"
            pk_update(Auction, [auction.pk], {"title": "Vase"})
        assert [sql.split()[0] for sql in _sent(queries)] == ["SELECT", "UPDATE"]
        assert connection.prepared_statements is None
    finally:
        connection.close()
        connection.settings_dict["PREPARED_STATEMENTS"] = True
