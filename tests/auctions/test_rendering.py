"""Auctions and bids are rendered by hand for speed; the OpenAPI schema is generated from
the declared fields. These tests pin that both describe the same shape."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from auctions.serializers import (
    AuctionDetailSerializer,
    AuctionSerializer,
    BidPlacedSerializer,
    BidSerializer,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def components(django_db_blocker):
    with django_db_blocker.unblock():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    return schema["components"]["schemas"]


@pytest.mark.parametrize(
    ("serializer", "component"),
    [
        (AuctionSerializer, "Auction"),
        (AuctionDetailSerializer, "AuctionDetail"),
        (BidSerializer, "Bid"),
        (BidPlacedSerializer, "BidPlaced"),
    ],
)
def test_the_rendered_keys_are_the_documented_properties(serializer, component, components):
    assert list(components[component]["properties"]) == list(serializer.Meta.fields)


def test_an_auction_renders_exactly_its_documented_keys(client_for, auction_create, bid_place):
    auction = auction_create()
    bid_place(auction, client_for("ann").user, "100.00")
    body = client_for("bob").get(f"/api/v1/auctions/{auction.pk}").json()
    assert list(body) == list(AuctionDetailSerializer.Meta.fields)
    assert list(body["bids"][0]) == ["id", "amount", "bidder", "auto", "created_at"]
    listed = client_for("cat").get("/api/v1/auctions").json()["results"][0]
    assert list(listed) == list(AuctionSerializer.Meta.fields)
