"""Proxy bidding, buy now and soft close under concurrency: one locked transaction decides
everything that changes the price, so the invariants of plain bidding still hold, there is
exactly one winner, and nobody pays more than their maximum."""

import random
import threading
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest

from auctions import services
from auctions.errors import AuctionFinished, BidTooLow, BuyNowUnavailable
from auctions.models import Auction, Bid
from common import clock
from tests.concurrency.test_bidding_race import assert_invariants
from tests.factories import UserFactory
from tests.support.threads import run_in_threads

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

STEP = Decimal("1.00")


def bid_at_minimum(auction_id: int, user, *, until: float, max_amount=None) -> Counter:
    """Bid the minimum next bid until `until` (monotonic), counting the outcomes."""
    outcomes: Counter = Counter()
    while time.monotonic() < until:
        auction = Auction.objects.get(pk=auction_id)
        try:
            services.bid_place(
                auction_id, bidder=user, amount=auction.min_next_bid, max_amount=max_amount
            )
            outcomes["accepted"] += 1
        except BidTooLow:
            outcomes["too_low"] += 1
        except AuctionFinished:
            outcomes["finished"] += 1
            break
    return outcomes


def place_maximum(auction_id: int, user, max_amount: Decimal) -> None:
    """One bid at the minimum with a secret maximum, retried while the price allows it."""
    while True:
        amount = Auction.objects.get(pk=auction_id).min_next_bid
        if amount > max_amount:
            return  # the plain bids already passed this maximum
        try:
            services.bid_place(auction_id, bidder=user, amount=amount, max_amount=max_amount)
            return
        except BidTooLow:
            continue


def test_proxy_maxima_racing_plain_bids_never_pay_more_than_their_maximum(auction_create):
    auction = auction_create(starting_price=Decimal("1.00"), price_step=STEP)
    proxies = [UserFactory() for _ in range(6)]
    plain = [UserFactory() for _ in range(8)]
    maxima = {user.pk: Decimal(random.randint(50, 400)) for user in proxies}
    start = threading.Barrier(len(proxies) + len(plain), timeout=30)
    until = time.monotonic() + 30  # replaced when the barrier opens

    def work(index: int) -> None:
        nonlocal until
        start.wait()
        until = min(until, time.monotonic() + 3.0)
        if index < len(proxies):
            user = proxies[index]
            time.sleep(random.random())  # maxima arrive while the plain bids climb
            place_maximum(auction.pk, user, maxima[user.pk])
        else:
            bid_at_minimum(auction.pk, plain[index - len(proxies)], until=until)

    errors = run_in_threads(len(proxies) + len(plain), work)

    assert errors == []
    bids = assert_invariants(auction)
    for user in proxies:
        paid = [bid.amount for bid in bids if bid.bidder_id == user.pk]
        assert all(amount <= maxima[user.pk] for amount in paid)
    assert any(bid.auto for bid in bids), "the maxima never had to answer"


def test_buy_now_racing_bids_ends_with_exactly_one_outcome(auction_create):
    auction = auction_create(
        starting_price=Decimal("10.00"), price_step=STEP, buy_now_price=Decimal("500.00")
    )
    buyers = [UserFactory() for _ in range(6)]
    bidders = [UserFactory() for _ in range(6)]
    bought: list[int] = []
    start = threading.Barrier(len(buyers) + len(bidders), timeout=30)

    def work(index: int) -> None:
        start.wait()
        if index < len(buyers):
            try:
                services.auction_buy_now(auction.pk, buyer=buyers[index])
                bought.append(buyers[index].pk)
            except (BuyNowUnavailable, AuctionFinished):
                pass
        else:
            bid_at_minimum(auction.pk, bidders[index - len(buyers)], until=time.monotonic() + 1.0)

    errors = run_in_threads(len(buyers) + len(bidders), work)

    assert errors == []
    assert len(bought) <= 1
    bids = assert_invariants(auction)
    auction.refresh_from_db()
    if bought:
        # The purchase came first: it is the only bid, and the auction is closed with the
        # buyer as winner; every bid after it was refused.
        assert [bid.bidder_id for bid in bids] == bought
        assert auction.closed_at is not None
        assert auction.winner_id == bought[0]
        assert auction.final_price == Decimal("500.00")
    else:
        # A bid came first: nobody could buy, the auction is still open.
        assert auction.closed_at is None
        assert all(bid.amount < Decimal("500.00") or not bid.auto for bid in bids)


def test_soft_close_extensions_racing_the_closing_scheduler(auction_create):
    # The bidders first: creating users (password hashing) must not eat the auction's time.
    bidders = [UserFactory() for _ in range(8)]
    now = clock.now()
    # The extension window spans the whole auction: any bid before the end extends it, so
    # extensions happen even when a loaded machine spaces the bids out; the cap ends it.
    auction = auction_create(
        starting_price=Decimal("1.00"),
        price_step=STEP,
        end_time=now + timedelta(seconds=2),
        extension_seconds=2,
        max_end_time=now + timedelta(seconds=4),
    )
    closer_runs = Counter()

    def work(index: int) -> None:
        if index == len(bidders):  # the scheduler: closes due auctions as fast as it can
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                closer_runs["closed"] += services.auction_close_due()
                if Auction.objects.filter(pk=auction.pk, closed_at__isnull=False).exists():
                    return
            return
        bid_at_minimum(auction.pk, bidders[index], until=time.monotonic() + 8)

    errors = run_in_threads(len(bidders) + 1, work)

    assert errors == []
    bids = assert_invariants(auction)
    auction.refresh_from_db()
    assert closer_runs["closed"] == 1  # closed exactly once
    assert auction.closed_at >= auction.closes_at  # never before the effective end
    assert auction.closes_at <= auction.max_end_time
    assert all(bid.created_at < auction.closes_at for bid in bids)  # none after the end
    assert auction.winner_id == bids[-1].bidder_id
    assert auction.final_price == bids[-1].amount
    assert auction.extension_count >= 1
    assert Bid.objects.filter(auction=auction).count() == auction.bid_count
