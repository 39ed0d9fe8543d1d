"""A member's own lists: /me/auctions, /me/bids and /me/participating."""

from datetime import timedelta
from decimal import Decimal

import pytest

from auctions import services
from common import clock
from tests.common.assertions import assert_problem
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

MY_AUCTIONS = "/api/v1/me/auctions"
MY_BIDS = "/api/v1/me/bids"
MY_PARTICIPATING = "/api/v1/me/participating"


def later(seconds: int):
    """The clock's instant plus `seconds`."""
    return clock.now() + timedelta(seconds=seconds)


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def ids(response) -> list[int]:
    return [item["id"] for item in results(response)]


def bid(auction, bidder, amount, max_amount=None):
    return services.bid_place(
        auction.pk,
        bidder=bidder,
        amount=Decimal(amount),
        max_amount=Decimal(max_amount) if max_amount else None,
    )


# --- Authentication -----------------------------------------------------------------------


@pytest.mark.parametrize("url", [MY_AUCTIONS, MY_BIDS, MY_PARTICIPATING, "/api/v1/me/watchlist"])
def test_every_member_list_is_401_problem_without_a_token(api_client, url):
    assert_problem(api_client.get(url), 401, "not_authenticated")


@pytest.mark.parametrize("url", [MY_AUCTIONS, MY_BIDS, MY_PARTICIPATING, "/api/v1/me/watchlist"])
def test_every_member_list_is_401_with_an_invalid_token(api_client, url):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert api_client.get(url).status_code == 401


@pytest.mark.parametrize("url", [MY_AUCTIONS, MY_BIDS, MY_PARTICIPATING, "/api/v1/me/watchlist"])
def test_member_lists_answer_with_a_trailing_slash_and_refuse_writes_with_405(client_for, url):
    client = client_for("alice")
    assert client.get(f"{url}/").status_code == 200
    assert_problem(client.post(url, {}, format="json"), 405, "method_not_allowed")


# --- /me/auctions -------------------------------------------------------------------------


def test_my_auctions_lists_only_mine_newest_first_with_the_usual_representation(
    client_for, auction_create, frozen_clock
):
    alice = client_for("alice")
    first = auction_create(owner=alice.user, title="First")
    frozen_clock.shift(1)
    second = auction_create(owner=alice.user, title="Second", reserve_price=Decimal("500"))
    auction_create(title="Someone else's")

    response = alice.get(MY_AUCTIONS)

    body = response.json()
    assert body["count"] == 2
    assert ids(response) == [second.pk, first.pk]
    item = body["results"][0]
    assert item["owner"] == "alice"
    assert item["status"] == "active"
    assert item["current_price"] == "100.00"
    assert item["min_next_bid"] == "100.00"
    assert item["reserve_price"] == "500.00"  # the owner sees their own reserve


def test_my_auctions_is_empty_for_a_member_without_auctions(client_for, auction_create):
    auction_create()
    response = client_for("alice").get(MY_AUCTIONS)
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_my_auctions_filters_by_status_from_the_clock(client_for, auction_create, frozen_clock):
    alice = client_for("alice")
    short = auction_create(owner=alice.user, end_time=later(60))
    long = auction_create(owner=alice.user, end_time=later(3000))
    frozen_clock.shift(61)

    assert ids(alice.get(MY_AUCTIONS, {"status": "active"})) == [long.pk]
    assert ids(alice.get(MY_AUCTIONS, {"status": "finished"})) == [short.pk]
    assert set(ids(alice.get(MY_AUCTIONS, {"status": "all"}))) == {short.pk, long.pk}


def test_my_auctions_with_an_unknown_status_is_400(client_for):
    response = client_for("alice").get(MY_AUCTIONS, {"status": "sold"})
    body = assert_problem(response, 400, "validation_error")
    assert "status" in body["errors"]


def test_my_auctions_ignores_an_owner_parameter(client_for, auction_create):
    alice = client_for("alice")
    mine = auction_create(owner=alice.user)
    bob = UserFactory(username="bob")
    auction_create(owner=bob)

    assert ids(alice.get(MY_AUCTIONS, {"owner": "bob"})) == [mine.pk]


def test_my_auctions_is_paginated(client_for, auction_create):
    alice = client_for("alice")
    for _ in range(5):
        auction_create(owner=alice.user)

    first = alice.get(MY_AUCTIONS, {"page_size": 2}).json()
    last = alice.get(MY_AUCTIONS, {"page_size": 2, "page": 3}).json()

    assert first["count"] == 5
    assert len(first["results"]) == 2
    assert "page=2" in first["next"]
    assert len(last["results"]) == 1
    assert last["next"] is None


def test_my_auctions_pages_take_a_fixed_number_of_queries(
    client_for, auction_create, django_assert_max_num_queries
):
    alice = client_for("alice")
    for index in range(6):
        auction = auction_create(owner=alice.user)
        bid(auction, UserFactory(), "100.00")
        if index % 2:
            bid(auction, UserFactory(), "105.00")

    # authentication, count, page: whatever the number of auctions, leaders and owners
    with django_assert_max_num_queries(3):
        assert len(results(alice.get(MY_AUCTIONS))) == 6


