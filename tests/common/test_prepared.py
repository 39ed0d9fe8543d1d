"""Queries compiled once (common/prepared.py): the same rows and instances as the ORM's."""

import hashlib

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.authentication import _token_by_checksum
from accounts.services import token_issue
from auctions.models import Auction
from auctions.services import bid_place
from auctions.services.locking import _auction_lock
from common import prepared
from common.prepared import (
    PreparedQuery,
    PreparedRows,
    fetch_together,
    model_insert,
    models_insert,
    pk_update,
    statement_sql,
)
from tests.factories import AuctionFactory, UserFactory

pytestmark = pytest.mark.django_db

by_id = PreparedQuery(
    lambda pk: Auction.objects.select_related("owner", "leader").filter(pk=pk), placeholder=-1
)


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_same_instance_as_the_orm_with_related_rows_attached():
    auction = AuctionFactory()
    bidder = UserFactory()
    bid_place(auction.pk, bidder=bidder, amount=auction.starting_price)
    expected = Auction.objects.select_related("owner", "leader").get(pk=auction.pk)

    got = by_id.fetch_one(auction.pk)

    assert _fields(got) == _fields(expected)  # decimals, datetimes and booleans converted
    assert got._state.adding is False
    assert got._state.db == "default"
    with CaptureQueriesContext(connection) as queries:
        assert got.owner.username == expected.owner.username
        assert got.leader.username == bidder.username
    assert len(queries) == 0  # the related rows came with the one query


def test_a_null_foreign_key_gives_none_and_a_missing_row_gives_none():
    auction = AuctionFactory()  # no leader yet
    got = by_id.fetch_one(auction.pk)
    assert got.leader is None
    assert by_id.fetch_one(auction.pk + 1000) is None


def test_one_query_per_fetch():
    auction = AuctionFactory()
    by_id.fetch_one(auction.pk)
    with CaptureQueriesContext(connection) as queries:
        by_id.fetch_one(auction.pk)
    assert len(queries) == 1


def test_reads_together_give_what_each_gives_alone_in_one_round_trip_on_postgresql():
    owner, bidder = UserFactory(), UserFactory()
    auction = AuctionFactory(owner=owner)
    bid_place(auction.pk, bidder=bidder, amount=auction.starting_price)
    token = token_issue(bidder).access_token
    checksum = hashlib.sha256(token.encode()).hexdigest()
    reads = [(_token_by_checksum, checksum), (by_id, auction.pk), (by_id, auction.pk + 1000)]
    alone = [query.fetch_one(value) for query, value in reads]
    with CaptureQueriesContext(connection) as queries:
        together = fetch_together(reads)
    assert len(queries) == (1 if connection.vendor == "postgresql" else 3)
    assert together[2] is None
    assert _fields(together[0]) == _fields(alone[0])
    assert _fields(together[0].user) == _fields(bidder)
    assert _fields(together[1]) == _fields(alone[1])
    assert _fields(together[1].leader) == _fields(bidder)
    assert together[1].current_price == auction.starting_price


def test_the_bearer_token_check_and_the_lock_are_one_query_each(make_client):
    user = UserFactory()
    token = token_issue(user).access_token

    checksum = hashlib.sha256(token.encode()).hexdigest()
    with CaptureQueriesContext(connection) as queries:
        found = _token_by_checksum.fetch_one(checksum)
    assert len(queries) == 1
    assert found.user == user
    assert found.user.username == user.username


def test_the_lock_returns_the_auction_with_its_leader():
    auction = AuctionFactory()
    with transaction.atomic():
        assert _auction_lock(auction.pk).pk == auction.pk


def test_misuse_is_refused_when_compiled():
    twice = PreparedQuery(lambda pk: Auction.objects.filter(pk=pk, owner_id=pk), placeholder=-1)
    with pytest.raises(ValueError, match="exactly once"):
        twice.fetch_one(1)
    values = PreparedQuery(lambda pk: Auction.objects.filter(pk=pk).values("id"), placeholder=-1)
    with pytest.raises(ValueError, match="model rows"):
        values.fetch_one(1)
    deferring = PreparedQuery(
        lambda pk: Auction.objects.filter(pk=pk).defer("title"), placeholder=-1
    )
    with pytest.raises(ValueError, match="only"):
        deferring.fetch_one(1)


def test_only_some_columns_are_read_and_the_others_load_when_touched():
    auction = AuctionFactory(title="Lamp")
    some = PreparedQuery(
        lambda pk: Auction.objects.filter(pk=pk).only("owner", "current_price"), placeholder=-1
    )
    with CaptureQueriesContext(connection) as queries:
        got = some.fetch_one(auction.pk)
    assert '"title"' not in statement_sql(queries[0]["sql"])
    assert (got.pk, got.owner_id, got.current_price) == (
        auction.pk,
        auction.owner_id,
        auction.current_price,
    )
    assert "title" in got.get_deferred_fields()
    assert got.title == "Lamp"  # one more query, as with the ORM's only()


# --- PreparedRows -----------------------------------------------------------------------------

prices_between = PreparedRows(
    lambda v: (
        Auction.objects.filter(owner_id=v["owner"], id__gt=v["after"], bid_count__gte=0)
        .order_by("id")
        .values_list("id", "current_price", "end_time")
    ),
    placeholders={"owner": -101, "after": -102, "unused": -103},  # "unused": not in the query
)


