"""A request body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 problem+json, refused unread."""

import io

import pytest
from rest_framework.test import APIClient

from common.parsers import DecimalJSONParser, RequestTooLarge
from tests.common.assertions import assert_problem

pytestmark = pytest.mark.django_db

LIMIT = 1000


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT


class StreamThatMustNotBeRead(io.RawIOBase):
    """A request body of which no byte may be read."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        raise AssertionError("the body was read")


class BoundedStream(io.RawIOBase):
    """`size` bytes of JSON-ish filler; reading more than `allowed` of them fails."""

    def __init__(self, size: int, allowed: int) -> None:
        self.left, self.allowed, self.read_so_far = size, allowed, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.left)
        if self.read_so_far + count > self.allowed:
            raise AssertionError(f"read past {self.allowed} bytes")
        buffer[:count] = b" " * count
        self.left -= count
        self.read_so_far += count
        return count


@pytest.mark.parametrize(
    ("url", "content_type"),
    [
        ("/api/v1/auctions", "application/json"),
        ("/api/v1/auctions/1/bids", "application/json"),
        ("/api/v1/auth/register", "application/json"),
        ("/api/v1/auth/token", "application/json"),
        ("/o/token/", "application/x-www-form-urlencoded"),
        ("/o/revoke_token/", "application/x-www-form-urlencoded"),
        ("/admin/login/", "application/x-www-form-urlencoded"),
    ],
)
def test_a_body_longer_than_the_limit_is_413_before_any_of_it_is_read(url, content_type):
    client = APIClient(raise_request_exception=False)

    response = client.generic(
        "POST",
        url,
        b"",
        content_type=content_type,
        CONTENT_LENGTH=str(500 * 1024 * 1024),
        **{"wsgi.input": StreamThatMustNotBeRead()},
    )

    body = assert_problem(response, 413, "request_too_large")
    assert str(LIMIT) in body["detail"]


def test_a_body_one_byte_over_the_limit_is_413_and_one_at_the_limit_is_parsed(client_for):
    alice = client_for("alice")
    at_limit = b'{"amount": "1"}'.ljust(LIMIT, b" ")

    over = alice.generic("POST", "/api/v1/auctions/1/bids", at_limit + b" ",
                         content_type="application/json")  # fmt: skip
    at = alice.generic("POST", "/api/v1/auctions/1/bids", at_limit,
                       content_type="application/json")  # fmt: skip

    assert_problem(over, 413, "request_too_large")
    assert_problem(at, 404, "not_found")  # parsed, and then the auction is unknown


def test_the_limit_comes_from_the_setting(settings, client_for):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * LIMIT
    alice = client_for("alice")

    response = alice.generic("POST", "/api/v1/auctions/1/bids",
                             b'{"amount": "1"}'.ljust(5 * LIMIT, b" "),
                             content_type="application/json")  # fmt: skip

    assert_problem(response, 404, "not_found")


def test_the_json_parser_reads_at_most_one_byte_past_the_limit_of_a_longer_stream():
    # A body whose length was not announced (or announced short): the parser stops at
    # limit + 1 bytes and refuses it, without reading the rest.
    stream = io.BufferedReader(BoundedStream(size=100 * LIMIT, allowed=LIMIT + 1), 1)

    with pytest.raises(RequestTooLarge):
        DecimalJSONParser().parse(stream, "application/json", {})


def test_the_json_parser_reads_a_body_within_the_limit():
    stream = io.BytesIO(b'{"amount": 1.5}')

    assert DecimalJSONParser().parse(stream, "application/json", {}) == {"amount": 1.5}
