"""POST /api/v1/auctions: the title reaches every email's subject, so it refuses control and
invisible characters; the description reaches only the body and keeps line breaks."""

from datetime import timedelta

import pytest

from auctions.models import Auction
from common import clock
from tests.common.assertions import assert_problem

pytestmark = pytest.mark.django_db

URL = "/api/v1/auctions"


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


@pytest.fixture
def alice(client_for):
    return client_for("alice")


# Every line boundary Python's header folding splits on, other C0/C1 controls, and the
# invisible format characters that could hide in a subject line.
HEADER_BREAKERS = [
    "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029",
    "\x00", "\x07", "\x1b", "\x7f", "\x9f", "\t", "\u200b", "\u202e", "\ufeff",
]  # fmt: skip


@pytest.mark.parametrize("char", HEADER_BREAKERS)
def test_a_title_with_a_control_or_format_character_is_400(alice, char):
    response = alice.post(URL, payload(title=f"Vase{char}Reply-To :phish@evil.example"),
                          format="json")  # fmt: skip

    body = assert_problem(response, 400, "validation_error")
    assert list(body["errors"]) == ["title"]
    assert "Control or invisible characters" in body["errors"]["title"][0]
    assert not Auction.objects.exists()


@pytest.mark.parametrize(
    "title",
    ["Vase d'époque", "Ваза", "花瓶 (Ming)", "Vase 🏺", "👨\u200d👩\u200d👧 family set",
     "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "Vase\u00a0100 cm"],
)  # fmt: skip
def test_a_title_in_any_script_with_emoji_and_joiners_is_accepted(alice, title):
    response = alice.post(URL, payload(title=title), format="json")

    assert response.status_code == 201, response.content
    assert Auction.objects.get().title == title


@pytest.mark.parametrize("char", ["\x00", "\x0b", "\x0c", "\x1c", "\x1b", "\x7f", "\x85"])
def test_a_description_with_a_control_character_is_400(alice, char):
    response = alice.post(URL, payload(description=f"Murano{char}glass"), format="json")

    body = assert_problem(response, 400, "validation_error")
    assert list(body["errors"]) == ["description"]
    assert not Auction.objects.exists()


def test_a_description_keeps_its_line_breaks_and_tabs(alice):
    description = "Murano glass.\r\n\tHeight:\t30 cm\n\nNo chips.\u2028Signed."

    response = alice.post(URL, payload(description=description), format="json")

    assert response.status_code == 201, response.content
    assert Auction.objects.get().description == description
