"""The PostgreSQL health check (common/db/base.py): a connection the server ended is
replaced before the next request uses it; a healthy idle one is kept without a query."""

import select
import time

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from tests.support.threads import postgres_only

pytestmark = [
    pytest.mark.django_db(transaction=True),
    postgres_only("the health check is PostgreSQL's backend"),
    pytest.mark.postgres,
]


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _terminate(pid: int) -> None:
    params = connection.settings_dict
    with psycopg.connect(
        dbname=params["NAME"],
        user=params["USER"],
        host=params["HOST"],
        port=params["PORT"] or 5432,
        autocommit=True,
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def _wait_readable(seconds: float = 10.0) -> None:
    """Until the server's goodbye has reached the socket (it is sent asynchronously)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        readable, _, _ = select.select([connection.connection.fileno()], [], [], 0.05)
        if readable:
            return
    raise AssertionError("the terminated connection never became readable")


def test_a_healthy_idle_connection_is_usable():
    _backend_pid()
    assert connection.is_usable()
    assert connection.is_usable()  # and asking twice changes nothing


def test_a_connection_the_server_ended_is_replaced_before_the_next_request():
    old_pid = _backend_pid()
    _terminate(old_pid)
    _wait_readable()

    assert not connection.is_usable()
    connection.close_if_unusable_or_obsolete()  # what Django does as a request starts
    assert get_user_model().objects.count() >= 0  # the request's first query works
    assert _backend_pid() != old_pid
