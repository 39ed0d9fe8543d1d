"""Thin views: parse, call one service or selector, render. Errors leave as domain errors."""

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from auctions import selectors, services
from auctions.filters import (
    AuctionFilter,
    AuctionStatusFilter,
    ClockedFilterBackend,
    OwnedAuctionFilter,
)
from auctions.models import Auction, Bid
from auctions.serializers import (
    AuctionCreateInputSerializer,
    AuctionDetailSerializer,
    AuctionSerializer,
    BidCreateInputSerializer,
    BidPlacedSerializer,
    BidSerializer,
    MetaSerializer,
    MyBidListQuerySerializer,
    MyBidSerializer,
    ParticipatingAuctionSerializer,
    WatchedAuctionSerializer,
    WatchSerializer,
)
from common import clock
from common.idempotency import (
    IDEMPOTENCY_KEY_HEADER,
    IDEMPOTENCY_KEY_REUSED,
    IDEMPOTENT_REPLAYED_HEADER,
    idempotent,
)
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
        question = ClockedFilterBackend().get_question(request, self.get_queryset(), self)
        auctions = selectors.auction_list_compiled(
            key=question.key, queryset_at=question.queryset_at, now=self.now
        )
        page = self.paginate_queryset(auctions)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        summary="Create an auction",
        description="Every registered user but the owner is told by email (in the background).",
        request=AuctionCreateInputSerializer,
        parameters=[IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_REPLAYED_HEADER],
        responses={
            201: AuctionSerializer,
            400: problem_response("`validation_error` or `end_time_not_in_future`."),
            401: UNAUTHENTICATED,
            409: problem_response(IDEMPOTENCY_KEY_REUSED),
            429: problem_response(
                "`auction_create_limit_reached`: the caller has created as many auctions as "
                "the service allows per period (`AUCTION_CREATE_LIMIT`, by default 100 a "
                "day); `Retry-After` (and `retry_after`) says in how many seconds a place "
                "frees."
            ),
        },
    )
    @idempotent
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
        bids = selectors.bid_list_recent(auction)
        context = {**self.get_serializer_context(), "bids": bids}
        return Response(AuctionDetailSerializer(auction, context=context).data)


