"""GET /api/v1/auctions/{id}: the auction with its latest bids; nothing is ever changed."""

from decimal import Decimal

import pytest

from auctions.models import Auction, Bid
from tests.common.assertions import assert_problem
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def url(auction_id) -> str:
    return f"/api/v1/auctions/{auction_id}"


def test_detail_is_the_auction_plus_its_bids(api_client, auction_create, bid_place):
    auction = auction_create(owner=UserFactory(username="olga"))
    bid = bid_place(auction, UserFactory(username="bob"), "100.00")

    response = api_client.get(url(auction.pk))

    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {
        "id", "title", "description", "starting_price", "price_step", "currency", "end_time",
        "created_at", "owner", "status", "current_price", "min_next_bid", "bid_count", "leader",
        "winner", "bids",
    }  # fmt: skip
    assert body["owner"] == "olga"
    assert body["current_price"] == "100.00"
    assert body["min_next_bid"] == "105.00"
    assert body["bid_count"] == 1
    assert body["leader"] == "bob"
    assert body["winner"] is None
    [shown] = body["bids"]
    assert {field: shown[field] for field in ("id", "amount", "bidder", "created_at")} == {
        "id": bid.pk,
        "amount": "100.00",
        "bidder": "bob",
        "created_at": bid.created_at.isoformat().replace("+00:00", "Z"),
    }


def test_detail_without_bids_has_an_empty_bid_list(api_client, auction_create):
    auction = auction_create()

    body = api_client.get(url(auction.pk)).json()

    assert body["bids"] == []
    assert body["leader"] is None
    assert body["min_next_bid"] == body["starting_price"] == "100.00"


def test_detail_shows_the_latest_100_bids_newest_first(api_client, auction_create, bid_place):
    auction = auction_create(starting_price="1.00", price_step="1.00")
    bidders = UserFactory.create_batch(3)
    for n in range(1, 106):
        bid_place(auction, bidders[n % 3], n)

    body = api_client.get(url(auction.pk)).json()

    amounts = [Decimal(bid["amount"]) for bid in body["bids"]]
    assert len(amounts) == 100
    assert amounts == [Decimal(n) for n in range(105, 5, -1)]
    assert body["bid_count"] == 105
    assert body["current_price"] == "105.00"
    assert body["leader"] == bidders[105 % 3].username
    history = api_client.get(f"{url(auction.pk)}/bids", {"page_size": 100}).json()
    assert history["count"] == 105


@pytest.mark.parametrize("auction_id", ["424242", "0", "99999999999999999999999"])
def test_an_unknown_auction_is_404_problem(api_client, auction_create, auction_id):
    auction_create()

    response = api_client.get(url(auction_id))

    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize("auction_id", ["abc", "-1", "1.5", "%20"])
def test_an_id_that_is_not_a_number_is_404_problem(api_client, auction_id):
    response = api_client.get(url(auction_id))

    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_an_auction_is_never_changed_through_the_api(make_client, auction_create, method):
    owner = UserFactory()
    auction = auction_create(owner=owner, title="Original")
    client = make_client(owner)

    response = getattr(client, method)(url(auction.pk), {"title": "Changed"}, format="json")

    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]
    auction.refresh_from_db()
    assert auction.title == "Original"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_bid_is_never_changed_through_the_api(make_client, auction_create, bid_place, method):
    bidder = UserFactory()
    auction = auction_create()
    bid = bid_place(auction, bidder, "100.00")

    response = getattr(make_client(bidder), method)(
        f"{url(auction.pk)}/bids/{bid.pk}", {"amount": "1.00"}, format="json"
    )

    assert_problem(response, 405, "method_not_allowed")
    bid.refresh_from_db()
    assert bid.amount == Decimal("100.00")
    assert Bid.objects.count() == 1


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/api/v1/auctions/{id}", "/api/v1/auctions/{id}/bids/{bid}"])
def test_changing_without_a_token_is_also_405_not_401(
    api_client, auction_create, bid_place, method, path
):
    # No token would make these methods work, so the answer is the same for everyone.
    auction = auction_create(title="Original")
    bid = bid_place(auction, UserFactory(), "100.00")

    response = getattr(api_client, method)(path.format(id=auction.pk, bid=bid.pk))

    assert_problem(response, 405, "method_not_allowed")
    auction.refresh_from_db()
    assert auction.title == "Original"
    assert Bid.objects.count() == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/api/v1/auctions"),
        ("patch", "/api/v1/auctions"),
        ("delete", "/api/v1/auctions"),
        ("put", "/api/v1/auctions/{id}/bids"),
        ("patch", "/api/v1/auctions/{id}/bids"),
        ("delete", "/api/v1/auctions/{id}/bids"),
        ("post", "/api/v1/auctions/{id}"),
        ("post", "/api/v1/auctions/{id}/bids/{bid}"),
    ],
)
def test_unsupported_methods_on_collections_are_405_problem(
    make_client, auction_create, bid_place, method, path
):
    owner = UserFactory()
    auction = auction_create(owner=owner)
    bid = bid_place(auction, UserFactory(), "100.00")

    response = getattr(make_client(owner), method)(
        path.format(id=auction.pk, bid=bid.pk), {}, format="json"
    )

    assert_problem(response, 405, "method_not_allowed")
    assert Auction.objects.count() == 1
    assert Bid.objects.count() == 1
