"""Reserve price, buy now, soft close, clocks and item details."""

from datetime import timedelta
from decimal import Decimal

import pytest

from auctions import services
from auctions.models import Auction, Bid
from common import clock
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def create(client, **fields):
    body = {
        "title": "Lamp",
        "description": "Brass.",
        "starting_price": "100.00",
        "price_step": "5.00",
        "end_time": (clock.now() + timedelta(hours=2)).isoformat(),
        **fields,
    }
    return client.post("/api/v1/auctions", body, format="json")


# --- item details, meta, clocks -----------------------------------------------------------


def test_condition_defaults_to_used_and_is_validated(client_for):
    owner = client_for("owner")
    assert create(owner).json()["condition"] == "used"
    assert create(owner, condition="new").json()["condition"] == "new"
    response = create(owner, condition="broken")
    assert response.status_code == 400
    assert "condition" in response.json()["errors"]


def test_meta_lists_currencies_conditions_and_statuses(api_client):
    body = api_client.get("/api/v1/meta").json()
    assert "USD" in body["currencies"]
    assert "EUR" in body["currencies"]
    assert body["conditions"] == ["new", "used", "refurbished"]
    assert body["statuses"] == ["active", "finished"]


def test_every_auction_carries_server_time_and_seconds_left(client_for, frozen_clock):
    owner = client_for("owner")
    auction = create(owner, end_time=(clock.now() + timedelta(seconds=90)).isoformat()).json()
    assert auction["seconds_left"] == 90
    frozen_clock.shift(30)
    detail = owner.get(f"/api/v1/auctions/{auction['id']}").json()
    assert detail["seconds_left"] == 60
    assert detail["server_time"].startswith(clock.now().isoformat()[:19])
    frozen_clock.shift(120)
    assert owner.get(f"/api/v1/auctions/{auction['id']}").json()["seconds_left"] == 0


# --- reserve ------------------------------------------------------------------------------


def test_the_reserve_is_secret_but_whether_it_is_met_is_public(client_for):
    owner, bob = client_for("owner"), client_for("bob")
    auction = create(owner, reserve_price="150.00").json()
    assert auction["reserve_price"] == "150.00"  # the owner sees it
    public = bob.get(f"/api/v1/auctions/{auction['id']}").json()
    assert public["reserve_price"] is None
    assert public["reserve_met"] is False
    bob.post(f"/api/v1/auctions/{auction['id']}/bids", {"amount": "150.00"}, format="json")
    assert bob.get(f"/api/v1/auctions/{auction['id']}").json()["reserve_met"] is True


def test_an_auction_ending_below_its_reserve_has_no_winner(auction_create, frozen_clock):
    owner, bob = UserFactory(), UserFactory()
    auction = auction_create(owner=owner, reserve_price=Decimal("150.00"))
    services.bid_place(auction.pk, bidder=bob, amount=Decimal("120.00"))
    frozen_clock.shift(31 * 60)
    services.auction_close(auction.pk)
    auction.refresh_from_db()
    assert auction.closed_at is not None
    assert auction.winner is None
    assert auction.final_price is None


def test_a_reserve_below_the_starting_price_is_400(client_for):
    response = create(client_for("owner"), reserve_price="50.00")
    assert response.status_code == 400
    assert "reserve_price" in response.json()["errors"]


# --- buy now ------------------------------------------------------------------------------


def test_buy_now_ends_the_auction_at_once_with_the_buyer_as_winner(client_for):
    owner, bob = client_for("owner"), client_for("bob")
    auction = create(owner, buy_now_price="300.00").json()

    response = bob.post(f"/api/v1/auctions/{auction['id']}/buy")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "finished"
    assert body["winner"] == "bob"
    assert body["current_price"] == "300.00"
    row = Auction.objects.get(pk=auction["id"])
    assert row.closed_at is not None
    assert row.final_price == Decimal("300.00")
    late = client_for("cat").post(
        f"/api/v1/auctions/{auction['id']}/bids", {"amount": "400.00"}, format="json"
    )
    assert late.status_code == 409
    assert late.json()["code"] == "auction_finished"


def test_buy_now_is_refused_once_a_bid_exists_without_reserve(client_for):
    owner, bob, cat = client_for("owner"), client_for("bob"), client_for("cat")
    auction = create(owner, buy_now_price="300.00").json()
    bob.post(f"/api/v1/auctions/{auction['id']}/bids", {"amount": "100.00"}, format="json")
    response = cat.post(f"/api/v1/auctions/{auction['id']}/buy")
    assert response.status_code == 409
    assert response.json()["code"] == "buy_now_unavailable"
    assert Auction.objects.get(pk=auction["id"]).closed_at is None


