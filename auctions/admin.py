"""The admin shows auctions and bids; it never changes or deletes them.

Every change to an auction goes through `auctions.services`, so the admin is read-only here:
a price or a bid edited by hand would bypass the lock and the rules.
"""

from django.contrib import admin

from auctions.models import Auction, Bid


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class BidInline(admin.TabularInline):
    model = Bid
    fields = ["id", "amount", "bidder", "created_at"]
    readonly_fields = fields
    ordering = ["-id"]
    extra = 0
    max_num = 0
    show_change_link = False
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("bidder")


@admin.register(Auction)
class AuctionAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "title", "owner", "current_price", "bid_count", "leader", "closes_at", "closed_at",
        "winner",
    ]  # fmt: skip
    list_select_related = ["owner", "leader", "winner"]
    list_filter = ["currency", "closed_at"]
    search_fields = ["title", "description", "owner__username"]
    date_hierarchy = "created_at"
    inlines = [BidInline]


@admin.register(Bid)
class BidAdmin(ReadOnlyAdmin):
    list_display = ["id", "auction", "amount", "bidder", "created_at"]
    list_select_related = ["auction", "bidder"]
    search_fields = ["auction__title", "bidder__username"]
    raw_id_fields = ["auction", "bidder"]
