"""Django's PostgreSQL backend with a health check that costs no round trip.

With `CONN_HEALTH_CHECKS`, Django checks a persistent connection before a request reuses
it, by running `SELECT 1`. On a small machine that round trip was about a fifth of the API
worker's time on the hottest request (a bid that loses), as much as the bid's own reads.

The server never speaks first on an idle connection, except to end it (a restart, an
administrator's `pg_terminate_backend`, an idle timeout): it then sends an error and
closes the socket. So an idle connection whose socket has nothing to read is healthy, and
one with something to read is checked the usual way (`SELECT 1`, which then fails and
Django reconnects). Asking the socket is one non-blocking `select()`: no network, no server
process woken. A connection that is not idle (inside a transaction, or broken) gets
Django's own check.

Timestamps are read by psycopg's own loader. Django registers a timestamptz loader of its
own on every connection, a subclass of psycopg's pure-Python one (to set the time zone it
wants), so the C loader of psycopg[binary] is never used: about 2 µs per value instead of
0.2, 80 values on a page of the auction list, 100 in an auction's detail. When Django's
time zone is UTC, which is what the connection is set to and what psycopg's loader then
returns, psycopg's loader is registered instead (`UtcTimestamptzLoader`).

The statements the hot path repeats are kept prepared on each session
(`common.prepared`): the backend knows which ones the current session has
(`prepared_statements`, emptied with every new session), and whether it may use them at all
(`PREPARED_STATEMENTS` in the database's settings, off behind a connection pooler that
hands a client another server session between transactions).

Selected by `config/settings.py` for every PostgreSQL `DATABASE_URL`.
"""

import select
from datetime import UTC

import psycopg
from django.db.backends.postgresql import base
from psycopg import pq
from psycopg.adapt import Loader
from psycopg.postgres import types

_TIMESTAMPTZ_OID = types["timestamptz"].oid
# psycopg's default loader: the C one with psycopg[binary] (or psycopg-c), else Python's.
_TIMESTAMPTZ_LOADER = psycopg.adapters.get_loader(_TIMESTAMPTZ_OID, pq.Format.TEXT)


class UtcTimestamptzLoader:
    """Registered as a loader class; makes psycopg's own timestamptz loaders.

    psycopg's C loader cannot be subclassed, and Django checks the `timezone` of the
    connection's loader class before each cursor (`create_cursor`), registering its own
    again when it differs: this class carries the `timezone` Django looks for. The loaders
    it makes read the connection's TimeZone, which Django sets to UTC, and return aware
    datetimes in `datetime.UTC`, as Django's loader does.
    """

    format = pq.Format.TEXT
    timezone = UTC

    def __new__(cls, oid: int, context=None) -> Loader:
        return _TIMESTAMPTZ_LOADER(oid, context)


class DatabaseWrapper(base.DatabaseWrapper):
    # The names of the statements prepared on the current session (`common.prepared`), or
    # None where statements are not to be prepared; `prepared_unsure` after an error that
    # may have left one prepared unrecorded (the next use starts with DEALLOCATE ALL).
    prepared_statements: set[str] | None = None
    prepared_unsure: bool = False

    def get_new_connection(self, conn_params: dict) -> psycopg.Connection:
        connection = super().get_new_connection(conn_params)
        # A new session has no prepared statement.
        self.prepared_statements = set() if self.settings_dict.get("PREPARED_STATEMENTS") else None
        self.prepared_unsure = False
        if self.timezone is UTC and self.timezone_name == "UTC":
            connection.adapters.register_loader(_TIMESTAMPTZ_OID, UtcTimestamptzLoader)
        return connection

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != pq.TransactionStatus.IDLE:
            return super().is_usable()
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable or super().is_usable()
