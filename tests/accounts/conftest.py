"""Fixtures of the account tests, on top of the shared ones in tests/conftest.py (clients,
a cleared cache): a user with a known name and password, that user's tokens as the real
service issues them, and throttle rates to set for one test."""

import pytest
from oauth2_provider.models import Application

from accounts import services
from tests.accounts.helpers import PASSWORD, PASSWORD_APP_ID, PASSWORD_APP_SECRET
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


@pytest.fixture
def password_app(db):
    """A third-party application allowed the password grant at /o/token/."""
    return Application.objects.create(
        name="A trusted mobile app",
        client_id=PASSWORD_APP_ID,
        client_secret=PASSWORD_APP_SECRET,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_PASSWORD,
    )
