"""Real threads against the test database, for concurrency tests."""

import threading

import pytest
from django.db import connection


def postgres_only(reason: str):
    return pytest.mark.skipif(connection.vendor != "postgresql", reason=reason)


def run_in_threads(count: int, work, results: list | None = None) -> list[BaseException]:
    """Run `work(index)` in `count` threads at once; return what they raised. With
    `results`, a list of `count` items, each thread stores what `work` returned there.

    Each thread connects before it starts working and closes its own database connection
    when done, or the test database could not be flushed (PostgreSQL) or would leak
    handles (SQLite).
    """
    errors: list[BaseException] = []

    def target(index: int) -> None:
        try:
            connection.ensure_connection()  # connect before the start line, not after it
            value = work(index)
            if results is not None:
                results[index] = value
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return errors