# --- /me/bids -----------------------------------------------------------------------------


def test_my_bids_lists_my_bids_newest_first_with_their_auction(client_for, auction_create):
    alice = client_for("alice")
    bob = UserFactory(username="bob")
    lamp = auction_create(title="Lamp")
    vase = auction_create(title="Vase")
    first = bid(lamp, alice.user, "100.00")
    bid(lamp, bob, "105.00")
    second = bid(vase, alice.user, "100.00")
    bid(vase, bob, "110.00")
    third = bid(vase, alice.user, "120.00")

    response = alice.get(MY_BIDS)

    body = response.json()
    assert body["count"] == 3
    assert ids(response) == [third.pk, second.pk, first.pk]
    newest = body["results"][0]
    assert newest["auction"] == vase.pk
    assert newest["auction_title"] == "Vase"
    assert newest["auction_status"] == "active"
    assert newest["amount"] == "120.00"
    assert newest["bidder"] == "alice"
    assert newest["auto"] is False
    assert newest["leading"] is True
    assert newest["won"] is False
    by_id = {item["id"]: item for item in body["results"]}
    assert by_id[second.pk]["leading"] is True  # I lead that auction (with a later bid)
    assert by_id[first.pk]["leading"] is False  # bob outbid me on the lamp


def test_my_bids_include_the_automatic_bids_of_my_maximum(client_for, auction_create):
    alice = client_for("alice")
    auction = auction_create()
    bid(auction, alice.user, "100.00", max_amount="200.00")
    bid(auction, UserFactory(), "110.00")  # my maximum answers with 115.00

    items = results(alice.get(MY_BIDS))

    assert [(item["amount"], item["auto"]) for item in items] == [
        ("115.00", True),
        ("100.00", False),
    ]
    assert all(item["leading"] for item in items)


def test_won_is_true_only_once_the_auction_is_finished_and_i_am_its_winner(
    client_for, auction_create, frozen_clock
):
    alice = client_for("alice")
    won = auction_create(title="Won")
    lost = auction_create(title="Lost")
    bid(won, alice.user, "100.00")
    bid(lost, alice.user, "100.00")
    bid(lost, UserFactory(), "105.00")

    before_end = {item["auction_title"]: item for item in results(alice.get(MY_BIDS))}
    assert before_end["Won"]["won"] is False  # leading, but not finished yet
    assert before_end["Won"]["leading"] is True

    frozen_clock.shift(31 * 60)  # past the end; the closing has not run yet
    after_end = {item["auction_title"]: item for item in results(alice.get(MY_BIDS))}
    assert after_end["Won"]["auction_status"] == "finished"
    assert after_end["Won"]["won"] is True
    assert after_end["Lost"]["won"] is False

    services.auction_close(won.pk)
    services.auction_close(lost.pk)
    closed = {item["auction_title"]: item for item in results(alice.get(MY_BIDS))}
    assert closed["Won"]["won"] is True
    assert closed["Lost"]["won"] is False


def test_a_leader_below_the_reserve_has_not_won(client_for, auction_create, frozen_clock):
    alice = client_for("alice")
    auction = auction_create(reserve_price=Decimal("500.00"))
    bid(auction, alice.user, "100.00")
    frozen_clock.shift(31 * 60)

    [item] = results(alice.get(MY_BIDS))
    assert item["leading"] is True
    assert item["won"] is False
    assert ids(alice.get(MY_BIDS, {"won": "true"})) == []

    services.auction_close(auction.pk)
    assert results(alice.get(MY_BIDS))[0]["won"] is False


def test_the_won_filter_keeps_the_bids_on_auctions_i_won_or_the_others(
    client_for, auction_create, frozen_clock
):
    alice = client_for("alice")
    won = auction_create()
    lost = auction_create()
    running = auction_create(end_time=later(3000))
    won_bids = [bid(won, alice.user, "100.00"), bid(won, alice.user, "110.00")]
    lost_bid = bid(lost, alice.user, "100.00")
    bid(lost, UserFactory(), "105.00")
    running_bid = bid(running, alice.user, "100.00")
    frozen_clock.shift(31 * 60)
    services.auction_close(won.pk)  # one closed, the other only past its end

    assert ids(alice.get(MY_BIDS, {"won": "true"})) == [b.pk for b in reversed(won_bids)]
    assert ids(alice.get(MY_BIDS, {"won": "false"})) == [running_bid.pk, lost_bid.pk]
    assert alice.get(MY_BIDS).json()["count"] == 4


@pytest.mark.parametrize("value", ["yes", "1", "maybe", "TRUE!"])
def test_an_invalid_won_filter_is_400(client_for, value):
    response = client_for("alice").get(MY_BIDS, {"won": value})
    body = assert_problem(response, 400, "validation_error")
    assert "won" in body["errors"]


