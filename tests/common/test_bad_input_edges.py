"""Bad input at the HTTP edge is a 4xx problem+json, never a 500."""

from datetime import timedelta

import pytest
from oauth2_provider.models import AccessToken, Application
from rest_framework.test import APIClient

from common import clock
from tests.common.assertions import assert_problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def anonymous() -> APIClient:
    # A crash must come back as the 500 a real client would see, not as a test error.
    return APIClient(raise_request_exception=False)


@pytest.fixture
def alice(client_for) -> APIClient:
    client = client_for("alice")
    client.raise_request_exception = False
    return client


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [(",", "default"), (",,", "default"), ("-end_time,", "late first"),
     (",-end_time", "late first"), ("-end_time,,", "late first")],
)  # fmt: skip
def test_ordering_reads_without_its_blank_items_on_the_public_list(
    anonymous, auction_create, ordering, expected
):
    early = auction_create(end_time=clock.now() + timedelta(minutes=10))
    late = auction_create(end_time=clock.now() + timedelta(minutes=20))

    response = anonymous.get("/api/v1/auctions", {"ordering": ordering})

    assert response.status_code == 200
    ids = [item["id"] for item in response.json()["results"]]
    if expected == "default":
        assert ids == [item["id"] for item in anonymous.get("/api/v1/auctions").json()["results"]]
    else:
        assert ids == [late.pk, early.pk]


def test_ordering_with_only_blank_items_is_the_default_on_my_auctions(alice, auction_create):
    auction_create(owner=alice.user)

    response = alice.get("/api/v1/me/auctions", {"ordering": ","})

    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_ordering_by_a_listed_field_still_works(anonymous, auction_create):
    early = auction_create(end_time=clock.now() + timedelta(minutes=10))
    late = auction_create(end_time=clock.now() + timedelta(minutes=20))

    response = anonymous.get("/api/v1/auctions", {"ordering": "-end_time"})

    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [late.pk, early.pk]


@pytest.mark.parametrize("charset", ["zlib_codec", "base64_codec", "rot13", "no-such-charset"])
def test_json_post_in_a_charset_that_is_no_text_encoding_is_415(alice, charset):
    response = alice.generic(
        "POST",
        "/api/v1/auctions",
        b'{"title": "Vase"}',
        content_type=f"application/json; charset={charset}",
    )

    assert_problem(response, 415, "unsupported_media_type")


def test_form_post_to_the_oauth_token_endpoint_in_a_bytes_codec_is_415(anonymous):
    response = anonymous.generic(
        "POST",
        "/o/token/",
        b"grant_type=password",
        content_type="application/x-www-form-urlencoded; charset=zlib_codec",
    )

    assert_problem(response, 415, "unsupported_media_type")


def test_json_post_in_a_text_charset_is_parsed(alice):
    body = '{"title": "Vase é", "description": "", "starting_price": "1", "price_step": "1", '
    body += f'"end_time": "{(clock.now() + timedelta(hours=1)).isoformat()}"}}'

    response = alice.generic(
        "POST", "/api/v1/auctions", body.encode("latin-1"),
        content_type="application/json; charset=latin-1",
    )  # fmt: skip

    assert response.status_code == 201, response.content
    assert response.json()["title"] == "Vase é"


@pytest.mark.parametrize(
    ("url", "method", "body"),
    [
        ("/api/v1/auctions", "POST", b'{"currency": "\\ud800"}'),
        ("/api/v1/auctions", "POST", b'{"condition": "\\udfff"}'),
        ("/api/v1/me/preferences", "PATCH", b'{"\\ud800": true}'),
        ("/api/v1/auth/token", "POST", b'{"username": "a\\udc00", "password": "x"}'),
    ],
)
def test_a_lone_surrogate_in_a_json_body_is_400_parse_error(alice, url, method, body):
    response = alice.generic(method, url, body, content_type="application/json")

    assert_problem(response, 400, "parse_error")


def test_a_surrogate_pair_is_a_character_and_is_accepted(alice):
    # "\ud83c\udffa" is one character (an amphora): only an unpaired half is refused.
    response = alice.generic(
        "PATCH", "/api/v1/me/preferences", b'{"\\ud83c\\udffa": true}',
        content_type="application/json",
    )  # fmt: skip

    body = assert_problem(response, 400, "validation_error")
    assert body["errors"] == {"\U0001f3fa": ["Unknown field."]}


def test_the_renderer_writes_a_lone_surrogate_as_an_escape_instead_of_crashing():
    from common.renderers import JSONRenderer

    rendered = JSONRenderer().render({"detail": '"\ud800" is not a valid choice.'})

    assert rendered == b'{"detail":"\\"\\ud800\\" is not a valid choice."}'


@pytest.fixture
def userless_token(db) -> str:
    """An access token issued to an application alone (client credentials): no user."""
    application = Application.objects.create(
        name="A service",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
    )
    AccessToken.objects.create(
        user=None,
        application=application,
        token="service-token-without-user",
        expires=clock.now() + timedelta(hours=1),
        scope="read write",
    )
    return "service-token-without-user"


def test_a_token_without_user_in_the_query_reads_the_public_list_as_anonymous(
    anonymous, auction_create, userless_token
):
    auction = auction_create()

    response = anonymous.get("/api/v1/auctions", {"access_token": userless_token})

    assert response.status_code == 200, response.content
    assert [item["id"] for item in response.json()["results"]] == [auction.pk]


@pytest.mark.parametrize("where", ["query", "header"])
def test_a_token_without_user_is_401_on_writes_and_member_views(anonymous, userless_token, where):
    query = ""
    if where == "query":
        query = f"?access_token={userless_token}"
    else:
        anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {userless_token}")

    create = anonymous.post(f"/api/v1/auctions{query}", {}, format="json")
    me = anonymous.get(f"/api/v1/me{query}")
    mine = anonymous.get(f"/api/v1/me/auctions{query}")

    for response in (create, me, mine):
        assert_problem(response, 401, "not_authenticated")
