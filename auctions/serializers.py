"""Input shapes (form only; the rules are in services) and output shapes.

Output serializers read the request's single clock reading from `context["now"]`, so one
response never shows an auction as both active and finished.
"""

from datetime import datetime
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from auctions.models import Auction, Bid
from common import clock
from common.money import CURRENCIES, DEFAULT_CURRENCY, MoneyField, money_str
from common.validators import body_text_validator, header_text_validator


class AuctionCreateInputSerializer(serializers.Serializer):
    title = serializers.CharField(
        max_length=200,
        validators=[header_text_validator],
        help_text="No control or invisible characters: the title is the emails' subject.",
    )
    description = serializers.CharField(
        allow_blank=True,
        max_length=20_000,
        validators=[body_text_validator],
        help_text="No control characters but line breaks and tabs.",
    )
    starting_price = MoneyField(min_value=0)
    price_step = MoneyField(min_value=Decimal("0.01"))
    end_time = serializers.DateTimeField(help_text="ISO 8601 with offset; must be in the future.")
    currency = serializers.ChoiceField(
        choices=CURRENCIES, default=DEFAULT_CURRENCY, help_text="ISO 4217 code."
    )
    condition = serializers.ChoiceField(
        choices=Auction.Condition.choices, default=Auction.Condition.USED
    )
    reserve_price = MoneyField(
        min_value=0,
        required=False,
        allow_null=True,
        help_text="Secret (only the owner sees it): below it the auction ends without winner.",
    )
    buy_now_price = MoneyField(
        min_value=Decimal("0.01"),
        required=False,
        allow_null=True,
        help_text="Anyone but the owner may end the auction at once at this price.",
    )
    extension_seconds = serializers.IntegerField(
        min_value=1,
        max_value=86_400,
        required=False,
        allow_null=True,
        help_text="Soft close: a bid in the last N seconds moves the end to N seconds later.",
    )
    max_end_time = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="Soft close: the effective end never passes this.",
    )

    def to_internal_value(self, data):
        if isinstance(data, dict) and isinstance(data.get("currency"), str):
            data = {**data, "currency": data["currency"].upper()}
        return super().to_internal_value(data)


class BidCreateInputSerializer(serializers.Serializer):
    amount = MoneyField(min_value=Decimal("0.01"))
    max_amount = MoneyField(
        min_value=Decimal("0.01"),
        required=False,
        allow_null=True,
        help_text="Proxy bidding: the service bids for you, one step at a time, up to this "
        "secret maximum, only as far as needed to keep the lead.",
    )


class BidSerializer(serializers.ModelSerializer):
    """A bid. Rendered by hand (`to_representation`): bid lists are a hot read path. It
    accepts a `Bid` or a row of `selectors.bid_rows` (the same keys, no model instances).
    Fields a subclass adds are rendered by DRF as usual."""

    auction = serializers.IntegerField(source="auction_id", read_only=True)
    bidder = serializers.CharField(source="bidder.username", read_only=True)
    amount = MoneyField(read_only=True)

    class Meta:
        model = Bid
        fields = ["id", "auction", "amount", "bidder", "auto", "created_at"]
        read_only_fields = fields

    BASE_FIELDS = frozenset(Meta.fields)

    def to_representation(self, bid: Bid | dict) -> dict:
        # Meta.fields, not self.fields: building DRF's bound fields costs more than the
        # rendering, so they are only touched for the fields a subclass adds.
        row = bid if isinstance(bid, dict) else _bid_row(bid)
        return {
            name: _BID_RENDER[name](row[name])
            if name in self.BASE_FIELDS
            else _render_by_drf(self.fields[name], bid)
            for name in self.Meta.fields
        }


def _render_by_drf(field: serializers.Field, instance):
    """What DRF's own `to_representation` does for one field."""
    attribute = field.get_attribute(instance)
    return None if attribute is None else field.to_representation(attribute)


def _bid_row(bid: Bid) -> dict:
    return {
        "id": bid.pk,
        "auction": bid.auction_id,
        "amount": bid.amount,
        "bidder": bid.bidder.username,
        "auto": bid.auto,
        "created_at": bid.created_at,
    }


def _same(value):
    return value


_BID_RENDER = {
    "id": _same,
    "auction": _same,
    "amount": money_str,
    "bidder": _same,
    "auto": _same,
    "created_at": clock.isoformat,
}


class BidInAuctionSerializer(BidSerializer):
    class Meta(BidSerializer.Meta):
        fields = ["id", "amount", "bidder", "auto", "created_at"]
        read_only_fields = fields


