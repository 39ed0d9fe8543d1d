"""The database's timeouts, changed for one test."""

import contextlib
from collections.abc import Iterator

from django.db import connection


@contextlib.contextmanager
def database_timeouts(*, lock_ms: int | None = None, statement_ms: int | None = None) -> Iterator:
    """Set DATABASE_LOCK_TIMEOUT_MS / DATABASE_STATEMENT_TIMEOUT_MS (the database's
    `LOCK_TIMEOUT_MS` / `STATEMENT_TIMEOUT_MS`) for the transactions started inside, in every
    thread (the settings are shared); the values before are put back after."""
    settings_dict = connection.settings_dict
    saved = {key: settings_dict.get(key) for key in ("LOCK_TIMEOUT_MS", "STATEMENT_TIMEOUT_MS")}
    if lock_ms is not None:
        settings_dict["LOCK_TIMEOUT_MS"] = lock_ms
    if statement_ms is not None:
        settings_dict["STATEMENT_TIMEOUT_MS"] = statement_ms
    try:
        yield
    finally:
        settings_dict.update(saved)
