"""POST /api/v1/auth/token, /auth/token/refresh, /auth/token/revoke and GET /api/v1/me"""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from oauth2_provider.models import AccessToken, RefreshToken

from accounts import services
from common import clock
from tests.accounts.helpers import PASSWORD, assert_problem, bearer

User = get_user_model()
TOKEN_URL = "/api/v1/auth/token"
REFRESH_URL = "/api/v1/auth/token/refresh"
REVOKE_URL = "/api/v1/auth/token/revoke"
ME_URL = "/api/v1/me"

pytestmark = pytest.mark.django_db


def login(client, username="alice", password=PASSWORD, url=TOKEN_URL):
    return client.post(url, {"username": username, "password": password}, format="json")


def me_status(client, access_token: str) -> int:
    return bearer(client, access_token).get(ME_URL).status_code


# --- Login --------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [TOKEN_URL, TOKEN_URL + "/"])
def test_login_is_200_with_a_token_pair_that_authenticates(api_client, user, url, settings):
    response = login(api_client, url=url)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"]
    access = AccessToken.objects.get(user=user)
    assert access.application.client_id == services.FIRST_PARTY_CLIENT_ID
    assert access.scope == "read write"
    assert RefreshToken.objects.get(user=user).access_token == access
    assert me_status(api_client, body["access_token"]) == 200


def test_login_twice_gives_two_independent_pairs(api_client, user):
    first = login(api_client).json()
    second = login(api_client).json()

    assert first["access_token"] != second["access_token"]
    assert me_status(api_client, first["access_token"]) == 200
    assert me_status(api_client, second["access_token"]) == 200


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong-password"), ("nobody", PASSWORD), ("ALICE", PASSWORD)],
    ids=["wrong-password", "unknown-user", "username-in-another-case"],
)
def test_login_with_wrong_credentials_is_401_invalid_credentials(
    api_client, user, username, password
):
    response = login(api_client, username=username, password=password)

    assert_problem(response, 401, "invalid_credentials")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not AccessToken.objects.exists()


def test_login_of_inactive_user_is_401_invalid_credentials(api_client, user):
    user.is_active = False
    user.save()

    response = login(api_client)

    assert_problem(response, 401, "invalid_credentials")
    assert not AccessToken.objects.exists()


def test_login_without_password_is_400_validation_error(api_client, user):
    response = api_client.post(TOKEN_URL, {"username": "alice"}, format="json")

    body = assert_problem(response, 400, "validation_error")
    assert "password" in body["errors"]


def test_login_with_a_nul_byte_in_the_username_is_400_not_500(api_client, user):
    response = login(api_client, username="ali\x00ce")

    assert_problem(response, 400, "validation_error")


# --- Me -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [ME_URL, ME_URL + "/"])
def test_me_is_200_with_the_user(api_client, user, tokens, url):
    response = bearer(api_client, tokens.access_token).get(url)

    assert response.status_code == 200
    assert response.json() == {
        "id": user.pk,
        "username": "alice",
        "email": "alice@example.com",
        "date_joined": user.date_joined.isoformat().replace("+00:00", "Z"),
    }


def test_me_without_token_is_401_not_authenticated(api_client):
    response = api_client.get(ME_URL)

    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


# django-oauth-toolkit still accepts query-string tokens by default, and warns about it.
@pytest.mark.filterwarnings("ignore:Presenting an OAuth 2.0 access token:DeprecationWarning")
def test_a_token_in_the_access_token_parameter_still_authenticates(api_client, tokens):
    """Requests without an Authorization header skip token parsing only when they carry no
    token anywhere: django-oauth-toolkit also reads one from the query string."""
    assert api_client.get(ME_URL, {"access_token": tokens.access_token}).status_code == 200
    response = api_client.get(ME_URL, {"access_token": "not-a-token"})
    assert_problem(response, 401, "not_authenticated")


def test_me_with_unknown_token_is_401_not_authenticated(api_client, user):
    response = bearer(api_client, "not-a-token").get(ME_URL)

    assert_problem(response, 401, "not_authenticated")


