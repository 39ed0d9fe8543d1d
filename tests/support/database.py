"""The database's timeouts, changed for one test."""

import contextlib
import threading
from collections.abc import Iterator

from django.db import connection, transaction


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


@contextlib.contextmanager
def auction_row_locked(auction_pk: int) -> Iterator:
    """Another connection holds the auction's row lock (`SELECT ... FOR UPDATE` in an open
    transaction) while the block runs; released, and its thread joined, after. Fails the test
    if the holder failed."""
    from auctions.models import Auction
    from tests.support.threads import run_in_threads

    held, release = threading.Event(), threading.Event()

    def holder(_: int) -> None:
        with transaction.atomic():
            Auction.objects.select_for_update().get(pk=auction_pk)
            held.set()
            release.wait(timeout=30)

    errors: list[BaseException] = []
    thread = threading.Thread(target=lambda: errors.extend(run_in_threads(1, holder)), daemon=True)
    thread.start()
    try:
        assert held.wait(timeout=10), "the holder never got the lock"
        yield
    finally:
        release.set()
        thread.join(timeout=30)
    assert errors == []