def test_rows_by_several_values_are_the_orms_for_each_new_set_of_values():
    ann, bob = UserFactory(), UserFactory()
    auctions = [AuctionFactory(owner=owner) for owner in (ann, ann, ann, bob)]

    for owner, after in ((ann, 0), (ann, auctions[0].pk), (bob, 0), (bob, auctions[3].pk)):
        expected = list(
            Auction.objects.filter(owner_id=owner.pk, id__gt=after)
            .order_by("id")
            .values_list("id", "current_price", "end_time")
        )
        got = prices_between.fetch({"owner": owner.pk, "after": after, "unused": 7})
        assert [tuple(row) for row in got] == expected  # decimals and datetimes converted


def test_rows_by_several_values_need_different_placeholders():
    with pytest.raises(ValueError, match="different"):
        PreparedRows(lambda v: Auction.objects.values_list("id"), placeholders={"a": -1, "b": -1})


# --- pk_update -------------------------------------------------------------------------------


def test_an_update_by_primary_keys_writes_what_the_orms_would():
    from datetime import timedelta

    from django.db.models import F

    from common import clock
    from notifications.models import Event

    now = clock.now()
    mine, orms, untouched = (
        Event.objects.create(
            kind="auction_created", auction=AuctionFactory(), created_at=now, touched_at=now
        )
        for _ in range(3)
    )
    when = now.replace(microsecond=123456) + timedelta(days=3)
    values = {"kind": Event.Kind.BID_PLACED, "expanded_at": when}

    assert pk_update(Event, [mine.pk], values, increments=["cursor"]) == 1
    Event.objects.filter(pk=orms.pk).update(**values, cursor=F("cursor") + 1)

    for event in (mine, orms):
        event.refresh_from_db()
        assert (event.kind, event.expanded_at, event.cursor) == ("bid_placed", when, 1)
    untouched.refresh_from_db()
    assert (untouched.kind, untouched.expanded_at, untouched.cursor) == ("auction_created", None, 0)
    assert pk_update(Event, [], values) == 0


def test_an_insert_writes_what_the_orms_create_would():
    from datetime import timedelta
    from decimal import Decimal

    from auctions.models import Bid
    from common import clock
    from notifications.models import Event

    auction, bidder = AuctionFactory(), UserFactory()
    now = clock.now().replace(microsecond=654321)
    bid_values = {"auction": auction, "bidder_id": bidder.pk, "created_at": now}
    mine = model_insert(Bid(amount=Decimal("10.05"), auto=True, **bid_values))
    orms = Bid.objects.create(amount=Decimal("10.06"), auto=True, **bid_values)
    assert mine.pk is not None
    assert mine.pk != orms.pk
    assert not mine._state.adding
    stored = {f.attname: getattr(Bid.objects.get(pk=mine.pk), f.attname) for f in Bid._meta.fields}
    assert stored == {
        "id": mine.pk,
        "auction_id": auction.pk,
        "bidder_id": bidder.pk,
        "amount": Decimal("10.05"),
        "auto": True,
        "created_at": now,
    }

    payload = {"amount": "10.05", "names": ["ä", None], "n": 3}
    event_values = {"auction": auction, "payload": payload, "touched_at": now + timedelta(1)}
    event = model_insert(Event(kind=Event.Kind.BID_PLACED, created_at=now, **event_values))
    orms_event = Event.objects.create(kind=Event.Kind.BID_PLACED, created_at=now, **event_values)
    got, want = (
        {f.attname: getattr(Event.objects.get(pk=e.pk), f.attname) for f in Event._meta.fields}
        for e in (event, orms_event)
    )
    assert got.pop("id") == event.pk
    want.pop("id")
    assert got == want  # defaults included
    assert got["payload"] == payload


def test_an_insert_is_refused_for_a_model_whose_key_the_database_does_not_assign():
    from django.contrib.sessions.models import Session

    from common import clock

    with pytest.raises(ValueError, match="primary key"):
        model_insert(Session(session_key="k", session_data="", expire_date=clock.now()))


def test_several_rows_are_inserted_in_order_with_their_keys_however_many():
    from common import clock
    from notifications.models import Event

    auction, now = AuctionFactory(), clock.now()
    events = [
        Event(
            kind=Event.Kind.BID_PLACED,
            auction=auction,
            payload={"n": n},
            created_at=now,
            touched_at=now,
        )
        for n in range(250)  # more than one statement's worth of parameters on SQLite
    ]
    assert models_insert(events) is events
    pks = [event.pk for event in events]
    assert None not in pks
    assert len(set(pks)) == 250
    stored = dict(Event.objects.filter(auction=auction).values_list("pk", "payload"))
    assert [stored[pk]["n"] for pk in pks] == list(range(250))
    assert models_insert([]) == []


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite's driver keeps statements in a bounded LRU"
)
def test_inserts_of_any_number_of_rows_use_a_few_statements_per_model():
    """Each distinct row count would be another SQL text kept by the process and another
    statement prepared on the server: row counts come in powers of two instead."""
    from common import clock
    from notifications.models import Event

    auction, now = AuctionFactory(), clock.now()
    table = connection.ops.quote_name(Event._meta.db_table)
    sizes = [*range(1, 140), 257, 500, 777, 1500, 3001]
    with CaptureQueriesContext(connection) as queries:
        for size in sizes:
            events = [
                Event(kind=Event.Kind.BID_PLACED, auction=auction, created_at=now, touched_at=now)
                for _ in range(size)
            ]
            models_insert(events)
            assert len({event.pk for event in events}) == size
    texts = {
        sql
        for query in queries.captured_queries
        for sql in statement_sql(query["sql"]).split("; ")
        if sql.startswith("INSERT INTO")
    }
    assert len(texts) <= 11  # 1, 2, 4 ... 1024 rows
    kept = [sql for sql in prepared._server_statements if sql.startswith(f"INSERT INTO {table}")]
    assert len(kept) <= 11
    assert Event.objects.filter(auction=auction).count() == sum(sizes)