class AuctionBidListView(ClockedView):
    serializer_class = BidSerializer
    queryset = Bid.objects.none()  # for the schema: the rows come from selectors
    read_with_token_result = services.NOT_READ

    def read_with_token(self, request: Request) -> tuple | None:
        """A new bid is first checked against a committed read of its auction: read it in
        the token's round trip (accounts.authentication)."""
        if request.method != "POST":
            return None
        return services.bid_early_read(self.kwargs["auction_id"])

    @extend_schema(
        summary="The auction's bids, newest first",
        responses={200: BidSerializer(many=True), 404: NOT_FOUND},
    )
    def get(self, request: Request, auction_id: int) -> Response:
        selectors.auction_exists_or_404(auction_id)
        page = selectors.bid_rows(self.paginate_queryset(selectors.bid_list(auction_id=auction_id)))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        summary="Place a bid",
        description="Accepted only while the auction is active, never from its owner, and "
        "only when `amount >= min_next_bid`, decided atomically against every accepted bid.",
        request=BidCreateInputSerializer,
        parameters=[IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_REPLAYED_HEADER],
        responses={
            201: BidPlacedSerializer,
            400: problem_response(
                "`bid_too_low` (with `min_next_bid`), `max_amount_below_amount` or "
                "`validation_error`."
            ),
            401: UNAUTHENTICATED,
            403: problem_response("`own_auction`: the owner cannot bid."),
            404: NOT_FOUND,
            409: problem_response(
                f"`auction_finished`: the end time has passed; {IDEMPOTENCY_KEY_REUSED}"
            ),
            503: problem_response("`busy`: the auction was locked too long; retry."),
        },
    )
    @idempotent
    def post(self, request: Request, auction_id: int) -> Response:
        data = validated(BidCreateInputSerializer, request.data)
        bid = services.bid_place(
            auction_id,
            bidder=request.user,
            amount=data["amount"],
            max_amount=data.get("max_amount"),
            snapshot=self.read_with_token_result,
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


# --- A member's own lists (/me/...) and the watchlist -------------------------------------


class MyListView(ClockedView):
    """A list of the caller's own: a token is required, even to read."""

    permission_classes = [IsAuthenticated]
    filter_backends = [ClockedFilterBackend]

    def list_response(self, queryset) -> Response:
        page = self.paginate_queryset(self.filter_queryset(queryset))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class MyAuctionListView(MyListView):
    serializer_class = AuctionSerializer
    filterset_class = OwnedAuctionFilter
    queryset = Auction.objects.none()  # for the schema: the rows come from selectors

    @extend_schema(
        summary="Auctions I own",
        description="Newest first, like the auction list, with its `status`, `search` and "
        "`ordering` filters. The reserve price is shown: they are mine.",
        responses={200: AuctionSerializer(many=True), 400: INVALID, 401: UNAUTHENTICATED},
    )
    def get(self, request: Request) -> Response:
        return self.list_response(selectors.auction_list_owned(owner=request.user))


class MyBidListView(MyListView):
    serializer_class = MyBidSerializer
    filter_backends: list = []
    queryset = Bid.objects.none()  # for the schema: the rows come from selectors

    @extend_schema(
        summary="My bids",
        description="Every bid I placed (automatic ones from my maximum included), newest "
        "first, with its auction's title and status, whether I lead that auction (`leading`) "
        "and whether I won it (`won`: finished, and I am the winner).",
        parameters=[MyBidListQuerySerializer],
        responses={200: MyBidSerializer(many=True), 400: INVALID, 401: UNAUTHENTICATED},
    )
    def get(self, request: Request) -> Response:
        won = validated(MyBidListQuerySerializer, request.query_params).get("won")
        bids = selectors.bid_list_mine(
            bidder=request.user, now=self.now, won=None if won is None else won == "true"
        )
        return self.list_response(bids)


class MyParticipatingAuctionListView(MyListView):
    serializer_class = ParticipatingAuctionSerializer
    filterset_class = AuctionStatusFilter
    queryset = Auction.objects.none()  # for the schema: the rows come from selectors

    @extend_schema(
        summary="Auctions I bid on",
        description="Each auction once, the one I bid on most recently first, with my "
        "highest bid, my secret maximum (`my_max_amount`, null without one; only I see it) "
        "and whether I lead (`leading`).",
        responses={
            200: ParticipatingAuctionSerializer(many=True),
            400: INVALID,
            401: UNAUTHENTICATED,
        },
    )
    def get(self, request: Request) -> Response:
        return self.list_response(selectors.auction_list_participating(bidder=request.user))


class MyWatchlistView(MyListView):
    serializer_class = WatchedAuctionSerializer
    filterset_class = AuctionStatusFilter
    queryset = Auction.objects.none()  # for the schema: the rows come from selectors

    @extend_schema(
        summary="Auctions I watch",
        description="The latest watched first, each with `watched_at`.",
        responses={200: WatchedAuctionSerializer(many=True), 400: INVALID, 401: UNAUTHENTICATED},
    )
    def get(self, request: Request) -> Response:
        return self.list_response(selectors.auction_list_watched(user=request.user))


class AuctionWatchView(GenericAPIView):
    serializer_class = WatchSerializer

    @extend_schema(
        summary="Watch an auction",
        description='Puts the auction on my watchlist; I get one "ending soon" email '
        "before it ends (see `WATCH_REMINDER_SECONDS`). Idempotent: 201 when I start "
        "watching, 200 when I already did. Any auction may be watched, my own included.",
        request=None,
        responses={
            201: OpenApiResponse(WatchSerializer, description="I started watching it."),
            200: OpenApiResponse(WatchSerializer, description="I was already watching it."),
            401: UNAUTHENTICATED,
            404: NOT_FOUND,
        },
    )
    def post(self, request: Request, auction_id: int) -> Response:
        watch = services.watch_add(auction_id, user=request.user)
        code = status.HTTP_201_CREATED if watch.created else status.HTTP_200_OK
        return Response(self.get_serializer(watch).data, status=code)

    @extend_schema(
        summary="Stop watching an auction",
        description="Idempotent: 204 whether or not I was watching it.",
        request=None,
        responses={204: None, 401: UNAUTHENTICATED, 404: NOT_FOUND},
    )
    def delete(self, request: Request, auction_id: int) -> Response:
        services.watch_remove(auction_id, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
