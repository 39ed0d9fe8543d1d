"""`Idempotency-Key` on POST /auctions and POST /auctions/{id}/bids: a retry is answered the
first answer and creates nothing; a key is per user, one request's, and kept for 24 hours."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from auctions.models import Auction, Bid
from common import clock
from common.idempotency import idempotency_keys_purge
from common.models import IdempotencyKey
from common.prepared import statement_sql
from common.tasks import idempotency_keys_purge_task
from notifications.models import Event
from tests.common.assertions import assert_problem
from tests.factories import UserFactory
from tests.support.threads import postgres_only, run_in_threads

AUCTIONS_URL = "/api/v1/auctions"
DAY = timedelta(hours=24)


def bids_url(auction_id: int) -> str:
    return f"{AUCTIONS_URL}/{auction_id}/bids"


def post(client, url: str, body: dict, key: str | None = "key-1"):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(url, body, format="json", **headers)


def auction_body(**overrides) -> dict:
    """A valid auction, ending in a week: still valid when a test moves the clock a day."""
    body = {
        "title": "A fine thing",
        "description": "Hardly used.",
        "starting_price": "100.00",
        "price_step": "5.00",
        "end_time": (clock.now() + timedelta(days=7)).isoformat(),
    }
    body.update(overrides)
    return body


@pytest.fixture
def bob(client_for):
    return client_for("bob")


@pytest.fixture
def carol(client_for):
    return client_for("carol")


@pytest.fixture
def auction(auction_create):
    """Starting price 100.00, step 5.00, ending in a week."""
    return auction_create(end_time=clock.now() + timedelta(days=7))


# --- Replays ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_retried_auction_create_gets_the_first_answer_and_creates_nothing(bob):
    body = auction_body()

    first = post(bob, AUCTIONS_URL, body)
    again = post(bob, AUCTIONS_URL, body)

    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again["Content-Type"] == first["Content-Type"]
    assert again.content == first.content  # byte for byte, key order included
    assert Auction.objects.count() == 1
    assert Event.objects.filter(kind=Event.Kind.AUCTION_CREATED).count() == 1


@pytest.mark.django_db
def test_a_retried_bid_gets_the_first_answer_even_after_the_auction_moved_on(bob, carol, auction):
    first = post(bob, bids_url(auction.pk), {"amount": "100.00"})
    assert first.status_code == 201, first.content
    assert post(carol, bids_url(auction.pk), {"amount": "105.00"}, key=None).status_code == 201

    again = post(bob, bids_url(auction.pk), {"amount": "100.00"})

    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again.json()["current_price"] == "100.00"  # the answer of then, not of now
    assert Bid.objects.filter(auction=auction, bidder__username="bob").count() == 1
    assert Bid.objects.filter(auction=auction).count() == 2


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_409_idempotency_key_reused(bob, auction):
    assert post(bob, bids_url(auction.pk), {"amount": "100.00"}).status_code == 201

    response = post(bob, bids_url(auction.pk), {"amount": "110.00"})

    assert_problem(response, 409, "idempotency_key_reused")
    assert Bid.objects.filter(auction=auction).count() == 1


@pytest.mark.django_db
def test_the_same_key_and_body_on_another_auction_is_409_idempotency_key_reused(
    bob, auction, auction_create
):
    other = auction_create(end_time=clock.now() + timedelta(days=7))
    assert post(bob, bids_url(auction.pk), {"amount": "100.00"}).status_code == 201

    response = post(bob, bids_url(other.pk), {"amount": "100.00"})

    assert_problem(response, 409, "idempotency_key_reused")
    assert not Bid.objects.filter(auction=other).exists()


@pytest.mark.django_db
def test_a_key_used_to_create_an_auction_cannot_place_a_bid(bob, auction):
    assert post(bob, AUCTIONS_URL, auction_body()).status_code == 201

    response = post(bob, bids_url(auction.pk), {"amount": "100.00"})

    assert_problem(response, 409, "idempotency_key_reused")
    assert not Bid.objects.exists()


@pytest.mark.django_db
def test_the_trailing_slash_does_not_make_another_operation(bob):
    body = auction_body()
    first = post(bob, AUCTIONS_URL, body)

    again = post(bob, f"{AUCTIONS_URL}/", body)

    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert Auction.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_per_user_the_same_key_from_another_user_is_another_request(bob, carol):
    body = auction_body()

    by_bob = post(bob, AUCTIONS_URL, body)
    by_carol = post(carol, AUCTIONS_URL, body)

    assert by_bob.status_code == by_carol.status_code == 201
    assert "Idempotent-Replayed" not in by_carol
    assert by_carol.json()["owner"] == "carol"
    assert by_bob.json()["id"] != by_carol.json()["id"]
    assert Auction.objects.count() == 2


@pytest.mark.django_db
def test_a_key_is_replayed_for_almost_a_day(make_client, frozen_clock):
    user = UserFactory()
    body = auction_body()
    first = post(make_client(user), AUCTIONS_URL, body)

    frozen_clock.shift(DAY - timedelta(seconds=1))
    again = post(make_client(user), AUCTIONS_URL, body)  # a new token: the first expired

    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert Auction.objects.count() == 1


@pytest.mark.django_db
def test_a_key_older_than_a_day_is_forgotten_and_the_request_runs_again(make_client, frozen_clock):
    user = UserFactory()
    body = auction_body()
    first = post(make_client(user), AUCTIONS_URL, body)

    frozen_clock.shift(DAY)
    again = post(make_client(user), AUCTIONS_URL, body)

    assert again.status_code == 201, again.content
    assert "Idempotent-Replayed" not in again
    assert again.json()["id"] != first.json()["id"]
    assert Auction.objects.count() == 2
    key = IdempotencyKey.objects.get()  # the old row gave way to the new one
    assert key.created_at == clock.now()


# --- Errors are not stored ----------------------------------------------------------------


@pytest.mark.django_db
def test_a_refused_bid_is_not_stored_a_retry_is_evaluated_afresh(bob, carol, auction):
    assert post(carol, bids_url(auction.pk), {"amount": "100.00"}, key=None).status_code == 201

    refused = post(bob, bids_url(auction.pk), {"amount": "100.00"})
    body = assert_problem(refused, 400, "bid_too_low")
    assert body["min_next_bid"] == "105.00"
    assert not IdempotencyKey.objects.exists()

    assert post(carol, bids_url(auction.pk), {"amount": "105.00"}, key=None).status_code == 201
    again = post(bob, bids_url(auction.pk), {"amount": "100.00"})
    body = assert_problem(again, 400, "bid_too_low")
    assert body["min_next_bid"] == "110.00"  # today's answer, not a replay of the first
    assert "Idempotent-Replayed" not in again

    corrected = post(bob, bids_url(auction.pk), {"amount": "110.00"})
    assert corrected.status_code == 201, corrected.content
    assert Bid.objects.filter(auction=auction, bidder__username="bob").count() == 1


@pytest.mark.django_db
def test_an_invalid_auction_is_not_stored_the_corrected_request_runs(bob):
    refused = post(bob, AUCTIONS_URL, auction_body(price_step="0"))
    assert_problem(refused, 400, "validation_error")

    created = post(bob, AUCTIONS_URL, auction_body())

    assert created.status_code == 201, created.content
    assert Auction.objects.count() == 1


# --- The header ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "key",
    ["", "k" * 256, "clé", "tab\there", "line\nbreak"],
    ids=["empty", "too-long", "not-ascii", "tab", "newline"],
)
def test_a_malformed_key_is_400_validation_error_and_nothing_is_created(bob, key):
    response = post(bob, AUCTIONS_URL, auction_body(), key=key)

    body = assert_problem(response, 400, "validation_error")
    assert "Idempotency-Key" in body["errors"]
    assert not Auction.objects.exists()
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_a_key_of_255_printable_characters_is_accepted(bob):
    key = "~ " + "k" * 253

    response = post(bob, AUCTIONS_URL, auction_body(), key=key)

    assert response.status_code == 201, response.content
    assert IdempotencyKey.objects.get().key == key


@pytest.mark.django_db
def test_without_the_header_the_keys_are_never_queried(bob, auction):
    with CaptureQueriesContext(connection) as queries:
        assert post(bob, AUCTIONS_URL, auction_body(), key=None).status_code == 201
        assert post(bob, AUCTIONS_URL, auction_body(), key=None).status_code == 201
        assert post(bob, bids_url(auction.pk), {"amount": "100.00"}, key=None).status_code == 201

    assert not [
        query for query in queries if "idempotencykey" in statement_sql(query["sql"]).lower()
    ]
    assert Auction.objects.filter(owner__username="bob").count() == 2


@pytest.mark.django_db
def test_a_write_without_a_token_is_still_401(api_client):
    response = post(api_client, AUCTIONS_URL, auction_body())

    assert_problem(response, 401, "not_authenticated")
    assert not IdempotencyKey.objects.exists()


# --- Housekeeping ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_purge_deletes_the_keys_older_than_a_day_only(make_client, frozen_clock):
    user = UserFactory()
    post(make_client(user), AUCTIONS_URL, auction_body(), key="old")
    frozen_clock.shift(timedelta(hours=12))
    post(make_client(user), AUCTIONS_URL, auction_body(), key="young")
    frozen_clock.shift(timedelta(hours=12))

    assert idempotency_keys_purge() == 1

    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["young"]
    assert idempotency_keys_purge() == 0


@pytest.mark.django_db
def test_the_purge_task_runs_the_purge(make_client, frozen_clock):
    post(make_client(UserFactory()), AUCTIONS_URL, auction_body())
    frozen_clock.shift(DAY)

    idempotency_keys_purge_task()

    assert not IdempotencyKey.objects.exists()


def test_the_purge_is_scheduled_every_hour_on_the_notifications_queue():
    from config.celery import app

    entries = [
        entry
        for entry in app.conf.beat_schedule.values()
        if entry["task"] == "common.tasks.idempotency_keys_purge_task"
    ]
    assert [entry["schedule"] for entry in entries] == [3600.0]
    assert app.conf.task_routes["common.tasks.*"] == {"queue": "notifications"}


# --- The schema ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_schema_documents_the_header_and_the_409_on_both_operations(api_client):
    response = api_client.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = response.json()["paths"]

    for path in (AUCTIONS_URL, f"{AUCTIONS_URL}/{{auction_id}}/bids"):
        operation = paths[path]["post"]
        headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
        assert not headers["Idempotency-Key"].get("required", False)
        assert "24 hours" in headers["Idempotency-Key"]["description"]
        assert "idempotency_key_reused" in operation["responses"]["409"]["description"]
        assert "Idempotent-Replayed" in operation["responses"]["201"]["headers"]


# --- Concurrency (PostgreSQL) -------------------------------------------------------------

THREADS = 8


CONCURRENCY_ON_POSTGRES = "Concurrency is proven on PostgreSQL (SQLite serialises writers)."


def all_at_once(count: int, work) -> list:
    """`work(index)` in `count` threads released together; their results, in index order."""
    results: list = [None] * count
    start = threading.Barrier(count, timeout=30)

    def at_the_start_line(index: int):
        start.wait()
        return work(index)

    assert run_in_threads(count, at_the_start_line, results) == []
    return results


@postgres_only(CONCURRENCY_ON_POSTGRES)
@pytest.mark.postgres
@pytest.mark.timeout(120)
@pytest.mark.django_db(transaction=True)
def test_the_same_bid_sent_at_once_with_one_key_is_placed_once(make_client, auction_create):
    auction = auction_create(end_time=clock.now() + timedelta(days=7))
    user = UserFactory()
    clients = [make_client(user) for _ in range(THREADS)]  # one client per thread

    answers = all_at_once(
        THREADS,
        lambda i: post(clients[i], bids_url(auction.pk), {"amount": "100.00"}, key="once"),
    )

    assert [answer.status_code for answer in answers] == [201] * THREADS
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert len({answer.content for answer in answers}) == 1
    assert sum(answer.has_header("Idempotent-Replayed") for answer in answers) == THREADS - 1
    assert Bid.objects.filter(auction=auction).count() == 1
    auction.refresh_from_db()
    assert auction.bid_count == 1


@postgres_only(CONCURRENCY_ON_POSTGRES)
@pytest.mark.postgres
@pytest.mark.timeout(120)
@pytest.mark.django_db(transaction=True)
def test_the_same_auction_sent_at_once_with_one_key_is_created_once(make_client):
    # auction_create locks nothing: only the key keeps the copies out.
    user = UserFactory()
    clients = [make_client(user) for _ in range(THREADS)]
    body = auction_body()

    answers = all_at_once(THREADS, lambda i: post(clients[i], AUCTIONS_URL, body, key="once"))

    assert [answer.status_code for answer in answers] == [201] * THREADS
    assert len({answer.content for answer in answers}) == 1
    assert Auction.objects.count() == 1
    assert Event.objects.filter(kind=Event.Kind.AUCTION_CREATED).count() == 1
