"""Many bidders at once: the accepted bids of an auction still climb by at least the step.

Real threads, each with its own API client, token and database connection, hammer one
auction; afterwards the invariants of the contract must hold. The control test at the end
runs the same kind of race against a deliberately unlocked check-then-insert and shows that
it breaks them, so these tests can fail when the lock is missing.

The database must be shared by the threads, so these tests use a transactional test
database (`transaction=True`). PostgreSQL is the truth; SQLite runs them too (every
`transaction.atomic()` there is `BEGIN IMMEDIATE`, which serialises writers).
"""

import contextlib
import threading
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from django.db import IntegrityError, transaction

from auctions import services
from auctions.errors import BidTooLow
from auctions.models import Auction, Bid
from common import clock
from tests.factories import UserFactory
from tests.support.database import auction_row_locked, database_timeouts
from tests.support.threads import postgres_only, run_in_threads

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

THREADS = 16
DURATION = 3.0  # seconds of bidding in the free-for-all
STEP = Decimal("1.00")


RACE_NEEDS_POSTGRES = (
    "SQLite serialises every write transaction (BEGIN IMMEDIATE), so an unlocked "
    "read-check-insert cannot interleave there; the race is shown on PostgreSQL."
)


def assert_invariants(auction: Auction) -> list[Bid]:
    """The contract's promises about an auction's accepted bids, checked from the rows."""
    auction.refresh_from_db()
    bids = list(Bid.objects.filter(auction=auction).order_by("id"))  # id order = commit order
    amounts = [bid.amount for bid in bids]
    assert bids, "no bid was accepted"
    assert amounts[0] >= auction.starting_price
    too_small = [(a, b) for a, b in pairwise(amounts) if b < a + auction.price_step]
    assert too_small == [], "accepted bids that do not climb by the step"
    assert len(set(amounts)) == len(amounts)
    times = [bid.created_at for bid in bids]
    assert times == sorted(times)
    assert auction.current_price == max(amounts) == amounts[-1]
    assert auction.bid_count == len(bids)
    assert auction.leader_id == bids[-1].bidder_id
    return bids


@pytest.fixture
def auction(auction_create):
    return auction_create(
        owner=UserFactory(),
        starting_price=Decimal("1.00"),
        price_step=STEP,
        end_time=clock.now() + timedelta(minutes=10),
    )


def test_concurrent_bidders_through_the_api_keep_every_invariant(auction, make_client):
    clients = [make_client(UserFactory()) for _ in range(THREADS)]
    detail_url = f"/api/v1/auctions/{auction.pk}"
    answers: list[list[tuple[int, str | None]]] = [[] for _ in range(THREADS)]
    start = threading.Barrier(THREADS, timeout=30)

    def bidder(index: int) -> None:
        client, seen = clients[index], answers[index]
        start.wait()
        deadline = time.monotonic() + DURATION
        while time.monotonic() < deadline:
            detail = client.get(detail_url)
            seen.append((detail.status_code, None))
            if detail.status_code != 200:
                continue
            amount = detail.json()["min_next_bid"]
            response = client.post(f"{detail_url}/bids", {"amount": amount}, format="json")
            code = response.json().get("code") if response.status_code != 201 else None
            seen.append((response.status_code, code))

    errors = run_in_threads(THREADS, bidder)

    assert errors == []
    flat = [answer for per_thread in answers for answer in per_thread]
    statuses = Counter(status for status, _ in flat)
    assert not [status for status in statuses if status >= 500], statuses
    assert set(statuses) <= {200, 201, 400}, statuses
    assert {code for status, code in flat if status == 400} <= {"bid_too_low"}
    bids = assert_invariants(auction)
    assert statuses[201] == len(bids)
    # The test only means something if the bidders really collided.
    assert statuses[400] > 0, statuses
    assert len({bid.bidder_id for bid in bids}) > 1


def test_simultaneous_bids_of_the_same_amount_accept_exactly_one(auction, make_client):
    rounds = 5
    clients = [make_client(UserFactory()) for _ in range(THREADS)]
    bids_url = f"/api/v1/auctions/{auction.pk}/bids"
    answers: list[tuple[int, int, str | None]] = []
    lock = threading.Lock()
    each_round = threading.Barrier(THREADS, timeout=30)

    def bidder(index: int) -> None:
        for round_number in range(rounds):
            amount = str(auction.starting_price + round_number * STEP)
            each_round.wait()
            response = clients[index].post(bids_url, {"amount": amount}, format="json")
            code = response.json().get("code") if response.status_code != 201 else None
            with lock:
                answers.append((round_number, response.status_code, code))

    errors = run_in_threads(THREADS, bidder)

    assert errors == []
    for round_number in range(rounds):
        outcome = Counter(
            (status, code) for number, status, code in answers if number == round_number
        )
        assert outcome == {(201, None): 1, (400, "bid_too_low"): THREADS - 1}, outcome
    bids = assert_invariants(auction)
    assert len(bids) == rounds


