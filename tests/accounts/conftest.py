"""Fixtures of the account tests, on top of the shared ones in tests/conftest.py (clients,
a cleared cache): a user with a known name and password, that user's tokens as the real
service issues them, and throttle rates to set for one test."""

import pytest

from accounts import services
from tests.accounts.helpers import PASSWORD
from tests.factories import UserFactory


@pytest.fixture
def user(db):
    """Overrides the shared `user`: these tests log in, so they need the name and password."""
    return UserFactory(username="alice", email="alice@example.com", password=PASSWORD)


@pytest.fixture
def tokens(user) -> services.TokenPair:
    return services.token_issue(user)


@pytest.fixture
def throttle_rates(settings):
    """Set throttle rates for one test: `throttle_rates(login="3/min")`."""

    def set_rates(**rates: str) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                **rates,
            },
        }

    return set_rates
