"""The admin shows auctions and bids to staff and never changes them."""

import pytest
from django.contrib.auth import get_user_model

from auctions.models import Auction, Bid
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    superuser = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(superuser)
    return client


@pytest.fixture
def auction_with_bids(auction_create, bid_place):
    auction = auction_create(title="Grandfather clock")
    bid_place(auction, UserFactory(username="bob"), "100.00")
    bid_place(auction, UserFactory(username="carol"), "110.00")
    return auction


def test_a_superuser_can_list_auctions_and_bids(admin_client, auction_with_bids):
    auctions = admin_client.get("/admin/auctions/auction/")
    bids = admin_client.get("/admin/auctions/bid/")

    assert auctions.status_code == 200
    assert b"Grandfather clock" in auctions.content
    assert bids.status_code == 200
    assert b"carol" in bids.content


def test_the_changelists_search_without_crashing(admin_client, auction_with_bids):
    assert admin_client.get("/admin/auctions/auction/", {"q": "clock"}).status_code == 200
    assert admin_client.get("/admin/auctions/bid/", {"q": "bob"}).status_code == 200


def test_a_superuser_can_view_an_auction_with_its_bids(admin_client, auction_with_bids):
    response = admin_client.get(f"/admin/auctions/auction/{auction_with_bids.pk}/change/")

    assert response.status_code == 200
    assert b"Grandfather clock" in response.content
    assert b"110.00" in response.content


def test_a_superuser_can_view_a_bid(admin_client, auction_with_bids):
    bid = Bid.objects.first()

    assert admin_client.get(f"/admin/auctions/bid/{bid.pk}/change/").status_code == 200


def test_the_admin_cannot_add_auctions_or_bids(admin_client, db):
    assert admin_client.get("/admin/auctions/auction/add/").status_code == 403
    assert admin_client.get("/admin/auctions/bid/add/").status_code == 403


def test_the_admin_cannot_delete_an_auction_or_a_bid(admin_client, auction_with_bids):
    bid = Bid.objects.first()

    auction_delete = admin_client.post(
        f"/admin/auctions/auction/{auction_with_bids.pk}/delete/", {"post": "yes"}
    )
    bid_delete = admin_client.post(f"/admin/auctions/bid/{bid.pk}/delete/", {"post": "yes"})

    assert auction_delete.status_code == 403
    assert bid_delete.status_code == 403
    assert Auction.objects.count() == 1
    assert Bid.objects.count() == 2


def test_the_changelists_offer_no_delete_action(admin_client, auction_with_bids):
    for url in ("/admin/auctions/auction/", "/admin/auctions/bid/"):
        response = admin_client.get(url)
        assert b"delete_selected" not in response.content


def test_the_admin_cannot_change_an_auction(admin_client, auction_with_bids):
    url = f"/admin/auctions/auction/{auction_with_bids.pk}/change/"

    response = admin_client.post(url, {"title": "Changed", "current_price": "1.00"})

    assert response.status_code == 403
    auction_with_bids.refresh_from_db()
    assert auction_with_bids.title == "Grandfather clock"
