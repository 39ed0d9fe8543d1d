"""A worker keeps its database connection from one task to the next, as Django keeps one
from one request to the next (CONN_MAX_AGE), instead of a new PostgreSQL session per task."""

import pytest
from django.db import connection

from tests.notifications.test_delivery_end_to_end import bid, create_auction
from tests.support.threads import postgres_only
from tests.support.worker import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    postgres_only("SQLite connections are closed after every task by design"),
]


def _database_now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        [(now,)] = cursor.fetchall()
    return now


def _other_sessions_opened_between(start, end) -> list[int]:
    """Pids of the open sessions on the test database, other than this test's own, that
    were opened between `start` and `end`."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT pid FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
              AND backend_start > %s AND backend_start < %s
            """,
            [start, end],
        )
        return [pid for (pid,) in cursor.fetchall()]


def test_a_worker_thread_reuses_its_connection_across_tasks(client_for, mailbox, start_worker):
    owner = client_for("owner")
    ann, bob, cat = client_for("ann"), client_for("bob"), client_for("cat")
    before_worker = _database_now()
    start_worker(concurrency=1)
    auction = create_auction(owner, title="Old clock")
    wait_for(lambda: len(mailbox.to("ann@example.com")) == 1)  # the new-auction email
    between_tasks = _database_now()

    bid(ann, auction["id"], "100.00")
    bid(bob, auction["id"], "105.00")
    bid(cat, auction["id"], "110.00")
    wait_for(lambda: len(mailbox.to("ann@example.com")) == 3)
    wait_for(lambda: len(mailbox.to("bob@example.com")) == 2)

    # The worker's one thread sent the later messages on the session that sent the first.
    assert len(_other_sessions_opened_between(before_worker, between_tasks)) == 1
