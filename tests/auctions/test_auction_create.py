"""POST /api/v1/auctions: the contract's shape, validation of form, and the end-time rule."""

from datetime import UTC, timedelta
from decimal import Decimal

import pytest

from auctions.models import Auction
from common import clock
from tests.common.assertions import assert_problem

pytestmark = pytest.mark.django_db

URL = "/api/v1/auctions"

AUCTION_FIELDS = {
    "id", "title", "description", "starting_price", "price_step", "currency", "end_time",
    "created_at", "owner", "status", "current_price", "min_next_bid", "bid_count", "leader",
    "winner",
}  # fmt: skip


def payload(**overrides) -> dict:
    body = {
        "title": "Antique clock",
        "description": "Still ticks.",
        "starting_price": "100.00",
        "price_step": "5.00",
        "end_time": (clock.now() + timedelta(hours=1)).isoformat(),
    }
    body.update(overrides)
    return body


def iso_z(moment) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def alice(client_for):
    return client_for("alice")


def test_create_auction_is_201_with_every_field_of_the_contract(alice, frozen_clock):
    now = clock.now()
    end_time = now + timedelta(hours=2)

    response = alice.post(
        URL,
        payload(starting_price="105", price_step="2.5", end_time=end_time.isoformat()),
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    # Extensions are welcome (contract); every field of the contract must be there, exactly.
    assert set(body) >= AUCTION_FIELDS
    assert {field: body[field] for field in AUCTION_FIELDS} == {
        "id": body["id"],
        "title": "Antique clock",
        "description": "Still ticks.",
        "starting_price": "105.00",
        "price_step": "2.50",
        "currency": "USD",
        "end_time": iso_z(end_time),
        "created_at": iso_z(now),
        "owner": "alice",
        "status": "active",
        "current_price": "105.00",
        "min_next_bid": "105.00",
        "bid_count": 0,
        "leader": None,
        "winner": None,
    }
    auction = Auction.objects.get(pk=body["id"])
    assert auction.owner.username == "alice"
    assert auction.starting_price == Decimal("105.00")
    assert auction.price_step == Decimal("2.50")
    assert auction.current_price == Decimal("105.00")
    assert auction.end_time == end_time
    assert auction.closes_at == end_time


def test_create_auction_without_token_is_401_and_creates_nothing(api_client):
    response = api_client.post(URL, payload(), format="json")

    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not Auction.objects.exists()


def test_create_auction_with_an_unknown_token_is_401(api_client, db):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-real-token")

    response = api_client.post(URL, payload(), format="json")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert not Auction.objects.exists()


def test_end_time_in_the_past_is_400_end_time_not_in_future(alice):
    past = clock.now() - timedelta(minutes=1)

    response = alice.post(URL, payload(end_time=past.isoformat()), format="json")

    body = assert_problem(response, 400, "end_time_not_in_future")
    assert "end_time" in body["errors"]
    assert not Auction.objects.exists()


def test_end_time_equal_to_now_is_400_end_time_not_in_future(alice, frozen_clock):
    response = alice.post(URL, payload(end_time=clock.now().isoformat()), format="json")

    assert_problem(response, 400, "end_time_not_in_future")


def test_an_auction_of_a_few_seconds_is_valid_and_finishes_on_time(alice, frozen_clock):
    end_time = clock.now() + timedelta(seconds=2)

    response = alice.post(URL, payload(end_time=end_time.isoformat()), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["status"] == "active"
    frozen_clock.shift(2)
    detail = alice.get(f"{URL}/{response.json()['id']}").json()
    assert detail["status"] == "finished"


def test_end_time_with_an_offset_is_stored_and_rendered_in_utc(alice):
    response = alice.post(URL, payload(end_time="2099-06-01T12:00:00+02:00"), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["end_time"] == "2099-06-01T10:00:00Z"


@pytest.mark.parametrize("field", ["title", "starting_price", "price_step", "end_time"])
def test_a_missing_required_field_is_400_validation_error_naming_it(alice, field):
    body = payload()
    del body[field]

    response = alice.post(URL, body, format="json")

    problem = assert_problem(response, 400, "validation_error")
    assert field in problem["errors"]
    assert not Auction.objects.exists()


def test_an_empty_body_lists_every_missing_field(alice):
    response = alice.post(URL, {}, format="json")

    problem = assert_problem(response, 400, "validation_error")
    assert {"title", "starting_price", "price_step", "end_time"} <= set(problem["errors"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("starting_price", "-1"),
        ("starting_price", -0.01),
        ("price_step", "0"),
        ("price_step", 0),
        ("price_step", "-5"),
        ("starting_price", "100.001"),
        ("price_step", 0.125),
        ("starting_price", "NaN"),
        ("starting_price", "nan"),
        ("price_step", "Infinity"),
        ("starting_price", "-Infinity"),
        ("starting_price", "abc"),
        ("starting_price", ""),
        ("starting_price", "1,00"),
        ("starting_price", True),
        ("price_step", False),
        ("starting_price", None),
        ("starting_price", []),
        ("price_step", {"amount": 5}),
        ("starting_price", "10000000000000"),  # 14 digits
        ("starting_price", 10**13),
        ("starting_price", "10000000000.00"),  # 13 digits
        ("starting_price", 1e300),
        ("price_step", "1e13"),
    ],
)
def test_an_invalid_amount_is_400_validation_error_never_500(alice, field, value):
    response = alice.post(URL, payload(**{field: value}), format="json")

    problem = assert_problem(response, 400, "validation_error")
    assert field in problem["errors"]
    assert not Auction.objects.exists()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_or_infinity_as_a_json_literal_is_400_parse_error(alice, literal):
    raw = f'{{"title": "x", "description": "", "starting_price": {literal}, "price_step": "1", '
    raw += f'"end_time": "{(clock.now() + timedelta(hours=1)).isoformat()}"}}'

    response = alice.generic("POST", URL, raw, content_type="application/json")

    assert_problem(response, 400, "parse_error")
    assert not Auction.objects.exists()


@pytest.mark.parametrize(
    ("starting_price", "price_step", "expected_price", "expected_step"),
    [
        (100, 5, "100.00", "5.00"),
        ("100", "5", "100.00", "5.00"),
        (100.5, 0.25, "100.50", "0.25"),
        ("100.50", "0.25", "100.50", "0.25"),
        (0, "0.01", "0.00", "0.01"),
        ("9999999999.99", 1, "9999999999.99", "1.00"),
    ],
)
def test_amounts_are_accepted_as_json_numbers_and_as_strings(
    alice, starting_price, price_step, expected_price, expected_step
):
    response = alice.post(
        URL, payload(starting_price=starting_price, price_step=price_step), format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["starting_price"] == expected_price
    assert body["price_step"] == expected_step
    auction = Auction.objects.get(pk=body["id"])
    assert auction.starting_price == Decimal(expected_price)
    assert auction.price_step == Decimal(expected_step)


def test_a_json_number_with_a_fraction_never_goes_through_a_float(alice):
    # 0.1 + 0.2 style: a float would store 9999999999.98999977... before rounding.
    raw = (
        '{"title": "x", "description": "", "starting_price": 9999999999.99, '
        f'"price_step": 0.1, "end_time": "{(clock.now() + timedelta(hours=1)).isoformat()}"}}'
    )

    response = alice.generic("POST", URL, raw, content_type="application/json")

    assert response.status_code == 201, response.content
    auction = Auction.objects.get(pk=response.json()["id"])
    assert auction.starting_price == Decimal("9999999999.99")
    assert auction.price_step == Decimal("0.10")
    assert response.json()["price_step"] == "0.10"


def test_currency_defaults_to_usd_and_accepts_an_iso_4217_code(alice):
    default = alice.post(URL, payload(), format="json")
    euro = alice.post(URL, payload(currency="EUR"), format="json")

    assert default.json()["currency"] == "USD"
    assert euro.status_code == 201
    assert euro.json()["currency"] == "EUR"
    assert Auction.objects.get(pk=euro.json()["id"]).currency == "EUR"


def test_a_lowercase_currency_code_is_stored_uppercase(alice):
    response = alice.post(URL, payload(currency="gbp"), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["currency"] == "GBP"


@pytest.mark.parametrize("currency", ["XXX", "US", "DOLLARS", "", 840, None, True])
def test_an_invalid_currency_is_400_validation_error(alice, currency):
    response = alice.post(URL, payload(currency=currency), format="json")

    problem = assert_problem(response, 400, "validation_error")
    assert "currency" in problem["errors"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", ""),
        ("title", "x" * 201),
        ("title", None),
        ("end_time", "tomorrow"),
        ("end_time", "2099-13-01T00:00:00Z"),
        ("end_time", 1234567890),
    ],
)
def test_other_invalid_fields_are_400_validation_error(alice, field, value):
    response = alice.post(URL, payload(**{field: value}), format="json")

    problem = assert_problem(response, 400, "validation_error")
    assert field in problem["errors"]


def test_a_malformed_json_body_is_400_parse_error(alice):
    response = alice.generic("POST", URL, '{"title": "x",', content_type="application/json")

    assert_problem(response, 400, "parse_error")
    assert not Auction.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        '{"title": ' * 50_000 + '"x"' + "}" * 50_000,  # nested deeper than Python recurses
        '{"starting_price": ' + "9" * 5000 + "}",  # an integer too long to convert
        "\ufeff{}",  # a byte-order mark is not JSON
    ],
)
def test_a_body_that_json_cannot_handle_is_400_parse_error_not_500(alice, raw):
    response = alice.generic("POST", URL, raw, content_type="application/json")

    assert_problem(response, 400, "parse_error")


def test_a_negative_zero_starting_price_is_rendered_as_zero(alice):
    response = alice.post(URL, payload(starting_price="-0.00"), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["starting_price"] == "0.00"
    assert response.json()["current_price"] == "0.00"
    assert response.json()["min_next_bid"] == "0.00"


@pytest.mark.parametrize("raw", ["[]", '"an auction"', "42", "null"])
def test_a_json_body_that_is_not_an_object_is_400(alice, raw):
    response = alice.generic("POST", URL, raw, content_type="application/json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert not Auction.objects.exists()


def test_a_form_encoded_body_is_415_unsupported_media_type(alice):
    response = alice.post(URL, payload())  # multipart, not JSON

    assert_problem(response, 415, "unsupported_media_type")