def test_buy_now_stays_open_until_a_bid_reaches_the_reserve(client_for):
    owner, bob, cat = client_for("owner"), client_for("bob"), client_for("cat")
    auction = create(owner, reserve_price="200.00", buy_now_price="300.00").json()
    bob.post(f"/api/v1/auctions/{auction['id']}/bids", {"amount": "150.00"}, format="json")
    assert cat.post(f"/api/v1/auctions/{auction['id']}/buy").status_code == 200
    assert Auction.objects.get(pk=auction["id"]).winner.username == "cat"


def test_buy_now_by_the_owner_or_without_a_price_is_refused(client_for):
    owner, bob = client_for("owner"), client_for("bob")
    with_price = create(owner, buy_now_price="300.00").json()
    assert owner.post(f"/api/v1/auctions/{with_price['id']}/buy").json()["code"] == "own_auction"
    without = create(owner).json()
    response = bob.post(f"/api/v1/auctions/{without['id']}/buy")
    assert response.status_code == 409
    assert response.json()["code"] == "buy_now_unavailable"


# --- soft close ---------------------------------------------------------------------------


def test_a_bid_in_the_last_seconds_extends_the_effective_end(client_for, frozen_clock):
    owner, bob = client_for("owner"), client_for("bob")
    end_time = clock.now() + timedelta(seconds=60)
    auction = create(owner, end_time=end_time.isoformat(), extension_seconds=30).json()

    frozen_clock.shift(50)  # 10 s left: inside the 30 s window
    bob.post(f"/api/v1/auctions/{auction['id']}/bids", {"amount": "100.00"}, format="json")

    body = bob.get(f"/api/v1/auctions/{auction['id']}").json()
    assert body["closes_at"] == (clock.now() + timedelta(seconds=30)).isoformat().replace(
        "+00:00", "Z"
    )
    assert body["end_time"] == end_time.isoformat().replace("+00:00", "Z")  # never changes
    assert body["extension_count"] == 1
    frozen_clock.shift(20)  # past end_time, before closes_at
    assert bob.get(f"/api/v1/auctions/{auction['id']}").json()["status"] == "active"
    late = client_for("cat").post(
        f"/api/v1/auctions/{auction['id']}/bids", {"amount": "105.00"}, format="json"
    )
    assert late.status_code == 201


def test_a_bid_before_the_window_does_not_extend(client_for, frozen_clock):
    owner, bob = client_for("owner"), client_for("bob")
    auction = create(
        owner, end_time=(clock.now() + timedelta(seconds=120)).isoformat(), extension_seconds=30
    ).json()
    bob.post(f"/api/v1/auctions/{auction['id']}/bids", {"amount": "100.00"}, format="json")
    assert bob.get(f"/api/v1/auctions/{auction['id']}").json()["extension_count"] == 0


def test_extensions_never_pass_the_cap(auction_create, frozen_clock):
    users = [UserFactory() for _ in range(3)]
    end_time = clock.now() + timedelta(seconds=60)
    auction = auction_create(
        end_time=end_time, extension_seconds=30, max_end_time=end_time + timedelta(seconds=40)
    )
    frozen_clock.shift(55)
    services.bid_place(auction.pk, bidder=users[0], amount=Decimal("100.00"))  # to +85 s
    frozen_clock.shift(25)
    services.bid_place(auction.pk, bidder=users[1], amount=Decimal("105.00"))  # +110 > cap
    auction.refresh_from_db()
    assert auction.closes_at == end_time + timedelta(seconds=40)
    assert auction.extension_count == 2
    frozen_clock.shift(20)  # at the cap
    with pytest.raises(Exception, match="stopped accepting bids"):
        services.bid_place(auction.pk, bidder=users[2], amount=Decimal("110.00"))
    assert Bid.objects.filter(auction=auction).count() == 2


def test_the_list_filter_and_the_closing_use_the_effective_end(auction_create, frozen_clock):
    bob = UserFactory()
    end_time = clock.now() + timedelta(seconds=60)
    auction = auction_create(end_time=end_time, extension_seconds=30)
    frozen_clock.shift(45)
    services.bid_place(auction.pk, bidder=bob, amount=Decimal("100.00"))
    frozen_clock.shift(20)  # past end_time, 10 s before the effective end
    assert Auction.objects.active(clock.now()).filter(pk=auction.pk).exists()
    services.auction_close(auction.pk)
    auction.refresh_from_db()
    assert auction.closed_at is None  # an early close is a no-op
    frozen_clock.shift(15)
    services.auction_close(auction.pk)
    auction.refresh_from_db()
    assert auction.winner == bob


def test_a_cap_without_extension_is_400(client_for):
    response = create(
        client_for("owner"), max_end_time=(clock.now() + timedelta(hours=3)).isoformat()
    )
    assert response.status_code == 400
    assert "max_end_time" in response.json()["errors"]
