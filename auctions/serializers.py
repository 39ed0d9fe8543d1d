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

    def to_internal_value(self, data):
        if isinstance(data, dict) and isinstance(data.get("currency"), str):
            data = {**data, "currency": data["currency"].upper()}
        return super().to_internal_value(data)


class BidCreateInputSerializer(serializers.Serializer):
    amount = MoneyField(min_value=Decimal("0.01"))


class BidSerializer(serializers.ModelSerializer):
    auction = serializers.IntegerField(source="auction_id", read_only=True)
    bidder = serializers.CharField(source="bidder.username", read_only=True)
    amount = MoneyField(read_only=True)

    class Meta:
        model = Bid
        fields = ["id", "auction", "amount", "bidder", "created_at"]
        read_only_fields = fields


class BidInAuctionSerializer(BidSerializer):
    class Meta(BidSerializer.Meta):
        fields = ["id", "amount", "bidder", "created_at"]
        read_only_fields = fields


class AuctionSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    starting_price = MoneyField(read_only=True)
    price_step = MoneyField(read_only=True)
    current_price = MoneyField(read_only=True)
    min_next_bid = MoneyField(read_only=True)
    status = serializers.SerializerMethodField()
    leader = serializers.SerializerMethodField()
    winner = serializers.SerializerMethodField()

    class Meta:
        model = Auction
        fields = [
            "id", "title", "description", "starting_price", "price_step", "currency",
            "end_time", "created_at", "owner", "status", "current_price", "min_next_bid",
            "bid_count", "leader", "winner",
        ]  # fmt: skip
        read_only_fields = fields

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


class AuctionDetailSerializer(AuctionSerializer):
    bids = serializers.SerializerMethodField()

    class Meta(AuctionSerializer.Meta):
        fields = [*AuctionSerializer.Meta.fields, "bids"]
        read_only_fields = fields

    @extend_schema_field(BidInAuctionSerializer(many=True))
    def get_bids(self, auction: Auction) -> list[dict]:
        return BidInAuctionSerializer(self.context["bids"], many=True).data
