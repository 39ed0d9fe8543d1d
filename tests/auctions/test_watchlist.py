"""Watching: POST/DELETE /api/v1/auctions/{id}/watch and GET /api/v1/me/watchlist."""

from datetime import timedelta

import pytest

from auctions import services
from auctions.models import Watch
from common import clock
from tests.common.assertions import assert_problem
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

WATCHLIST = "/api/v1/me/watchlist"


def watch_url(auction_id: int) -> str:
    return f"/api/v1/auctions/{auction_id}/watch"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


# --- POST and DELETE /auctions/{id}/watch -------------------------------------------------


def test_watching_an_auction_is_201_with_the_watch(client_for, auction_create, frozen_clock):
    alice = client_for("alice")
    auction = auction_create()

    response = alice.post(watch_url(auction.pk))

    assert response.status_code == 201, response.content
    assert response.json() == {
        "auction": auction.pk,
        "watched_at": clock.now().isoformat().replace("+00:00", "Z"),
    }
    assert Watch.objects.filter(user=alice.user, auction=auction).count() == 1


def test_watching_again_is_200_and_changes_nothing(client_for, auction_create, frozen_clock):
    alice = client_for("alice")
    auction = auction_create()
    first = alice.post(watch_url(auction.pk)).json()
    frozen_clock.shift(60)

    response = alice.post(f"{watch_url(auction.pk)}/")  # with a trailing slash too

    assert response.status_code == 200, response.content
    assert response.json() == first  # still watched since the first time
    assert Watch.objects.filter(user=alice.user).count() == 1


def test_two_members_watch_the_same_auction_independently(client_for, auction_create):
    auction = auction_create()
    assert client_for("alice").post(watch_url(auction.pk)).status_code == 201
    assert client_for("bob").post(watch_url(auction.pk)).status_code == 201
    assert Watch.objects.filter(auction=auction).count() == 2


def test_an_owner_may_watch_their_own_auction(client_for, auction_create):
    alice = client_for("alice")
    auction = auction_create(owner=alice.user)
    assert alice.post(watch_url(auction.pk)).status_code == 201


def test_a_finished_auction_may_be_watched(client_for, auction_create, frozen_clock):
    alice = client_for("alice")
    auction = auction_create()
    frozen_clock.shift(31 * 60)
    assert alice.post(watch_url(auction.pk)).status_code == 201


def test_unwatching_is_204_and_removes_the_watch(client_for, auction_create):
    alice = client_for("alice")
    bob = client_for("bob")
    auction = auction_create()
    alice.post(watch_url(auction.pk))
    bob.post(watch_url(auction.pk))

    response = alice.delete(watch_url(auction.pk))

    assert response.status_code == 204
    assert response.content == b""
    assert list(Watch.objects.values_list("user__username", flat=True)) == ["bob"]


def test_unwatching_an_auction_one_does_not_watch_is_204_too(client_for, auction_create):
    alice = client_for("alice")
    auction = auction_create()
    assert alice.delete(watch_url(auction.pk)).status_code == 204
    alice.post(watch_url(auction.pk))
    assert alice.delete(watch_url(auction.pk)).status_code == 204
    assert alice.delete(f"{watch_url(auction.pk)}/").status_code == 204
    assert not Watch.objects.exists()


def test_watching_again_after_unwatching_is_201(client_for, auction_create):
    alice = client_for("alice")
    auction = auction_create()
    alice.post(watch_url(auction.pk))
    alice.delete(watch_url(auction.pk))
    assert alice.post(watch_url(auction.pk)).status_code == 201


@pytest.mark.parametrize("method", ["post", "delete"])
def test_watching_an_unknown_auction_is_404(client_for, method):
    response = getattr(client_for("alice"), method)(watch_url(999_999))
    assert_problem(response, 404, "not_found")
    assert not Watch.objects.exists()


