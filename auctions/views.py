"""Thin views: parse, call one service or selector, render. Errors leave as domain errors."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from auctions import selectors, services
from auctions.filters import AuctionFilter, ClockedFilterBackend
from auctions.models import Auction, Bid
from auctions.serializers import (
    AuctionCreateInputSerializer,
    AuctionDetailSerializer,
    AuctionSerializer,
    BidCreateInputSerializer,
    BidPlacedSerializer,
    BidSerializer,
    MetaSerializer,
)
from common import clock
from common.money import CURRENCIES
from common.schema import problem_response
from common.serializers import validated

NOT_FOUND = problem_response("`not_found`: no such auction (or bid).")
UNAUTHENTICATED = problem_response("`not_authenticated` / `authentication_failed`: no valid token.")
INVALID = problem_response("`validation_error`, with field errors under `errors`.")
NOT_ALLOWED = problem_response("`method_not_allowed`: auctions and bids are never changed.")


class ClockedView(GenericAPIView):
    """Reads the clock once per request: that instant filters and renders every auction."""

    def initial(self, request: Request, *args, **kwargs) -> None:
        self.now = clock.now()
        super().initial(request, *args, **kwargs)

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "now": self.now}


class AuctionListView(ClockedView):
    serializer_class = AuctionSerializer
    filter_backends = [ClockedFilterBackend]
    filterset_class = AuctionFilter

    def get_queryset(self):
        return selectors.auction_list()

    @extend_schema(
        summary="List auctions",
        responses={200: AuctionSerializer(many=True), 400: INVALID},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        summary="Create an auction",
        description="Every registered user but the owner is told by email (in the background).",
        request=AuctionCreateInputSerializer,
        responses={
            201: AuctionSerializer,
            400: problem_response("`validation_error` or `end_time_not_in_future`."),
            401: UNAUTHENTICATED,
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(AuctionCreateInputSerializer, request.data)
        auction = services.auction_create(owner=request.user, **data)
        return Response(self.get_serializer(auction).data, status=status.HTTP_201_CREATED)


class AuctionDetailView(ClockedView):
    serializer_class = AuctionDetailSerializer

    @extend_schema(
        summary="An auction with its latest bids",
        description=f"`bids`: newest first, at most {settings.BIDS_IN_DETAIL}; "
        "the whole history is at `/auctions/{id}/bids`.",
        responses={200: AuctionDetailSerializer, 404: NOT_FOUND},
    )
    def get(self, request: Request, auction_id: int) -> Response:
        auction = selectors.auction_get(auction_id)
        bids = selectors.bid_list_recent(auction_id=auction.pk)
        context = {**self.get_serializer_context(), "bids": bids}
        return Response(AuctionDetailSerializer(auction, context=context).data)


class AuctionBidListView(ClockedView):
    serializer_class = BidSerializer
    queryset = Bid.objects.none()  # for the schema: the rows come from selectors

    @extend_schema(
        summary="The auction's bids, newest first",
        responses={200: BidSerializer(many=True), 404: NOT_FOUND},
    )
    def get(self, request: Request, auction_id: int) -> Response:
        selectors.auction_exists_or_404(auction_id)
        page = self.paginate_queryset(selectors.bid_list(auction_id=auction_id))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        summary="Place a bid",
        description="Accepted only while the auction is active, never from its owner, and "
        "only when `amount >= min_next_bid`, decided atomically against every accepted bid.",
        request=BidCreateInputSerializer,
        responses={
            201: BidPlacedSerializer,
            400: problem_response(
                "`bid_too_low` (with `min_next_bid`), `max_amount_below_amount` or "
                "`validation_error`."
            ),
            401: UNAUTHENTICATED,
            403: problem_response("`own_auction`: the owner cannot bid."),
            404: NOT_FOUND,
            409: problem_response("`auction_finished`: the end time has passed."),
            503: problem_response("`busy`: the auction was locked too long; retry."),
        },
    )
    def post(self, request: Request, auction_id: int) -> Response:
        data = validated(BidCreateInputSerializer, request.data)
        bid = services.bid_place(
            auction_id,
            bidder=request.user,
            amount=data["amount"],
            max_amount=data.get("max_amount"),
        )
        bid.requested_max_amount = data.get("max_amount")
        return Response(BidPlacedSerializer(bid).data, status=status.HTTP_201_CREATED)


class AuctionBuyView(ClockedView):
    serializer_class = AuctionSerializer

    @extend_schema(
        summary="Buy now",
        description="Ends the auction at once at its `buy_now_price`, with the buyer as "
        "winner and the usual end emails. Only while active, never by the owner, and only "
        "while no bid has reached the reserve (with no reserve: while there is no bid).",
        request=None,
        responses={
            200: AuctionSerializer,
            401: UNAUTHENTICATED,
            403: problem_response("`own_auction`: the owner cannot buy."),
            404: NOT_FOUND,
            409: problem_response("`auction_finished` or `buy_now_unavailable`."),
        },
    )
    def post(self, request: Request, auction_id: int) -> Response:
        services.auction_buy_now(auction_id, buyer=request.user)
        self.now = clock.now()  # render the auction as it is now: finished
        return Response(self.get_serializer(selectors.auction_get(auction_id)).data)


class AuctionBidDetailView(ClockedView):
    serializer_class = BidSerializer

    @extend_schema(summary="One bid", responses={200: BidSerializer, 404: NOT_FOUND})
    def get(self, request: Request, auction_id: int, bid_id: int) -> Response:
        bid = selectors.bid_get(auction_id=auction_id, bid_id=bid_id)
        return Response(self.get_serializer(bid).data)


class MetaView(APIView):
    @extend_schema(summary="Values a client may use", responses={200: MetaSerializer})
    def get(self, request: Request) -> Response:
        return Response(
            {
                "currencies": list(CURRENCIES),
                "conditions": [value for value, _ in Auction.Condition.choices],
                "statuses": ["active", "finished"],
            }
        )
