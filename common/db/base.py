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

A transaction's BEGIN travels in the same message as its first statement. psycopg, outside
autocommit mode, sends BEGIN on its own before a transaction's first statement: one round
trip more for every transaction (a new bid's is seven, five without the BEGIN and COMMIT).
So the psycopg connection stays in autocommit mode, and when Django leaves autocommit
(`transaction.atomic()`, `set_autocommit(False)`) a BEGIN is held until the next statement
and sent ahead of it in one message (`BeginAheadCursor`); COMMIT and ROLLBACK are psycopg's,
which send them when the server has a transaction open. A transaction in which nothing was
executed never reaches the server.

The database's timeouts travel with that BEGIN: `SET LOCAL lock_timeout` and `SET LOCAL
statement_timeout` (`LOCK_TIMEOUT_MS` and `STATEMENT_TIMEOUT_MS` in the database's settings)
ride in the same message, so every transaction has them at no extra round trip, and they end
with it. A connection pooler keeps them whatever its mode, since they live and die inside one
transaction, on the one server session the pooler gave it. A startup parameter
(`options=-c lock_timeout=...`) would not do: PgBouncer refuses the connection, or drops the
parameter when told to ignore it. Statements outside a transaction (the API's reads) get the
same values from a session `SET` sent once per new connection: kept by a direct connection
and by session pooling; behind a pooler in transaction mode set them on the role too
(`ALTER ROLE ... SET statement_timeout = ...`), which every server session starts with.

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


_IDLE = pq.TransactionStatus.IDLE


def _begin_pending(connection: psycopg.Connection) -> bool:
    return getattr(connection, "begin_pending", False)


def _timeouts(settings_dict: dict) -> list[tuple[str, int]]:
    """The (parameter, milliseconds) pairs the database's settings ask for; 0 turns one off."""
    pairs = [
        ("lock_timeout", settings_dict.get("LOCK_TIMEOUT_MS")),
        ("statement_timeout", settings_dict.get("STATEMENT_TIMEOUT_MS")),
    ]
    return [(name, int(value)) for name, value in pairs if value is not None]


def _begin_statements(timeouts: list[tuple[str, int]]) -> tuple[str, int]:
    """The text that opens a transaction with its timeouts, and how many results it has."""
    statements = ["BEGIN", *(f"SET LOCAL {name} = {value}" for name, value in timeouts)]
    return "; ".join(statements) + "; ", len(statements)


class BeginAheadCursor(base.Cursor):
    """Django's psycopg cursor, sending a held BEGIN (`DatabaseWrapper._set_autocommit`)
    ahead of the statement it executes, in one message, and leaving the cursor on that
    statement's result, as if the BEGIN had gone on its own."""

    def execute(self, query, params=None, **kwargs):
        connection = self.connection
        if not _begin_pending(connection):
            return super().execute(query, params, **kwargs)
        if not isinstance(query, str) or kwargs.get("prepare") or kwargs.get("binary"):
            _begin_now(connection)
            return super().execute(query, params, **kwargs)
        begin, results = connection.begin_statements
        try:
            super().execute(begin + query, params, **kwargs)
        except BaseException:
            # Sent (the server opened the transaction, whatever failed after), or not.
            if connection.info.transaction_status != _IDLE:
                connection.begin_pending = False
            raise
        connection.begin_pending = False
        for _ in range(results):
            self.nextset()  # past the results of BEGIN and the SETs, to the statement's
        return self

    def executemany(self, query, params_seq, **kwargs):
        _begin_now(self.connection)
        return super().executemany(query, params_seq, **kwargs)

    def copy(self, statement, params=None, **kwargs):
        _begin_now(self.connection)
        return super().copy(statement, params, **kwargs)

    def stream(self, query, params=None, **kwargs):
        _begin_now(self.connection)
        return super().stream(query, params, **kwargs)


def _begin_now(connection: psycopg.Connection) -> None:
    """Send a held BEGIN on its own (before what cannot carry it)."""
    if _begin_pending(connection):
        connection.begin_pending = False
        # No parameters: psycopg sends the statements as one simple-protocol message.
        connection.execute(connection.begin_statements[0])


class DatabaseWrapper(base.DatabaseWrapper):
    # The names of the statements prepared on the current session (`common.prepared`), or
    # None where statements are not to be prepared; `prepared_unsure` after an error that
    # may have left one prepared unrecorded (the next use starts with DEALLOCATE ALL).
    prepared_statements: set[str] | None = None
    prepared_unsure: bool = False
    _begin_for: tuple = ((), ("BEGIN; ", 1))  # (timeouts, `_begin_statements` of them)

    def get_new_connection(self, conn_params: dict) -> psycopg.Connection:
        connection = super().get_new_connection(conn_params)
        connection.cursor_factory = BeginAheadCursor
        connection.begin_pending = False
        connection.begin_statements = self._begin_statements()
        # A new session has no prepared statement.
        self.prepared_statements = set() if self.settings_dict.get("PREPARED_STATEMENTS") else None
        self.prepared_unsure = False
        if self.timezone is UTC and self.timezone_name == "UTC":
            connection.adapters.register_loader(_TIMESTAMPTZ_OID, UtcTimestamptzLoader)
        return connection

    def _begin_statements(self) -> tuple[str, int]:
        """`_begin_statements` of the current settings (read at every transaction, so a
        change to them applies from the next one), remembered while they stay the same."""
        timeouts = _timeouts(self.settings_dict)
        if timeouts != self._begin_for[0]:
            self._begin_for = (timeouts, _begin_statements(timeouts))
        return self._begin_for[1]

    def _configure_connection(self, connection: psycopg.Connection) -> bool:
        """Django's session setup, and the timeouts for statements run outside a
        transaction: a session `SET`, once per new connection (see the module docstring)."""
        commit = super()._configure_connection(connection)
        timeouts = _timeouts(self.settings_dict)
        if timeouts:
            with connection.cursor() as cursor:
                cursor.execute("; ".join(f"SET {name} = {value}" for name, value in timeouts))
            commit = True
        return commit

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

    def _set_autocommit(self, autocommit: bool) -> None:
        """Django's autocommit on and off, with psycopg's left on: off holds a BEGIN for the
        next statement (`BeginAheadCursor`); on drops one still held (nothing was run)."""
        connection = self.connection
        with self.wrap_database_errors:
            if not connection.autocommit:
                connection.autocommit = True  # a new connection: psycopg starts without
        connection.begin_pending = not autocommit
        if not autocommit:
            connection.begin_statements = self._begin_statements()

    def _commit(self) -> None:
        super()._commit()
        self._begin_again()

    def _rollback(self) -> None:
        super()._rollback()
        self._begin_again()

    def _begin_again(self) -> None:
        # With autocommit off, the statement after a COMMIT or ROLLBACK starts a new
        # transaction, as psycopg's would.
        if self.connection is not None and not self.get_autocommit():
            self.connection.begin_pending = True

    def create_cursor(self, name: str | None = None):
        if name and self.connection is not None:
            # A named cursor is declared by psycopg itself: the transaction starts first.
            _begin_now(self.connection)
        return super().create_cursor(name)