def test_concurrent_service_calls_keep_every_invariant(auction):
    bidders = UserFactory.create_batch(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS, timeout=30)

    def bidder(index: int) -> None:
        start.wait()
        for attempt in range(10):
            # Each thread bids a different amount above what it last saw.
            seen = Auction.objects.get(pk=auction.pk).min_next_bid
            amount = seen + STEP * ((index + attempt) % 4)
            try:
                services.bid_place(auction.pk, bidder=bidders[index], amount=amount)
                outcome = "accepted"
            except BidTooLow:
                outcome = "too_low"
            with lock:
                outcomes.append(outcome)

    errors = run_in_threads(THREADS, bidder)

    assert errors == []
    bids = assert_invariants(auction)
    assert Counter(outcomes)["accepted"] == len(bids)


# --- The control: without the lock, the race is real -------------------------------------


def unlocked_bid_place_unsafe(auction_id: int, *, bidder, amount: Decimal) -> None:
    """bid_place WITHOUT the row lock: reads, decides, then writes. Deliberately wrong."""
    with transaction.atomic():
        auction = Auction.objects.get(pk=auction_id)  # no select_for_update
        if amount < auction.min_next_bid:
            raise BidTooLow()
        time.sleep(0.02)  # widen the window between the check and the write
        Bid.objects.create(auction=auction, bidder=bidder, amount=amount, created_at=clock.now())
        auction.current_price = amount
        auction.leader = bidder
        auction.bid_count += 1
        auction.save(update_fields=["current_price", "leader", "bid_count"])


@postgres_only(RACE_NEEDS_POSTGRES)
@pytest.mark.postgres
def test_control_without_the_lock_the_invariants_break(auction):
    bidders = UserFactory.create_batch(THREADS)
    start = threading.Barrier(THREADS, timeout=30)

    def bidder(index: int) -> None:
        start.wait()
        # Distinct amounts, so the unique constraint does not hide the race.
        amount = auction.starting_price + STEP * Decimal(index) / 4
        with contextlib.suppress(BidTooLow):
            unlocked_bid_place_unsafe(auction.pk, bidder=bidders[index], amount=amount)

    errors = run_in_threads(THREADS, bidder)

    assert errors == []
    auction.refresh_from_db()
    amounts = list(
        Bid.objects.filter(auction=auction).order_by("id").values_list("amount", flat=True)
    )
    lost_updates = auction.bid_count != len(amounts)
    not_climbing = any(b < a + STEP for a, b in pairwise(amounts))
    assert lost_updates or not_climbing, (
        f"the unlocked version did not race: {amounts}, bid_count={auction.bid_count}"
    )


@postgres_only(RACE_NEEDS_POSTGRES)
@pytest.mark.postgres
def test_control_without_the_lock_the_unique_constraint_fires(auction):
    bidders = UserFactory.create_batch(THREADS)
    start = threading.Barrier(THREADS, timeout=30)
    refused_by_the_database: list[int] = []

    def bidder(index: int) -> None:
        start.wait()
        try:
            unlocked_bid_place_unsafe(
                auction.pk, bidder=bidders[index], amount=auction.starting_price
            )
        except IntegrityError:
            refused_by_the_database.append(index)

    errors = run_in_threads(THREADS, bidder)

    assert errors == []
    assert refused_by_the_database, "every unlocked bid of the same amount went through"
    assert Bid.objects.filter(auction=auction).count() == 1


@postgres_only("lock_timeout and row locks are PostgreSQL's; SQLite has neither.")
@pytest.mark.postgres
def test_a_bid_that_waits_too_long_for_the_lock_is_503_busy(auction, make_client):
    client = make_client(UserFactory())

    with auction_row_locked(auction.pk), database_timeouts(lock_ms=200):
        response = client.post(
            f"/api/v1/auctions/{auction.pk}/bids", {"amount": "1.00"}, format="json"
        )

    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "busy"
    assert response["Retry-After"] == "1"
    assert not Bid.objects.filter(auction=auction).exists()


@postgres_only("lock_timeout and row locks are PostgreSQL's; SQLite has neither.")
@pytest.mark.postgres
def test_a_bid_below_the_price_is_refused_without_waiting_for_the_lock(auction, make_client):
    """While a bid holds the lock, bids that could only lose are answered at once (400),
    and a bid that could win waits for the lock as before."""
    first, loser, contender = UserFactory.create_batch(3)
    services.bid_place(auction.pk, bidder=first, amount=auction.starting_price + 10)
    client = make_client(loser)

    with auction_row_locked(auction.pk), database_timeouts(lock_ms=200):
        low = client.post(
            f"/api/v1/auctions/{auction.pk}/bids",
            {"amount": str(auction.starting_price + 10)},
            format="json",
        )
        winning = make_client(contender).post(
            f"/api/v1/auctions/{auction.pk}/bids",
            {"amount": str(auction.starting_price + 100)},
            format="json",
        )

    assert low.status_code == 400, low.content  # not 503: it never queued for the lock
    assert low.json()["code"] == "bid_too_low"
    assert Decimal(low.json()["min_next_bid"]) == auction.starting_price + 10 + auction.price_step
    assert winning.status_code == 503  # a bid that could win waited for the lock
    assert Bid.objects.filter(auction=auction).count() == 1
