"""Login and registration throttles: per client address, 429 problem+json with Retry-After."""

from datetime import timedelta

import pytest
import time_machine

from common import clock
from tests.accounts.helpers import PASSWORD, assert_problem
from tests.support.probe import python_probe

TOKEN_URL = "/api/v1/auth/token"
REGISTER_URL = "/api/v1/auth/register"

pytestmark = pytest.mark.django_db


def login(client, password=PASSWORD, **extra):
    return client.post(
        TOKEN_URL, {"username": "alice", "password": password}, format="json", **extra
    )


def register(client, username, **extra):
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    return client.post(REGISTER_URL, body, format="json", **extra)


def assert_throttled(response, max_wait: int) -> None:
    assert_problem(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= max_wait


def test_login_after_too_many_failures_is_429_even_with_the_right_password(
    api_client, user, throttle_rates
):
    throttle_rates(login="3/min")
    for _ in range(3):
        assert_problem(login(api_client, password="wrong"), 401, "invalid_credentials")

    response = login(api_client)

    assert_throttled(response, max_wait=60)


def test_login_successes_do_not_count_against_the_limit(api_client, user, throttle_rates):
    throttle_rates(login="2/min")

    statuses = [login(api_client).status_code for _ in range(5)]

    assert statuses == [200] * 5


def test_login_validation_errors_do_not_count_against_the_limit(api_client, user, throttle_rates):
    throttle_rates(login="2/min")
    for _ in range(3):
        api_client.post(TOKEN_URL, {"username": "alice"}, format="json")

    assert login(api_client).status_code == 200


def test_login_throttle_lets_the_client_back_in_once_the_window_passed(
    api_client, user, throttle_rates
):
    throttle_rates(login="2/min")
    for _ in range(2):
        login(api_client, password="wrong")
    assert login(api_client).status_code == 429

    with time_machine.travel(clock.now() + timedelta(seconds=61)):
        response = login(api_client)

    assert response.status_code == 200


def test_login_throttle_is_per_client_address(api_client, user, throttle_rates):
    throttle_rates(login="2/min")
    for _ in range(2):
        login(api_client, password="wrong", REMOTE_ADDR="10.0.0.1")

    assert login(api_client, REMOTE_ADDR="10.0.0.1").status_code == 429
    assert login(api_client, REMOTE_ADDR="10.0.0.2").status_code == 200


def test_login_throttle_cannot_be_dodged_with_a_made_up_forwarded_for(
    api_client, user, throttle_rates
):
    throttle_rates(login="2/min")
    for n in range(2):
        login(api_client, password="wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")

    response = login(api_client, HTTP_X_FORWARDED_FOR="203.0.113.99")

    assert response.status_code == 429


def test_behind_a_proxy_each_client_address_it_forwards_has_its_own_limit(
    api_client, user, throttle_rates, settings
):
    throttle_rates(login="2/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = {"REMOTE_ADDR": "10.0.0.9"}
    for n in range(2):
        # A made-up address before the one the proxy appended changes nothing.
        forwarded = f"203.0.113.{n}, 198.51.100.7"
        login(api_client, password="wrong", HTTP_X_FORWARDED_FOR=forwarded, **proxy)

    throttled = login(api_client, HTTP_X_FORWARDED_FOR="203.0.113.99, 198.51.100.7", **proxy)
    other_client = login(api_client, HTTP_X_FORWARDED_FOR="198.51.100.8", **proxy)

    assert throttled.status_code == 429
    assert other_client.status_code == 200


def test_the_number_of_proxies_is_read_from_the_environment():
    probe = (
        "from django.conf import settings; import django; django.setup(); "
        "print(settings.REST_FRAMEWORK['NUM_PROXIES'])"
    )

    assert python_probe(probe, NUM_PROXIES="") == "None"
    assert python_probe(probe, NUM_PROXIES="2") == "2"


def test_register_after_too_many_attempts_is_429_with_retry_after(api_client, throttle_rates):
    throttle_rates(register="2/hour")
    assert register(api_client, "bob").status_code == 201
    # A refused attempt counts too.
    assert_problem(register(api_client, "bob"), 400, "username_taken")

    response = register(api_client, "carol")

    assert_throttled(response, max_wait=3600)


def test_register_throttle_is_per_client_address(api_client, throttle_rates):
    throttle_rates(register="1/hour")
    assert register(api_client, "bob", REMOTE_ADDR="10.0.0.1").status_code == 201
    assert register(api_client, "carol", REMOTE_ADDR="10.0.0.1").status_code == 429

    assert register(api_client, "carol", REMOTE_ADDR="10.0.0.2").status_code == 201


def test_default_rates_come_from_the_settings(settings):
    from accounts.throttling import RegisterRateThrottle

    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert rates["login"] == settings.LOGIN_THROTTLE_RATE
    assert rates["login_account"] == settings.LOGIN_ACCOUNT_THROTTLE_RATE
    assert RegisterRateThrottle().rate == rates["register"]
