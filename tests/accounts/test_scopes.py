"""OAuth scopes: `write` for every change, `read` for every read with a token.

The read-only tokens here are minted the way a third party gets one: the password grant at
`/o/token/`, asking for `scope=read`.
"""

from datetime import timedelta

import pytest
from oauth2_provider.models import AccessToken

from accounts import services
from common import clock
from tests.accounts.helpers import PASSWORD, assert_problem, bearer, o_token_password

pytestmark = pytest.mark.django_db


@pytest.fixture
def read_token(api_client, user, password_app) -> str:
    response = o_token_password(api_client, "read")
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "read"
    return response.json()["access_token"]


@pytest.fixture
def write_only_token(api_client, user, password_app) -> str:
    response = o_token_password(api_client, "write")
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


@pytest.fixture
def auction(auction_create):
    return auction_create()


def auction_body() -> dict:
    return {
        "title": "A chair",
        "description": "Oak.",
        "starting_price": "10.00",
        "price_step": "1.00",
        "end_time": (clock.now() + timedelta(hours=1)).isoformat(),
    }


def test_register_and_login_issue_read_and_write(api_client, user):
    registered = api_client.post(
        "/api/v1/auth/register",
        {"username": "bob", "email": "bob@example.com", "password": PASSWORD},
        format="json",
    ).json()
    logged_in = api_client.post(
        "/api/v1/auth/token", {"username": "alice", "password": PASSWORD}, format="json"
    ).json()

    for pair in (registered, logged_in):
        token = AccessToken.objects.get(token_checksum=services._checksum(pair["access_token"]))
        assert set(token.scope.split()) == {"read", "write"}


def test_read_scoped_token_cannot_create_an_auction(api_client, read_token):
    response = bearer(api_client, read_token).post(
        "/api/v1/auctions", auction_body(), format="json"
    )

    body = assert_problem(response, 403, "insufficient_scope")
    assert body["required_scope"] == "write"
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]


def test_read_scoped_token_cannot_bid_and_no_bid_is_recorded(api_client, read_token, auction):
    response = bearer(api_client, read_token).post(
        f"/api/v1/auctions/{auction.pk}/bids", {"amount": "100.00"}, format="json"
    )

    assert_problem(response, 403, "insufficient_scope")
    assert auction.bids.count() == 0


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/auctions/{id}/buy", None),
        ("post", "/api/v1/auctions/{id}/watch", None),
        ("delete", "/api/v1/auctions/{id}/watch", None),
        ("patch", "/api/v1/me/preferences", {"new_bid": False}),
    ],
)
def test_read_scoped_token_cannot_write_anywhere(
    api_client, read_token, auction, method, path, body
):
    client = bearer(api_client, read_token)

    response = getattr(client, method)(path.format(id=auction.pk), body, format="json")

    assert_problem(response, 403, "insufficient_scope")


def test_read_scoped_token_reads_what_a_token_reads(api_client, read_token):
    client = bearer(api_client, read_token)

    assert client.get("/api/v1/me").json()["username"] == "alice"
    assert client.get("/api/v1/me/preferences").status_code == 200
    assert client.get("/api/v1/me/auctions").status_code == 200


def test_write_only_token_cannot_read_with_its_token(api_client, write_only_token):
    response = bearer(api_client, write_only_token).get("/api/v1/me")

    assert_problem(response, 403, "insufficient_scope")


def test_read_scoped_token_in_the_query_string_cannot_write_either(api_client, read_token, auction):
    response = api_client.post(
        f"/api/v1/auctions/{auction.pk}/watch?access_token={read_token}", format="json"
    )

    assert_problem(response, 403, "insufficient_scope")


def test_read_scoped_token_still_gets_405_for_a_method_nobody_may_use(
    api_client, read_token, auction
):
    response = bearer(api_client, read_token).delete(f"/api/v1/auctions/{auction.pk}")

    assert_problem(response, 405, "method_not_allowed")


def test_read_write_token_from_o_token_can_bid(api_client, user, password_app, auction):
    token = o_token_password(api_client, "read write").json()["access_token"]

    response = bearer(api_client, token).post(
        f"/api/v1/auctions/{auction.pk}/bids", {"amount": "100.00"}, format="json"
    )

    assert response.status_code == 201, response.content
