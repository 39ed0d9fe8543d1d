"""Failed-login limits per account and per address, on every door that checks a password:
the API's login, the admin's login and the password grant of /o/token/."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model

from common import clock
from tests.accounts.helpers import PASSWORD, assert_problem, o_token_password

TOKEN_URL = "/api/v1/auth/token"
ADMIN_LOGIN_URL = "/admin/login/"

pytestmark = pytest.mark.django_db


def login(client, address: str, password: str = PASSWORD, username: str = "alice"):
    return client.post(
        TOKEN_URL,
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=address,
    )


@pytest.fixture
def account_rates(throttle_rates):
    """A generous per-address limit, so that only the per-account one is under test."""
    throttle_rates(login="100/min", login_account="3/min")


def test_account_limit_refuses_the_addresses_that_failed_even_with_the_right_password(
    api_client, user, account_rates
):
    for n in range(3):
        assert login(api_client, f"203.0.113.{n}", password="wrong").status_code == 401

    response = login(api_client, "203.0.113.0")

    assert_problem(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60


def test_account_limit_lets_the_owner_in_from_an_address_that_never_failed(
    api_client, user, account_rates
):
    for n in range(3):
        login(api_client, f"203.0.113.{n}", password="wrong")

    assert login(api_client, "198.51.100.7").status_code == 200


def test_account_limit_gives_each_new_address_one_wrong_guess(api_client, user, account_rates):
    for n in range(3):
        login(api_client, f"203.0.113.{n}", password="wrong")

    first = login(api_client, "203.0.113.50", password="wrong")
    second = login(api_client, "203.0.113.50")

    assert_problem(first, 401, "invalid_credentials")
    assert_problem(second, 429, "throttled")


def test_account_limit_counts_the_username_whatever_its_case(api_client, user, account_rates):
    for n, name in enumerate(["alice", "ALICE", "Alice"]):
        login(api_client, f"203.0.113.{n}", password="wrong", username=name)

    assert login(api_client, "203.0.113.1").status_code == 429


def test_account_limit_leaves_other_accounts_alone(api_client, user, account_rates):
    get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
    for _ in range(3):
        login(api_client, "203.0.113.1", password="wrong")

    assert login(api_client, "203.0.113.1", username="bob").status_code == 200


def test_account_limit_lets_the_address_back_in_once_the_window_passed(
    api_client, user, account_rates
):
    for n in range(3):
        login(api_client, f"203.0.113.{n}", password="wrong")

    with time_machine.travel(clock.now() + timedelta(seconds=61)):
        response = login(api_client, "203.0.113.0")

    assert response.status_code == 200


# --- The admin's login ----------------------------------------------------------------------


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)


def admin_login(client, address: str, password: str = PASSWORD):
    return client.post(
        ADMIN_LOGIN_URL,
        {"username": "root", "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


def test_admin_login_after_too_many_failures_from_an_address_is_refused(
    client, staff, throttle_rates
):
    throttle_rates(login="3/min")
    for _ in range(3):
        assert admin_login(client, "203.0.113.1", password="wrong").status_code == 200

    response = admin_login(client, "203.0.113.1")

    assert response.status_code == 200  # the form again, with the error
    assert b"Too many failed logins" in response.content
    assert "_auth_user_id" not in client.session


def test_admin_login_from_another_address_still_works(client, staff, throttle_rates):
    throttle_rates(login="3/min")
    for _ in range(3):
        admin_login(client, "203.0.113.1", password="wrong")

    response = admin_login(client, "198.51.100.7")

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)


def test_admin_and_api_logins_share_their_failure_counts(client, api_client, staff, throttle_rates):
    throttle_rates(login="3/min")
    for _ in range(2):
        admin_login(client, "203.0.113.1", password="wrong")
    login(api_client, "203.0.113.1", password="wrong", username="root")

    assert login(api_client, "203.0.113.1", username="root").status_code == 429


# --- The password grant of /o/token/ ----------------------------------------------------------


def test_o_token_password_grant_is_throttled_like_the_api_login(
    api_client, user, password_app, throttle_rates
):
    throttle_rates(login="3/min")
    for _ in range(3):
        wrong = o_token_password(api_client, password="wrong", REMOTE_ADDR="203.0.113.1")
        assert wrong.json()["error"] == "invalid_grant"

    refused = o_token_password(api_client, REMOTE_ADDR="203.0.113.1")
    elsewhere = o_token_password(api_client, REMOTE_ADDR="198.51.100.7")

    assert refused.status_code == 429
    assert refused.json()["error"] == "throttled"
    assert elsewhere.status_code == 200


# --- Known addresses: one shared address does not lock out its users ---------------------------

SHARED = "10.0.0.1"  # a NAT's, or a proxy's when NUM_PROXIES is unset


def test_a_user_who_logged_in_from_a_shared_address_gets_in_after_a_guesser_filled_it(
    api_client, user
):
    assert login(api_client, SHARED).status_code == 200
    for n in range(10):
        login(api_client, SHARED, password="wrong", username=f"nobody{n}")

    assert login(api_client, SHARED).status_code == 200


def test_a_full_address_still_refuses_accounts_never_logged_in_from_it(api_client, user):
    get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
    assert login(api_client, SHARED).status_code == 200
    for n in range(10):
        login(api_client, SHARED, password="wrong", username=f"nobody{n}")

    assert_problem(login(api_client, SHARED, username="bob"), 429, "throttled")
    assert_problem(login(api_client, SHARED, username="nobody0"), 429, "throttled")


def test_a_full_address_still_checks_the_password_of_a_known_account_and_counts_it(
    api_client, user, throttle_rates
):
    throttle_rates(login="3/min", login_account="100/min")
    assert login(api_client, SHARED).status_code == 200
    for n in range(3):
        login(api_client, SHARED, password="wrong", username=f"nobody{n}")

    assert_problem(login(api_client, SHARED, password="wrong"), 401, "invalid_credentials")
    assert_problem(login(api_client, SHARED, username="nobody0"), 429, "throttled")


def test_a_known_address_is_forgotten_after_the_known_address_days(
    api_client, user, throttle_rates, settings
):
    settings.LOGIN_KNOWN_ADDRESS_DAYS = 1
    throttle_rates(login="3/day")
    assert login(api_client, SHARED).status_code == 200
    with time_machine.travel(clock.now() + timedelta(days=1, seconds=1)):
        for n in range(3):
            login(api_client, SHARED, password="wrong", username=f"nobody{n}")

        assert_problem(login(api_client, SHARED), 429, "throttled")


def test_a_known_address_that_itself_failed_as_often_as_the_account_limit_is_refused(
    api_client, user
):
    assert login(api_client, SHARED).status_code == 200
    for _ in range(5):
        login(api_client, SHARED, password="wrong")

    assert_problem(login(api_client, SHARED), 429, "throttled")


def test_a_known_address_is_exempt_from_the_account_limit_until_it_failed_as_often_itself(
    api_client, user, account_rates
):
    assert login(api_client, SHARED).status_code == 200
    for n in range(2):
        login(api_client, f"203.0.113.{n}", password="wrong")
    assert_problem(login(api_client, SHARED, password="wrong"), 401, "invalid_credentials")

    assert login(api_client, SHARED).status_code == 200
    assert login(api_client, "203.0.113.0").status_code == 429
