"""An auction's detail is one snapshot: its price, count and leader agree with its bids.

A bid committed by someone else between the two reads of the detail view (the auction row,
then its latest bids) must not show up as a bid the auction's own fields do not count. The
interleaving is forced deterministically: the bid is placed, through the service, right
before the view reads the bids.
"""

from decimal import Decimal

import pytest

from auctions import selectors
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bid_lands_between_the_reads(monkeypatch, bid_place):
    """`arm(auction, amount)`: the next read of the latest bids first commits that bid."""

    def arm(auction, amount):
        original = selectors.bid_list_recent

        def bid_then_read(*args, **kwargs):
            monkeypatch.setattr(selectors, "bid_list_recent", original)
            bid_place(auction, UserFactory(), amount)
            return original(*args, **kwargs)

        monkeypatch.setattr(selectors, "bid_list_recent", bid_then_read)

    return arm


def assert_consistent(detail: dict) -> None:
    bids = detail["bids"]
    assert len(bids) == min(detail["bid_count"], 100), detail
    if bids:
        assert bids[0]["amount"] == detail["current_price"], detail
        assert bids[0]["bidder"] == detail["leader"], detail
    else:
        assert detail["leader"] is None, detail


def test_a_bid_committed_during_the_detail_read_is_not_half_shown(
    api_client, auction_create, bid_place, bid_lands_between_the_reads
):
    auction = auction_create()
    bid_place(auction, UserFactory(), "100.00")
    bid_lands_between_the_reads(auction, "105.00")

    detail = api_client.get(f"/api/v1/auctions/{auction.pk}").json()

    assert_consistent(detail)


def test_a_first_bid_committed_during_the_detail_read_is_not_half_shown(
    api_client, auction_create, bid_lands_between_the_reads
):
    auction = auction_create()
    bid_lands_between_the_reads(auction, Decimal("100.00"))

    detail = api_client.get(f"/api/v1/auctions/{auction.pk}").json()

    assert_consistent(detail)