def test_me_with_expired_access_token_is_401(api_client, tokens, settings):
    lifetime = settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"]
    with time_machine.travel(clock.now() + timedelta(seconds=lifetime + 1)):
        response = bearer(api_client, tokens.access_token).get(ME_URL)

    assert_problem(response, 401, "not_authenticated")


def test_me_post_is_405_problem(api_client, tokens):
    response = bearer(api_client, tokens.access_token).post(ME_URL, {}, format="json")

    assert_problem(response, 405, "method_not_allowed")


# --- Refresh ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [REFRESH_URL, REFRESH_URL + "/"])
def test_refresh_is_200_with_a_new_pair_and_rotates_the_old_one_out(api_client, tokens, url):
    response = api_client.post(url, {"refresh_token": tokens.refresh_token}, format="json")

    assert response.status_code == 200
    new = response.json()
    assert set(new) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert new["token_type"] == "Bearer"
    assert new["access_token"] != tokens.access_token
    assert new["refresh_token"] != tokens.refresh_token
    assert me_status(api_client, new["access_token"]) == 200
    assert me_status(api_client, tokens.access_token) == 401
    old = RefreshToken.objects.get(access_token__isnull=True)
    assert old.revoked is not None
    assert RefreshToken.objects.filter(revoked__isnull=True).count() == 1
    assert RefreshToken.objects.get(revoked__isnull=True).token_family == old.token_family


def test_refresh_with_a_used_refresh_token_is_401_invalid_token(api_client, tokens):
    first = api_client.post(REFRESH_URL, {"refresh_token": tokens.refresh_token}, format="json")
    assert first.status_code == 200

    response = api_client.post(REFRESH_URL, {"refresh_token": tokens.refresh_token}, format="json")

    assert_problem(response, 401, "invalid_token")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_replaying_a_used_refresh_token_kills_its_family(api_client, tokens):
    # Reuse protection is on by default (settings): no override here.
    new = api_client.post(
        REFRESH_URL, {"refresh_token": tokens.refresh_token}, format="json"
    ).json()

    response = api_client.post(REFRESH_URL, {"refresh_token": tokens.refresh_token}, format="json")

    assert_problem(response, 401, "invalid_token")
    assert me_status(api_client, new["access_token"]) == 401
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()


def test_refresh_with_unknown_token_is_401_invalid_token(api_client, user):
    response = api_client.post(REFRESH_URL, {"refresh_token": "nope"}, format="json")

    assert_problem(response, 401, "invalid_token")


def test_refresh_with_an_access_token_is_401_invalid_token(api_client, tokens):
    response = api_client.post(REFRESH_URL, {"refresh_token": tokens.access_token}, format="json")

    assert_problem(response, 401, "invalid_token")
    assert me_status(api_client, tokens.access_token) == 200


def test_refresh_with_a_revoked_refresh_token_is_401_invalid_token(api_client, tokens):
    api_client.post(REVOKE_URL, {"token": tokens.refresh_token}, format="json")

    response = api_client.post(REFRESH_URL, {"refresh_token": tokens.refresh_token}, format="json")

    assert_problem(response, 401, "invalid_token")


def test_refresh_with_an_expired_refresh_token_is_401_invalid_token(api_client, tokens, settings):
    access = settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"]
    refresh = settings.OAUTH2_PROVIDER["REFRESH_TOKEN_EXPIRE_SECONDS"]
    with time_machine.travel(clock.now() + timedelta(seconds=access + refresh + 1)):
        response = api_client.post(
            REFRESH_URL, {"refresh_token": tokens.refresh_token}, format="json"
        )

    assert_problem(response, 401, "invalid_token")


def test_refresh_after_the_access_token_expired_still_works(api_client, tokens, settings):
    access = settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"]
    with time_machine.travel(clock.now() + timedelta(seconds=access + 60)):
        response = api_client.post(
            REFRESH_URL, {"refresh_token": tokens.refresh_token}, format="json"
        )
        assert response.status_code == 200
        assert me_status(api_client, response.json()["access_token"]) == 200


