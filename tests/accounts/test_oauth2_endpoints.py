"""The standard OAuth 2 endpoints under /o/ (django-oauth-toolkit) for third parties."""

import base64

import pytest
from oauth2_provider.models import AccessToken, Application

from accounts import services
from tests.accounts.helpers import PASSWORD, bearer
from tests.support.oauth import authorization_code_exchange, authorization_code_issue

pytestmark = pytest.mark.django_db

SECRET = "third-party-secret-0123456789"


@pytest.fixture
def confidential_app(user):
    # The secret is hashed on save: keep the plain one for the client's requests.
    return Application.objects.create(
        name="A third-party bidding bot",
        client_id="third-party-bot",
        client_secret=SECRET,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        user=user,
    )


def basic_auth(client_id: str, secret: str) -> dict:
    credentials = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {credentials}"}


def test_confidential_app_gets_a_token_with_client_credentials_and_introspects_it(
    api_client, confidential_app
):
    response = api_client.post(
        "/o/token/",
        {"grant_type": "client_credentials"},
        **basic_auth("third-party-bot", SECRET),
    )
    assert response.status_code == 200, response.content
    token = response.json()["access_token"]
    assert AccessToken.objects.get(application=confidential_app).user is None

    introspection = api_client.post(
        "/o/introspect/", {"token": token}, **basic_auth("third-party-bot", SECRET)
    )

    assert introspection.status_code == 200
    assert introspection.json()["active"] is True
    assert introspection.json()["client_id"] == "third-party-bot"


def test_introspect_shows_first_party_tokens_and_their_revocation(
    api_client, confidential_app, tokens
):
    auth = basic_auth("third-party-bot", SECRET)

    live = api_client.post("/o/introspect/", {"token": tokens.access_token}, **auth).json()
    services.token_revoke(tokens.access_token)
    dead = api_client.post("/o/introspect/", {"token": tokens.access_token}, **auth).json()

    assert live["active"] is True
    assert live["username"] == "alice"
    assert live["scope"] == "read write"
    assert dead == {"active": False}


def test_o_token_with_a_wrong_client_secret_is_401(api_client, confidential_app):
    response = api_client.post(
        "/o/token/", {"grant_type": "client_credentials"}, **basic_auth("third-party-bot", "x")
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_first_party_client_cannot_use_the_password_grant_to_dodge_the_login_throttle(
    api_client, user
):
    response = api_client.post(
        "/o/token/",
        {
            "grant_type": "password",
            "client_id": services.FIRST_PARTY_CLIENT_ID,
            "username": "alice",
            "password": PASSWORD,
        },
    )

    assert response.status_code in (400, 401)
    assert response.json()["error"] == "unauthorized_client"
    assert not AccessToken.objects.exists()


def test_o_revoke_token_revokes_a_third_party_token(api_client, confidential_app):
    auth = basic_auth("third-party-bot", SECRET)
    token = api_client.post("/o/token/", {"grant_type": "client_credentials"}, **auth).json()[
        "access_token"
    ]

    response = api_client.post("/o/revoke_token/", {"token": token}, **auth)

    assert response.status_code == 200
    assert not AccessToken.objects.filter(application=confidential_app).exists()


def test_authorization_code_with_pkce_gives_a_token_that_authenticates_on_the_api(api_client, user):
    issued = authorization_code_issue(api_client, user, scope="read write")
    assert issued.query["state"] == ["xyz"]

    token = authorization_code_exchange(api_client, issued)
    assert token.status_code == 200, token.content

    me = bearer(api_client, token.json()["access_token"]).get("/api/v1/me")

    assert me.status_code == 200
    assert me.json()["username"] == "alice"


def test_a_token_without_a_user_in_the_query_string_reads_as_anonymous_and_cannot_write(
    api_client, confidential_app
):
    auth = basic_auth("third-party-bot", SECRET)
    token = api_client.post("/o/token/", {"grant_type": "client_credentials"}, **auth).json()[
        "access_token"
    ]

    listed = api_client.get(f"/api/v1/auctions?access_token={token}")
    created = api_client.post(f"/api/v1/auctions?access_token={token}", {}, format="json")

    assert listed.status_code == 200
    assert created.status_code == 401
