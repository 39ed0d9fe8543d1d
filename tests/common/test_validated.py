"""`validated` binds an input serializer's fields once per thread, and answers every input
exactly as a new DRF serializer would."""

import threading
from decimal import Decimal

import pytest
from rest_framework.exceptions import ValidationError

from accounts.serializers import EmailPreferencesUpdateInputSerializer
from auctions.serializers import AuctionCreateInputSerializer, BidCreateInputSerializer
from common.serializers import validated

CASES = [
    (BidCreateInputSerializer, {"amount": "105.00"}),
    (BidCreateInputSerializer, {"amount": "1.001"}),
    (BidCreateInputSerializer, {"amount": Decimal("7"), "max_amount": "9.50"}),
    (BidCreateInputSerializer, {}),
    (BidCreateInputSerializer, {"amount": True, "max_amount": "NaN"}),
    (BidCreateInputSerializer, {"amount": "0", "max_amount": None}),
    (BidCreateInputSerializer, ["not", "an", "object"]),
    (AuctionCreateInputSerializer, {"title": "Lamp", "description": ""}),
    (
        AuctionCreateInputSerializer,
        {
            "title": "Lamp",
            "description": "",
            "starting_price": "10",
            "price_step": "1",
            "end_time": "2030-01-01T00:00:00+00:00",
            "currency": "eur",
        },
    ),
    (EmailPreferencesUpdateInputSerializer, {"outbid_notices": False}),
    (EmailPreferencesUpdateInputSerializer, {"outbid_notice": False}),
]


def reference(serializer_class, data):
    """What DRF answers with a serializer of its own, fields bound anew."""
    serializer = serializer_class(data=data)
    if serializer.is_valid():
        return "valid", dict(serializer.validated_data)
    return "invalid", serializer.errors


def answer(serializer_class, data):
    try:
        return "valid", validated(serializer_class, data)
    except ValidationError as error:
        return "invalid", error.detail


def test_every_input_gets_the_answer_of_a_new_serializer_in_any_order():
    expected = [reference(cls, data) for cls, data in CASES]
    for order in (CASES, CASES[::-1], CASES * 2):
        for cls, data in order:
            assert answer(cls, data) == expected[CASES.index((cls, data))]


def test_a_valid_input_after_an_invalid_one_is_unaffected_by_it():
    with pytest.raises(ValidationError):
        validated(BidCreateInputSerializer, {"amount": "-1"})
    assert validated(BidCreateInputSerializer, {"amount": "3.10"}) == {"amount": Decimal("3.10")}


def test_each_thread_validates_with_fields_of_its_own():
    expected = [reference(cls, data) for cls, data in CASES]
    failures = []

    def run():
        for _ in range(20):
            for (cls, data), want in zip(CASES, expected, strict=True):
                got = answer(cls, data)
                if got != want:
                    failures.append((cls.__name__, data, got))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
