"""Closing a burst of auctions together, and the timed close that waits for a bid in progress
instead of leaving its auction to the next tick."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import transaction

from auctions import services
from auctions.models import Auction
from auctions.services.locking import _auction_lock
from tests.factories import UserFactory
from tests.support.threads import postgres_only, run_in_threads


@pytest.mark.django_db
def test_a_burst_records_each_outcome_like_a_single_close(auction_create, frozen_clock):
    ann, bob = UserFactory(), UserFactory()
    sold = auction_create()
    services.bid_place(sold.pk, bidder=ann, amount=Decimal("100.00"))
    services.bid_place(sold.pk, bidder=bob, amount=Decimal("105.00"))
    unsold = auction_create()
    below_reserve = auction_create(reserve_price=Decimal("500.00"))
    services.bid_place(below_reserve.pk, bidder=ann, amount=Decimal("100.00"))
    still_open = auction_create(end_time=sold.end_time.replace(year=sold.end_time.year + 1))
    frozen_clock.shift(3600)

    closed = services.auctions_close([sold.pk, unsold.pk, below_reserve.pk, still_open.pk])

    assert {auction.pk for auction in closed} == {sold.pk, unsold.pk, below_reserve.pk}
    outcomes = {
        auction.pk: (auction.winner_id, auction.final_price, auction.closed_at is not None)
        for auction in Auction.objects.all()
    }
    assert outcomes == {
        sold.pk: (bob.pk, Decimal("105.00"), True),
        unsold.pk: (None, None, True),
        below_reserve.pk: (None, None, True),
        still_open.pk: (None, None, False),
    }
    assert services.auctions_close([sold.pk, unsold.pk]) == []  # idempotent


@postgres_only("row locks are only real on PostgreSQL")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("wait", [True, False])
def test_a_timed_close_waits_for_a_bid_holding_the_auction_the_sweep_skips_it(
    auction_create, frozen_clock, wait
):
    auction = auction_create()
    frozen_clock.shift(3600)
    locked = threading.Event()
    results: list = [None, None]

    def work(index: int):
        if index == 0:  # a late bid: holds the row a moment, then is refused
            with transaction.atomic():
                _auction_lock(auction.pk)
                locked.set()
                time.sleep(0.5)
            return None
        locked.wait(5)
        return services.auctions_close([auction.pk], wait=wait)

    assert run_in_threads(2, work, results) == []

    if wait:
        assert [closed.pk for closed in results[1]] == [auction.pk]
    else:  # the control: skipped, left to the sweep's next tick
        assert results[1] == []
    assert (Auction.objects.get(pk=auction.pk).closed_at is not None) == wait
