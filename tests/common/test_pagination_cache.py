"""Large counts are reused for a moment; small counts are always exact."""

import pytest

from auctions.models import Auction
from common import pagination
from common.pagination import CachedCountPaginator
from tests.factories import AuctionFactory

pytestmark = pytest.mark.django_db


def test_a_small_count_is_always_exact():
    AuctionFactory.create_batch(3)
    assert CachedCountPaginator(Auction.objects.order_by("id"), 2, count_key="k").count == 3
    AuctionFactory()
    assert CachedCountPaginator(Auction.objects.order_by("id"), 2, count_key="k").count == 4


def test_a_large_count_is_reused_for_a_moment_then_recounted(monkeypatch):
    monkeypatch.setattr(pagination, "LARGE_COUNT", 2)
    AuctionFactory.create_batch(3)
    assert CachedCountPaginator(Auction.objects.order_by("id"), 2, count_key="k").count == 3
    AuctionFactory()
    assert (
        CachedCountPaginator(Auction.objects.order_by("id"), 2, count_key="k").count == 3
    )  # reused
    monkeypatch.setattr(pagination, "LARGE_COUNT_SECONDS", 0.0)
    pagination._counts.clear()
    assert CachedCountPaginator(Auction.objects.order_by("id"), 2, count_key="k").count == 4


def test_without_a_key_every_count_is_exact(monkeypatch):
    monkeypatch.setattr(pagination, "LARGE_COUNT", 0)
    AuctionFactory()
    assert CachedCountPaginator(Auction.objects.order_by("id"), 2).count == 1
    AuctionFactory()
    assert CachedCountPaginator(Auction.objects.order_by("id"), 2).count == 2
