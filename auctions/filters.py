"""Query parameters of the auction list: `status`, `owner`, `search`, `ordering`."""

from datetime import datetime

import django_filters
from django.db.models import Q, QuerySet
from django_filters.rest_framework import DjangoFilterBackend

from auctions.models import Auction
from common import clock


class StableOrderingFilter(django_filters.OrderingFilter):
    """Orders as asked, then by id in the same direction, so pages never overlap."""

    def filter(self, qs: QuerySet, value) -> QuerySet:
        if not value:
            return qs
        ordering = [self.get_ordering_value(param) for param in value]
        tie = "-id" if ordering[-1].startswith("-") else "id"
        return qs.order_by(*ordering, tie)


class AuctionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=[("all", "all"), ("active", "active"), ("finished", "finished")],
        method="filter_status",
        empty_label=None,
        help_text="`active` while now < end, `finished` afterwards; default `all`.",
    )
    owner = django_filters.CharFilter(
        field_name="owner__username", help_text="The owner's username."
    )
    search = django_filters.CharFilter(
        method="filter_search", help_text="Words in the title or the description."
    )
    ordering = StableOrderingFilter(
        # end_time orders by the effective end, which is what a bidder cares about.
        fields=(("closes_at", "end_time"), ("created_at", "created_at"),
                ("current_price", "current_price")),
        help_text="One of end_time, -end_time, -created_at, current_price, -current_price.",
    )  # fmt: skip

    class Meta:
        model = Auction
        fields = ["status", "owner", "search", "ordering"]

    def __init__(self, *args, now: datetime | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.now = now or clock.now()

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "active":
            return queryset.active(self.now)
        if value == "finished":
            return queryset.finished(self.now)
        return queryset

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(title__icontains=value) | Q(description__icontains=value))


class OwnedAuctionFilter(AuctionFilter):
    """/me/auctions: the main list's filters but `owner`, which is the member."""

    owner = None  # removes the inherited filter

    class Meta(AuctionFilter.Meta):
        fields = ["status", "search", "ordering"]


class AuctionStatusFilter(AuctionFilter):
    """Only `status`: for the member lists that keep an order of their own (the watchlist,
    the auctions one bids on)."""

    owner = search = ordering = None  # removes the inherited filters

    class Meta(AuctionFilter.Meta):
        fields = ["status"]


class ClockedFilterBackend(DjangoFilterBackend):
    """Hands the view's single clock reading (`view.now`) to the filterset, so that the
    instant that filters by status is the instant that renders it."""

    def get_filterset_kwargs(self, request, queryset, view) -> dict:
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        kwargs["now"] = getattr(view, "now", None)
        return kwargs
