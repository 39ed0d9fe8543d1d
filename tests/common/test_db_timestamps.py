"""Timestamps are read by psycopg's own loader (common/db/base.py), with the same values
and time zone as Django's loader would give."""

from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from django.db import connection
from psycopg.postgres import types
from psycopg.pq import Format

from common.db.base import UtcTimestamptzLoader
from tests.support.threads import postgres_only

pytestmark = [
    pytest.mark.django_db,
    postgres_only("the loader is PostgreSQL's backend"),
    pytest.mark.postgres,
]

OID = types["timestamptz"].oid
INSTANTS = [
    datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC),
    datetime(2026, 12, 2, 10, 0, 0, 123456, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    # written with another offset: read back as the same instant, in UTC
    datetime(2026, 6, 1, 12, 30, 0, 500000, tzinfo=timezone(timedelta(hours=-7))),
]


def test_the_connection_reads_timestamps_with_psycopgs_loader():
    connection.ensure_connection()
    assert connection.connection.adapters.get_loader(OID, Format.TEXT) is UtcTimestamptzLoader
    loader = UtcTimestamptzLoader(OID, connection.connection)
    # psycopg's default loader for the type: its C version where psycopg[binary] is installed
    assert type(loader) is psycopg.adapters.get_loader(OID, Format.TEXT)


def test_timestamps_come_back_as_the_same_instants_in_utc():
    with connection.cursor() as cursor:
        for instant in INSTANTS:
            cursor.execute("SELECT %s::timestamptz", [instant])
            [(value,)] = cursor.fetchall()
            assert value == instant
            assert value.tzinfo is UTC
            assert value.utcoffset() == timedelta(0)
