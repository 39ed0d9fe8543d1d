"""Input shapes (form only; the rules are in services) and output shapes.

Output serializers read the request's single clock reading from `context["now"]`, so one
response never shows an auction as both active and finished.
"""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from auctions.models import Auction, Bid
from common.money import CURRENCIES, DEFAULT_CURRENCY, MoneyField


class AuctionCreateInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, max_length=20_000)
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
    auction = serializers.IntegerField(source="auction_id", read_only=True)
    bidder = serializers.CharField(source="bidder.username", read_only=True)
    amount = MoneyField(read_only=True)

    class Meta:
        model = Bid
        fields = ["id", "auction", "amount", "bidder", "auto", "created_at"]
        read_only_fields = fields


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

    def to_representation(self, auction: Auction) -> dict:
        data = super().to_representation(auction)
        request = self.context.get("request")
        if data["reserve_price"] is not None and (
            request is None or request.user.pk != auction.owner_id
        ):
            data["reserve_price"] = None  # secret: only the owner sees it
        return data

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

    @extend_schema_field(BidInAuctionSerializer(many=True))
    def get_bids(self, auction: Auction) -> list[dict]:
        return BidInAuctionSerializer(self.context["bids"], many=True).data


class MetaSerializer(serializers.Serializer):
    currencies = serializers.ListField(child=serializers.CharField(), help_text="ISO 4217.")
    conditions = serializers.ListField(child=serializers.CharField())
    statuses = serializers.ListField(child=serializers.CharField())
