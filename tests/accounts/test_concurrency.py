"""Races on accounts and tokens, with real threads and real transactions.

Runs on both backends: on PostgreSQL the row lock and the unique indexes decide, on
SQLite the immediate write transactions serialise the contenders.
"""

import threading
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from oauth2_provider.models import RefreshToken

from accounts import services
from accounts.errors import EmailTaken, InvalidToken, UsernameTaken
from tests.accounts.helpers import PASSWORD

User = get_user_model()
THREADS = 8

pytestmark = pytest.mark.django_db(transaction=True)


def race(action: Callable[[int], object]) -> list[object]:
    """Run `action(i)` in THREADS threads started together; results or raised errors."""
    barrier = threading.Barrier(THREADS)
    results: list[object] = [None] * THREADS

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = action(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_refreshes_of_one_token_give_exactly_one_new_pair(settings):
    # Only the row lock is under test: with reuse protection on, the losers' replays would
    # also revoke the winner's new pair (test_tokens covers that rule).
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "REFRESH_TOKEN_REUSE_PROTECTION": False,
    }
    user = User.objects.create_user(username="alice", email="a@example.com", password=PASSWORD)
    pair = services.token_issue(user)

    results = race(lambda i: services.token_refresh(pair.refresh_token))

    winners = [r for r in results if isinstance(r, services.TokenPair)]
    losers = [r for r in results if isinstance(r, InvalidToken)]
    assert len(winners) == 1, results
    assert len(losers) == THREADS - 1, results
    assert RefreshToken.objects.filter(revoked__isnull=True).count() == 1


def test_concurrent_registrations_of_one_email_in_any_case_create_exactly_one_user():
    def register(i: int):
        email = "dave@example.com" if i % 2 else "DAVE@example.com"
        return services.user_register(username=f"dave{i}", email=email, password=PASSWORD)

    results = race(register)

    assert sum(isinstance(r, User) for r in results) == 1, results
    assert sum(isinstance(r, EmailTaken) for r in results) == THREADS - 1, results
    assert User.objects.count() == 1


def test_concurrent_registrations_of_one_username_in_any_case_create_exactly_one_user():
    def register(i: int):
        username = "carol" if i % 2 else "CAROL"
        return services.user_register(
            username=username, email=f"carol{i}@example.com", password=PASSWORD
        )

    results = race(register)

    assert sum(isinstance(r, User) for r in results) == 1, results
    assert sum(isinstance(r, UsernameTaken) for r in results) == THREADS - 1, results
    assert User.objects.count() == 1
