"""Money is a `Decimal` with two places, end to end: model, serializer, JSON string."""

from decimal import Decimal

from rest_framework import serializers

MAX_DIGITS = 12
DECIMAL_PLACES = 2
CENT = Decimal("0.01")


class MoneyField(serializers.DecimalField):
    """A money amount: at most 2 decimal places, finite, rendered as a string ("105.00").

    Input may be a JSON number or a string. NaN, infinities, a third decimal place and
    non-numbers are validation errors (400), never a 500.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", MAX_DIGITS)
        kwargs.setdefault("decimal_places", DECIMAL_PLACES)
        kwargs.setdefault("coerce_to_string", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool):  # True is an int to Python, not an amount to a user
            self.fail("invalid")
        value = super().to_internal_value(data)
        return value.copy_abs() if value.is_zero() else value  # "-0" is 0.00, never "-0.00"


# ISO 4217 codes accepted for an auction's currency: the common ones, not the whole list.
CURRENCIES: tuple[str, ...] = (
    "AUD", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HKD", "HUF", "ILS",
    "INR", "JPY", "KRW", "MXN", "NOK", "NZD", "PLN", "SEK", "SGD", "TRY", "USD", "ZAR",
)  # fmt: skip
DEFAULT_CURRENCY = "USD"


def money_str(value: Decimal) -> str:
    """An amount as the API renders it: two decimals, as a string ("105.00")."""
    return f"{value:.2f}"
