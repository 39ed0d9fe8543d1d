"""Routes under /api/v1/. Each URL answers with and without its trailing slash."""

from auctions import views
from common.urls import route

urlpatterns = [
    *route("auctions", views.AuctionListView.as_view(), "auction-list"),
    *route("auctions/<id:auction_id>", views.AuctionDetailView.as_view(), "auction-detail"),
    *route("auctions/<id:auction_id>/bids", views.AuctionBidListView.as_view(), "auction-bid-list"),
    *route("auctions/<id:auction_id>/buy", views.AuctionBuyView.as_view(), "auction-buy"),
    *route("meta", views.MetaView.as_view(), "meta"),
    *route(
        "auctions/<id:auction_id>/bids/<id:bid_id>",
        views.AuctionBidDetailView.as_view(),
        "auction-bid-detail",
    ),
    *route("auctions/<id:auction_id>/watch", views.AuctionWatchView.as_view(), "auction-watch"),
    *route("me/auctions", views.MyAuctionListView.as_view(), "my-auctions"),
    *route("me/bids", views.MyBidListView.as_view(), "my-bids"),
    *route(
        "me/participating",
        views.MyParticipatingAuctionListView.as_view(),
        "my-participating-auctions",
    ),
    *route("me/watchlist", views.MyWatchlistView.as_view(), "my-watchlist"),
]