def test_refresh_for_an_inactive_user_is_401_invalid_token(api_client, user, tokens):
    user.is_active = False
    user.save()

    response = api_client.post(REFRESH_URL, {"refresh_token": tokens.refresh_token}, format="json")

    assert_problem(response, 401, "invalid_token")


def test_refresh_without_a_token_is_400_validation_error(api_client):
    response = api_client.post(REFRESH_URL, {}, format="json")

    body = assert_problem(response, 400, "validation_error")
    assert "refresh_token" in body["errors"]


# --- Revoke -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [REVOKE_URL, REVOKE_URL + "/"])
def test_revoking_the_access_token_makes_me_401_and_kills_its_refresh_token(
    api_client, tokens, url
):
    assert me_status(api_client, tokens.access_token) == 200

    response = api_client.post(url, {"token": tokens.access_token}, format="json")

    assert response.status_code == 200
    assert response.json() == {"revoked": True}
    assert me_status(api_client, tokens.access_token) == 401
    refresh = api_client.post(REFRESH_URL, {"refresh_token": tokens.refresh_token}, format="json")
    assert_problem(refresh, 401, "invalid_token")
    assert not AccessToken.objects.exists()


def test_revoking_the_refresh_token_kills_it_and_its_access_token(api_client, tokens):
    response = api_client.post(REVOKE_URL, {"token": tokens.refresh_token}, format="json")

    assert response.status_code == 200
    assert me_status(api_client, tokens.access_token) == 401
    refresh = api_client.post(REFRESH_URL, {"refresh_token": tokens.refresh_token}, format="json")
    assert_problem(refresh, 401, "invalid_token")
    assert RefreshToken.objects.get().revoked is not None


def test_revoking_one_pair_leaves_the_users_other_pairs_working(api_client, user, tokens):
    other = services.token_issue(user)

    api_client.post(REVOKE_URL, {"token": tokens.access_token}, format="json")

    assert me_status(api_client, other.access_token) == 200


@pytest.mark.parametrize("token", ["unknown-token", "x" * 255])
def test_revoking_an_unknown_token_is_200(api_client, token):
    response = api_client.post(REVOKE_URL, {"token": token}, format="json")

    assert response.status_code == 200
    assert response.json() == {"revoked": True}


def test_revoking_twice_is_200_both_times(api_client, tokens):
    for _ in range(2):
        response = api_client.post(REVOKE_URL, {"token": tokens.access_token}, format="json")
        assert response.status_code == 200


def test_revoking_needs_no_authentication_even_with_the_revoked_token_as_bearer(api_client, tokens):
    client = bearer(api_client, tokens.access_token)
    assert client.post(REVOKE_URL, {"token": tokens.access_token}, format="json").status_code == 200

    # The header now carries a dead token: revoking again must still be a 200.
    response = client.post(REVOKE_URL, {"token": tokens.access_token}, format="json")

    assert response.status_code == 200


def test_revoke_without_a_token_is_400_validation_error(api_client):
    response = api_client.post(REVOKE_URL, {}, format="json")

    body = assert_problem(response, 400, "validation_error")
    assert "token" in body["errors"]


# --- Services -----------------------------------------------------------------------------


def test_token_issue_gives_a_pair_of_the_first_party_application(user, settings):
    pair = services.token_issue(user)

    assert pair.token_type == "Bearer"
    assert pair.expires_in == settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"]
    access = AccessToken.objects.get(user=user)
    assert access.application.client_id == "auction-first-party"
    assert access.expires > clock.now()
    assert RefreshToken.objects.get(user=user).access_token_id == access.pk


def test_first_party_application_is_created_by_the_data_migration():
    from oauth2_provider.models import Application

    application = Application.objects.get(client_id="auction-first-party")
    assert application.name == "Auction service (first party)"
    assert application.client_type == Application.CLIENT_PUBLIC
    assert application.skip_authorization
    assert application.algorithm == ""