def test_my_bids_shows_nobody_elses_bids(client_for, auction_create):
    alice = client_for("alice")
    bid(auction_create(), UserFactory(), "100.00")
    assert alice.get(MY_BIDS).json()["count"] == 0


def test_my_bids_pages_take_a_fixed_number_of_queries(
    client_for, auction_create, frozen_clock, django_assert_max_num_queries
):
    alice = client_for("alice")
    for index in range(6):
        auction = auction_create()
        bid(auction, alice.user, "100.00")
        if index % 2:
            bid(auction, UserFactory(), "105.00")
    frozen_clock.shift(31 * 60)
    services.auction_close_due()  # winners recorded: `won` reads them

    with django_assert_max_num_queries(3):
        assert len(results(alice.get(MY_BIDS))) == 6
    with django_assert_max_num_queries(3):
        assert len(results(alice.get(MY_BIDS, {"won": "true"}))) == 3


# --- /me/participating --------------------------------------------------------------------


def test_participating_lists_each_auction_i_bid_on_once_by_my_latest_bid(
    client_for, auction_create
):
    alice = client_for("alice")
    bob = UserFactory(username="bob")
    lamp = auction_create(title="Lamp")
    vase = auction_create(title="Vase")
    auction_create(title="Untouched")
    bid(lamp, alice.user, "100.00")
    bid(vase, alice.user, "100.00")
    bid(vase, bob, "105.00")
    bid(lamp, bob, "105.00")
    bid(lamp, alice.user, "110.00")  # my latest bid: the lamp comes first

    response = alice.get(MY_PARTICIPATING)

    body = response.json()
    assert body["count"] == 2
    assert ids(response) == [lamp.pk, vase.pk]
    lamp_item, vase_item = body["results"]
    assert lamp_item["title"] == "Lamp"
    assert lamp_item["my_highest_bid"] == "110.00"
    assert lamp_item["leading"] is True
    assert lamp_item["current_price"] == "110.00"
    assert lamp_item["leader"] == "alice"
    assert lamp_item["my_max_amount"] is None
    assert vase_item["my_highest_bid"] == "100.00"
    assert vase_item["leading"] is False
    assert vase_item["leader"] == "bob"
    assert vase_item["status"] == "active"


def test_participating_shows_my_maximum_to_me_and_to_nobody_else(client_for, auction_create):
    alice = client_for("alice")
    bob = client_for("bob")
    auction = auction_create()
    bid(auction, alice.user, "100.00", max_amount="300.00")
    bid(auction, bob.user, "110.00", max_amount="150.00")  # alice's maximum answers

    [mine] = results(alice.get(MY_PARTICIPATING))
    [bobs] = results(bob.get(MY_PARTICIPATING))

    assert mine["my_max_amount"] == "300.00"
    assert mine["my_highest_bid"] == "155.00"
    assert mine["leading"] is True
    assert bobs["my_max_amount"] == "150.00"
    assert bobs["my_highest_bid"] == "110.00"  # his maximum could not beat hers
    assert bobs["leading"] is False
    assert "300.00" not in bob.get(MY_PARTICIPATING).content.decode()


def test_participating_filters_by_status(client_for, auction_create, frozen_clock):
    alice = client_for("alice")
    short = auction_create(end_time=later(60))
    long = auction_create(end_time=later(3000))
    bid(short, alice.user, "100.00")
    bid(long, alice.user, "100.00")
    frozen_clock.shift(61)

    assert ids(alice.get(MY_PARTICIPATING, {"status": "active"})) == [long.pk]
    finished = results(alice.get(MY_PARTICIPATING, {"status": "finished"}))
    assert [item["id"] for item in finished] == [short.pk]
    assert finished[0]["winner"] == "alice"
    assert_problem(alice.get(MY_PARTICIPATING, {"status": "nope"}), 400, "validation_error")


def test_participating_is_paginated(client_for, auction_create):
    alice = client_for("alice")
    auctions = [auction_create() for _ in range(3)]
    for auction in auctions:
        bid(auction, alice.user, "100.00")

    first = alice.get(MY_PARTICIPATING, {"page_size": 2}).json()
    second = alice.get(first["next"]).json()

    assert first["count"] == 3
    assert [item["id"] for item in first["results"]] == [auctions[2].pk, auctions[1].pk]
    assert [item["id"] for item in second["results"]] == [auctions[0].pk]


def test_participating_pages_take_a_fixed_number_of_queries(
    client_for, auction_create, django_assert_max_num_queries
):
    alice = client_for("alice")
    for index in range(6):
        auction = auction_create()
        bid(auction, alice.user, "100.00", max_amount="150.00" if index % 2 else None)
        bid(auction, UserFactory(), "200.00")
        bid(auction, alice.user, "205.00")

    with django_assert_max_num_queries(3):
        items = results(alice.get(MY_PARTICIPATING))
    assert len(items) == 6
    assert {item["my_highest_bid"] for item in items} == {"205.00"}