@pytest.mark.parametrize("method", ["post", "delete"])
def test_watching_without_a_token_is_401(api_client, auction_create, method):
    auction = auction_create()
    response = getattr(api_client, method)(watch_url(auction.pk))
    assert_problem(response, 401, "not_authenticated")
    assert not Watch.objects.exists()


@pytest.mark.parametrize("method", ["get", "put", "patch"])
def test_other_methods_on_watch_are_405(client_for, auction_create, method):
    auction = auction_create()
    response = getattr(client_for("alice"), method)(watch_url(auction.pk))
    assert_problem(response, 405, "method_not_allowed")


def test_the_watch_service_is_idempotent(auction_create):
    user = UserFactory()
    auction = auction_create()

    first = services.watch_add(auction.pk, user=user)
    second = services.watch_add(auction.pk, user=user)
    services.watch_remove(auction.pk, user=user)
    services.watch_remove(auction.pk, user=user)

    assert first.created is True
    assert second.created is False
    assert second.pk == first.pk
    assert not Watch.objects.exists()


# --- GET /me/watchlist --------------------------------------------------------------------


def test_the_watchlist_lists_what_i_watch_latest_watch_first(
    client_for, auction_create, frozen_clock
):
    alice = client_for("alice")
    older = auction_create(title="Older auction")
    newer = auction_create(title="Newer auction")
    auction_create(title="Not watched")
    alice.post(watch_url(newer.pk))
    frozen_clock.shift(5)
    alice.post(watch_url(older.pk))  # watched last: comes first
    client_for("bob").post(watch_url(newer.pk))

    response = alice.get(WATCHLIST)

    body = response.json()
    assert body["count"] == 2
    assert ids(response) == [older.pk, newer.pk]
    item = body["results"][0]
    assert item["title"] == "Older auction"
    assert item["status"] == "active"
    assert item["current_price"] == "100.00"
    assert item["min_next_bid"] == "100.00"
    assert item["watched_at"] == clock.now().isoformat().replace("+00:00", "Z")


def test_an_unwatched_auction_leaves_the_watchlist(client_for, auction_create):
    alice = client_for("alice")
    auction = auction_create()
    alice.post(watch_url(auction.pk))
    alice.delete(watch_url(auction.pk))
    assert alice.get(WATCHLIST).json()["count"] == 0


def test_the_watchlist_filters_by_status(client_for, auction_create, frozen_clock):
    alice = client_for("alice")
    short = auction_create(end_time=clock.now() + timedelta(seconds=60))
    long = auction_create()
    alice.post(watch_url(short.pk))
    alice.post(watch_url(long.pk))
    frozen_clock.shift(61)

    assert ids(alice.get(WATCHLIST, {"status": "active"})) == [long.pk]
    assert ids(alice.get(WATCHLIST, {"status": "finished"})) == [short.pk]
    assert_problem(alice.get(WATCHLIST, {"status": "soon"}), 400, "validation_error")


def test_the_watchlist_is_paginated(client_for, auction_create):
    alice = client_for("alice")
    for _ in range(3):
        alice.post(watch_url(auction_create().pk))

    first = alice.get(WATCHLIST, {"page_size": 2}).json()
    second = alice.get(first["next"]).json()

    assert first["count"] == 3
    assert len(first["results"]) == 2
    assert len(second["results"]) == 1
    assert second["next"] is None


def test_the_watchlist_needs_a_token(api_client):
    assert_problem(api_client.get(WATCHLIST), 401, "not_authenticated")


def test_watchlist_pages_take_a_fixed_number_of_queries(
    client_for, auction_create, bid_place, django_assert_max_num_queries
):
    alice = client_for("alice")
    for index in range(6):
        auction = auction_create()
        if index % 2:
            bid_place(auction, UserFactory(), "100.00")
        alice.post(watch_url(auction.pk))

    # authentication, count, page
    with django_assert_max_num_queries(3):
        response = alice.get(WATCHLIST)
    assert len(ids(response)) == 6
