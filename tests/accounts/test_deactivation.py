"""A deactivated user is refused on every path a token can take, whatever the token."""

import pytest
from oauth2_provider.models import AccessToken

from tests.accounts.helpers import (
    PASSWORD_APP_ID,
    PASSWORD_APP_SECRET,
    assert_problem,
    bearer,
    o_token_password,
)
from tests.support.oauth import authorization_code_exchange, authorization_code_issue

pytestmark = pytest.mark.django_db


@pytest.fixture
def auction(auction_create):
    return auction_create()


def deactivate(user) -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])


def test_deactivated_user_with_a_bearer_header_cannot_bid_or_read_me(
    api_client, user, tokens, auction
):
    deactivate(user)
    client = bearer(api_client, tokens.access_token)

    bid = client.post(f"/api/v1/auctions/{auction.pk}/bids", {"amount": "100.00"}, format="json")
    me = client.get("/api/v1/me")

    assert_problem(bid, 401, "not_authenticated")
    assert_problem(me, 401, "not_authenticated")
    assert auction.bids.count() == 0


def test_deactivated_user_with_access_token_in_the_query_cannot_bid_or_watch(
    api_client, user, tokens, auction
):
    deactivate(user)
    query = f"?access_token={tokens.access_token}"

    bid = api_client.post(
        f"/api/v1/auctions/{auction.pk}/bids{query}", {"amount": "100.00"}, format="json"
    )
    watch = api_client.post(f"/api/v1/auctions/{auction.pk}/watch{query}")
    me = api_client.get(f"/api/v1/me{query}")

    assert_problem(bid, 401, "not_authenticated")
    assert_problem(watch, 401, "not_authenticated")
    assert_problem(me, 401, "not_authenticated")
    assert auction.bids.count() == 0


def test_deactivated_user_cannot_refresh_at_the_api(api_client, user, tokens):
    deactivate(user)

    response = api_client.post(
        "/api/v1/auth/token/refresh", {"refresh_token": tokens.refresh_token}, format="json"
    )

    assert_problem(response, 401, "invalid_token")


def test_deactivated_user_cannot_refresh_at_o_token(api_client, user, password_app):
    pair = o_token_password(api_client).json()
    deactivate(user)

    response = api_client.post(
        "/o/token/",
        {
            "grant_type": "refresh_token",
            "refresh_token": pair["refresh_token"],
            "client_id": PASSWORD_APP_ID,
            "client_secret": PASSWORD_APP_SECRET,
        },
    )

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_grant"


def test_active_user_still_refreshes_at_o_token(api_client, user, password_app):
    pair = o_token_password(api_client).json()

    response = api_client.post(
        "/o/token/",
        {
            "grant_type": "refresh_token",
            "refresh_token": pair["refresh_token"],
            "client_id": PASSWORD_APP_ID,
            "client_secret": PASSWORD_APP_SECRET,
        },
    )

    assert response.status_code == 200, response.content


def test_deactivated_user_cannot_log_in_with_the_password_grant(api_client, user, password_app):
    deactivate(user)

    response = o_token_password(api_client)

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_grant"


def test_introspection_says_a_deactivated_users_token_is_inactive(
    api_client, user, tokens, password_app
):
    # The introspecting client holds a token with the `introspection` scope.
    from datetime import timedelta

    from oauth2_provider.models import AccessToken

    from common import clock

    AccessToken.objects.create(
        token="introspector-token",
        application=password_app,
        expires=clock.now() + timedelta(hours=1),
        scope="introspection",
    )
    auth = {"HTTP_AUTHORIZATION": "Bearer introspector-token"}
    live = api_client.post("/o/introspect/", {"token": tokens.access_token}, **auth).json()
    deactivate(user)

    dead = api_client.post("/o/introspect/", {"token": tokens.access_token}, **auth).json()

    assert live["active"] is True
    assert dead == {"active": False}


def test_an_authorization_code_issued_before_deactivation_cannot_be_exchanged_at_o_token(
    api_client, user
):
    issued = authorization_code_issue(api_client, user, scope="read")
    deactivate(user)

    token = authorization_code_exchange(api_client, issued)

    assert token.status_code == 400, token.content
    assert token.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.filter(user=user).exists()
