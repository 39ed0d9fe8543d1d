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

Selected by `config/settings.py` for every PostgreSQL `DATABASE_URL`.
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
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
