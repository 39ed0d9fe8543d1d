"""Money is a Decimal with two places from the JSON body to the database and back."""

import io
from decimal import Decimal

import pytest
from rest_framework.exceptions import ParseError, ValidationError

from common.money import MoneyField
from common.parsers import DecimalJSONParser


def parse(raw: bytes):
    return DecimalJSONParser().parse(io.BytesIO(raw), parser_context={})


def test_json_numbers_with_a_fraction_are_parsed_as_decimal():
    data = parse(b'{"amount": 105.1, "tiny": 0.1, "exp": 1.5e2, "whole": 7}')

    assert data == {
        "amount": Decimal("105.1"),
        "tiny": Decimal("0.1"),
        "exp": Decimal("150"),
        "whole": 7,
    }
    assert all(not isinstance(value, float) for value in data.values())


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_literals_are_a_parse_error(literal):
    with pytest.raises(ParseError):
        parse(b'{"amount": ' + literal + b"}")


@pytest.mark.parametrize("raw", [b"{", b'{"a": 1,}', b"\xff\xfe", b"{'a': 1}"])
def test_malformed_or_undecodable_json_is_a_parse_error(raw):
    with pytest.raises(ParseError):
        parse(raw)


def test_a_body_nested_too_deep_is_a_parse_error_not_a_crash():
    with pytest.raises(ParseError):
        parse(b'{"a":' * 100_000 + b"1" + b"}" * 100_000)


def test_an_integer_too_long_to_convert_is_a_parse_error():
    with pytest.raises(ParseError):
        parse(b'{"amount": ' + b"9" * 5000 + b"}")


@pytest.mark.parametrize("raw", [b"", b"   \n"])
def test_an_empty_body_parses_as_an_empty_object(raw):
    assert parse(raw) == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("105", Decimal("105.00")),
        (105, Decimal("105.00")),
        (Decimal("105.1"), Decimal("105.10")),
        ("0.01", Decimal("0.01")),
        ("9999999999.99", Decimal("9999999999.99")),
    ],
)
def test_money_accepts_numbers_and_strings(value, expected):
    assert MoneyField().run_validation(value) == expected


@pytest.mark.parametrize(
    "value", [True, False, "NaN", "Infinity", "-inf", "1.001", "abc", "10000000000.00", 10**12]
)
def test_money_refuses_what_is_not_an_amount(value):
    with pytest.raises(ValidationError):
        MoneyField().run_validation(value)


@pytest.mark.parametrize("value", ["-0", "-0.00", Decimal("-0.0")])
def test_negative_zero_is_plain_zero(value):
    amount = MoneyField().run_validation(value)

    assert amount == 0
    assert str(amount) == "0.00"


def test_money_is_rendered_as_a_string_with_two_places():
    field = MoneyField()

    assert field.to_representation(Decimal("105")) == "105.00"
    assert field.to_representation(Decimal("0.5")) == "0.50"
