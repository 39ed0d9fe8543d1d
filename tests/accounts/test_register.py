"""POST /api/v1/auth/register"""

import pytest
from django.contrib.auth import get_user_model
from oauth2_provider.models import AccessToken, RefreshToken

from accounts import services
from accounts.errors import EmailTaken, UsernameTaken
from tests.accounts.helpers import PASSWORD, assert_problem, bearer

User = get_user_model()
URL = "/api/v1/auth/register"

pytestmark = pytest.mark.django_db


def register(client, **overrides):
    body = {"username": "bob", "email": "bob@example.com", "password": PASSWORD, **overrides}
    return client.post(URL, body, format="json")


@pytest.mark.parametrize("url", [URL, URL + "/"])
def test_register_is_201_with_the_user_and_a_working_token_pair(api_client, url, settings):
    response = api_client.post(
        url, {"username": "bob", "email": "bob@example.com", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    user = User.objects.get(username="bob")
    assert body["id"] == user.pk
    assert body["username"] == "bob"
    assert body["email"] == "bob@example.com"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"]
    assert "password" not in body
    assert user.is_active
    assert user.check_password(PASSWORD)
    assert AccessToken.objects.filter(user=user).count() == 1
    assert RefreshToken.objects.filter(user=user).count() == 1

    me = bearer(api_client, body["access_token"]).get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["username"] == "bob"


def test_register_does_not_redirect_without_a_trailing_slash(api_client):
    response = register(api_client)

    assert response.status_code == 201
    assert "Location" not in response


def test_register_with_taken_username_is_400_username_taken(api_client, user):
    response = register(api_client, username="alice")

    body = assert_problem(response, 400, "username_taken")
    assert "username" in body["errors"]
    assert User.objects.filter(username__iexact="alice").count() == 1


def test_register_with_username_differing_only_in_case_is_400_username_taken(api_client, user):
    response = register(api_client, username="ALICE")

    assert_problem(response, 400, "username_taken")
    assert User.objects.count() == 1


def test_register_with_taken_email_in_another_case_is_400_email_taken(api_client, user):
    response = register(api_client, email="Alice@EXAMPLE.com")

    body = assert_problem(response, 400, "email_taken")
    assert "email" in body["errors"]
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    "password",
    ["short1!", "password123", "1234567890123", "bobexample"],
    ids=["too-short", "too-common", "all-digits", "like-the-email"],
)
def test_register_with_weak_password_is_400_weak_password_with_reasons(api_client, password):
    response = register(api_client, email="bobexample@example.com", password=password)

    body = assert_problem(response, 400, "weak_password")
    assert body["errors"]["password"]
    assert all(isinstance(message, str) for message in body["errors"]["password"])
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"username": ""}, "username"),
        ({"username": "bob smith"}, "username"),
        ({"username": "x" * 151}, "username"),
        ({"email": "not-an-email"}, "email"),
        ({"password": ""}, "password"),
        ({"password": "x" * 4097}, "password"),
        ({"username": None}, "username"),
    ],
    ids=["blank-username", "space", "too-long", "bad-email", "blank-password", "huge", "null"],
)
def test_register_with_invalid_field_is_400_validation_error(api_client, overrides, field):
    response = register(api_client, **overrides)

    body = assert_problem(response, 400, "validation_error")
    assert field in body["errors"]
    assert not User.objects.exists()


def test_register_with_missing_fields_is_400_listing_each(api_client):
    response = api_client.post(URL, {}, format="json")

    body = assert_problem(response, 400, "validation_error")
    assert set(body["errors"]) == {"username", "email", "password"}


def test_register_with_malformed_json_is_400_parse_error(api_client):
    response = api_client.post(URL, "{not json", content_type="application/json")

    assert_problem(response, 400, "parse_error")


def test_register_keeps_whitespace_in_the_password(api_client):
    response = register(api_client, password=f"  {PASSWORD}  ")

    assert response.status_code == 201
    assert User.objects.get(username="bob").check_password(f"  {PASSWORD}  ")


def test_register_with_a_stale_bearer_header_still_works(api_client):
    response = bearer(api_client, "revoked-or-garbage").post(
        URL, {"username": "bob", "email": "bob@example.com", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 201


def test_register_get_is_405_problem(api_client):
    response = api_client.get(URL)

    assert_problem(response, 405, "method_not_allowed")


def test_user_register_losing_a_race_on_the_username_index_is_username_taken(monkeypatch, user):
    # The pre-check sees nothing (as when the other registration has not committed yet),
    # so the case-insensitive unique index has the last word.
    monkeypatch.setattr(services, "_user_identity_check_free", _check_once_blind())

    with pytest.raises(UsernameTaken):
        services.user_register(username="Alice", email="other@example.com", password=PASSWORD)
    assert User.objects.count() == 1


def test_user_register_losing_a_race_on_the_email_index_is_email_taken(monkeypatch, user):
    monkeypatch.setattr(services, "_user_identity_check_free", _check_once_blind())

    with pytest.raises(EmailTaken):
        services.user_register(username="bob", email="ALICE@example.com", password=PASSWORD)
    assert User.objects.count() == 1


def test_register_losing_a_race_is_400_email_taken_over_http(api_client, monkeypatch, user):
    monkeypatch.setattr(services, "_user_identity_check_free", _check_once_blind())

    response = register(api_client, email="alice@example.com")

    assert_problem(response, 400, "email_taken")


def _check_once_blind():
    real = services._user_identity_check_free
    calls = []

    def check(**kwargs):
        calls.append(kwargs)
        if len(calls) > 1:
            real(**kwargs)

    return check