class BidPlacedSerializer(BidSerializer):
    """The answer to a bid: the bid, and where the auction stands after it (automatic bids
    from other bidders' maxima may already have answered it)."""

    max_amount = MoneyField(read_only=True, allow_null=True, source="requested_max_amount")
    leading = serializers.SerializerMethodField()
    current_price = MoneyField(read_only=True, source="auction.current_price")
    min_next_bid = MoneyField(read_only=True, source="auction.min_next_bid")
    closes_at = serializers.DateTimeField(read_only=True, source="auction.closes_at")

    class Meta(BidSerializer.Meta):
        fields = [
            *BidSerializer.Meta.fields, "max_amount", "leading", "current_price", "min_next_bid",
            "closes_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_leading(self, bid: Bid) -> bool:
        return bid.auction.leader_id == bid.bidder_id

    def to_representation(self, bid: Bid) -> dict:
        """By hand too: this is the answer on the bidding hot path."""
        auction = bid.auction
        data = BidSerializer.to_representation(BidSerializer(), bid)
        max_amount = getattr(bid, "requested_max_amount", None)
        data.update(
            max_amount=money_str(max_amount) if max_amount is not None else None,
            leading=auction.leader_id == bid.bidder_id,
            current_price=money_str(auction.current_price),
            min_next_bid=money_str(auction.min_next_bid),
            closes_at=clock.isoformat(auction.closes_at),
        )
        return data


class AuctionSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    starting_price = MoneyField(read_only=True)
    price_step = MoneyField(read_only=True)
    current_price = MoneyField(read_only=True)
    min_next_bid = MoneyField(read_only=True)
    reserve_price = MoneyField(read_only=True, allow_null=True)
    buy_now_price = MoneyField(read_only=True, allow_null=True)
    status = serializers.SerializerMethodField()
    leader = serializers.SerializerMethodField()
    winner = serializers.SerializerMethodField()
    server_time = serializers.SerializerMethodField()
    seconds_left = serializers.SerializerMethodField()

    class Meta:
        model = Auction
        fields = [
            "id", "title", "description", "starting_price", "price_step", "currency",
            "condition", "end_time", "created_at", "owner", "status", "current_price",
            "min_next_bid", "bid_count", "leader", "winner", "reserve_price", "reserve_met",
            "buy_now_price", "extension_seconds", "max_end_time", "closes_at",
            "extension_count", "server_time", "seconds_left",
        ]  # fmt: skip
        read_only_fields = fields
        extra_kwargs = {
            "reserve_price": {"help_text": "Only the owner sees it; null for everyone else."},
            "closes_at": {"help_text": "The effective end (end_time, or later after extensions)."},
        }

    BASE_FIELDS = frozenset(Meta.fields)

    def to_representation(self, auction: Auction) -> dict:
        """By hand, for speed: lists and details of auctions are the hottest reads. The
        declared fields above document the shape; a test pins that both agree. Fields a
        subclass adds are rendered by DRF as usual."""
        base = self._render_base(auction)
        if self.Meta.fields is AuctionSerializer.Meta.fields:
            return base  # no field added by a subclass
        return {
            name: base[name]
            if name in self.BASE_FIELDS
            else _render_by_drf(self.fields[name], auction)
            for name in self.Meta.fields
        }

    def _render_base(self, auction: Auction) -> dict:
        """The fields of `AuctionSerializer.Meta.fields`, in their order."""
        now, server_time, viewer_id = self._render_context()
        active = auction.is_active_at(now)
        winner = auction.winner_at(now)
        is_owner = viewer_id is not None and viewer_id == auction.owner_id
        base = {
            "id": auction.pk,
            "title": auction.title,
            "description": auction.description,
            "starting_price": money_str(auction.starting_price),
            "price_step": money_str(auction.price_step),
            "currency": auction.currency,
            "condition": auction.condition,
            "end_time": clock.isoformat(auction.end_time),
            "created_at": clock.isoformat(auction.created_at),
            "owner": auction.owner.username,
            "status": "active" if active else "finished",
            "current_price": money_str(auction.current_price),
            "min_next_bid": money_str(auction.min_next_bid),
            "bid_count": auction.bid_count,
            "leader": auction.leader.username if auction.leader_id else None,
            "winner": winner.username if winner else None,
            # Secret: only the owner sees the reserve.
            "reserve_price": (
                money_str(auction.reserve_price)
                if is_owner and auction.reserve_price is not None
                else None
            ),
            "reserve_met": auction.reserve_met,
            "buy_now_price": (
                money_str(auction.buy_now_price) if auction.buy_now_price is not None else None
            ),
            "extension_seconds": auction.extension_seconds,
            "max_end_time": clock.isoformat(auction.max_end_time) if auction.max_end_time else None,
            "closes_at": clock.isoformat(auction.closes_at),
            "extension_count": auction.extension_count,
            "server_time": server_time,
            "seconds_left": max(0, int((auction.closes_at - now).total_seconds())),
        }
        return base

    def _render_context(self) -> tuple[datetime, str, int | None]:
        """The instant of the answer, in ISO 8601 too, and the id of the user asking (None
        when anonymous): read from the context once per serializer, since a page of the
        list renders every auction for the same request at the same instant."""
        context = self.context
        now = context["now"]
        cached = getattr(self, "_render_context_cache", None)
        if cached is None or cached[0] is not now:
            request = context.get("request")
            viewer_id = request.user.pk if request is not None else None
            cached = self._render_context_cache = (now, clock.isoformat(now), viewer_id)
        return cached

    @extend_schema_field(serializers.ChoiceField(choices=["active", "finished"]))
    def get_status(self, auction: Auction) -> str:
        return auction.status_at(self.context["now"])

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_leader(self, auction: Auction) -> str | None:
        return auction.leader.username if auction.leader_id else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_winner(self, auction: Auction) -> str | None:
        winner = auction.winner_at(self.context["now"])
        return winner.username if winner else None

    @extend_schema_field(serializers.DateTimeField())
    def get_server_time(self, auction: Auction) -> str:
        """The server's clock when answering: count down from it, not the client's clock."""
        return serializers.DateTimeField().to_representation(self.context["now"])

    @extend_schema_field(
        serializers.IntegerField(help_text="Whole seconds until closes_at (0 once finished).")
    )
    def get_seconds_left(self, auction: Auction) -> int:
        return max(0, int((auction.closes_at - self.context["now"]).total_seconds()))


class AuctionDetailSerializer(AuctionSerializer):
    bids = serializers.SerializerMethodField()

    class Meta(AuctionSerializer.Meta):
        fields = [*AuctionSerializer.Meta.fields, "bids"]
        read_only_fields = fields

    def to_representation(self, auction: Auction) -> dict:
        """By hand too, bids included: a detail builds no DRF field at all."""
        data = self._render_base(auction)
        data["bids"] = self.get_bids(auction)
        return data

    @extend_schema_field(BidInAuctionSerializer(many=True))
    def get_bids(self, auction: Auction) -> list[dict]:
        bid = BidInAuctionSerializer()
        return [bid.to_representation(row) for row in self.context["bids"]]


class MetaSerializer(serializers.Serializer):
    currencies = serializers.ListField(child=serializers.CharField(), help_text="ISO 4217.")
    conditions = serializers.ListField(child=serializers.CharField())
    statuses = serializers.ListField(child=serializers.CharField())


# --- A member's own lists (/me/...) -------------------------------------------------------


class MyBidListQuerySerializer(serializers.Serializer):
    # A choice, not a BooleanField: DRF reads a missing boolean in a query string as false.
    won = serializers.ChoiceField(
        choices=["true", "false"],
        required=False,
        help_text="`true`: only bids on auctions I won; `false`: all the others.",
    )


class MyBidSerializer(BidSerializer):
    """One of my bids, with where its auction stands for me."""

    auction_title = serializers.CharField(source="auction.title", read_only=True)
    auction_status = serializers.SerializerMethodField()
    leading = serializers.SerializerMethodField()
    won = serializers.SerializerMethodField()

    class Meta(BidSerializer.Meta):
        fields = [
            *BidSerializer.Meta.fields, "auction_title", "auction_status", "leading", "won",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=["active", "finished"]))
    def get_auction_status(self, bid: Bid) -> str:
        return bid.auction.status_at(self.context["now"])

    @extend_schema_field(
        serializers.BooleanField(help_text="I hold the auction's highest bid (also after it).")
    )
    def get_leading(self, bid: Bid) -> bool:
        return bid.auction.leader_id == bid.bidder_id

    @extend_schema_field(
        serializers.BooleanField(help_text="The auction has finished and I am its winner.")
    )
    def get_won(self, bid: Bid) -> bool:
        winner = bid.auction.winner_at(self.context["now"])
        return winner is not None and winner.pk == bid.bidder_id


class ParticipatingAuctionSerializer(AuctionSerializer):
    """An auction I bid on: the auction, plus my side of it."""

    my_highest_bid = MoneyField(read_only=True)
    my_max_amount = MoneyField(
        read_only=True,
        allow_null=True,
        help_text="My secret proxy maximum, or null; nobody else ever sees it.",
    )
    leading = serializers.SerializerMethodField()

    class Meta(AuctionSerializer.Meta):
        fields = [*AuctionSerializer.Meta.fields, "my_highest_bid", "my_max_amount", "leading"]
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField(help_text="I hold the highest bid."))
    def get_leading(self, auction: Auction) -> bool:
        return auction.leader_id == self.context["request"].user.pk


class WatchedAuctionSerializer(AuctionSerializer):
    """An auction on my watchlist."""

    watched_at = serializers.DateTimeField(read_only=True)

    class Meta(AuctionSerializer.Meta):
        fields = [*AuctionSerializer.Meta.fields, "watched_at"]
        read_only_fields = fields


class WatchSerializer(serializers.Serializer):
    """The answer to watching an auction."""

    auction = serializers.IntegerField(source="auction_id", read_only=True)
    watched_at = serializers.DateTimeField(source="created_at", read_only=True)
