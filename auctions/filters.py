"""Query parameters of the auction list: `status`, `owner`, `search`, `ordering`."""

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime

import django_filters
from django.db.models import Q, QuerySet
from django_filters import utils
from django_filters.fields import BaseCSVField
from django_filters.rest_framework import DjangoFilterBackend

from auctions.models import Auction
from common import clock


class BlankItemsSkippedCSVField(BaseCSVField):
    """A comma-separated value read without its blank items: `ordering=,-end_time` is
    `-end_time`, and `ordering=,` is the parameter not given, as `ordering=` is. The schema
    documents an empty item as allowed, and a blank field name never reaches the database."""

    def clean(self, value):
        if value:
            value = [item for item in value if item not in self.empty_values]
        return super().clean(value)


class StableOrderingFilter(django_filters.OrderingFilter):
    """Orders as asked, then by id in the same direction, so pages never overlap."""

    base_field_class = BlankItemsSkippedCSVField

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
        # UPPER(col::text) LIKE '%VALUE%' on PostgreSQL, which the trigram GIN indexes on
        # that expression answer (auctions migration 0004); a plain filter on SQLite.
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

    def get_question(self, request, queryset, view) -> "ListQuestion":
        """The view's filters as a `ListQuestion`, for views that hand them to a selector
        (`selectors.auction_list_compiled`) instead of filtering a queryset. Invalid
        parameters are a 400, as in `filter_queryset`.

        Whether parameters are valid depends on them alone, so each process remembers the
        sets it has accepted and does not build the filterset's form for them again: that
        cost a list request more than running its SQL. The key is the view, the filterset
        and the parameters, not the user: `queryset` must be the same for every request.
        """
        filterset_class = self.get_filterset_class(view, queryset)
        paginator = view.paginator
        ignored = (paginator.page_query_param, paginator.page_size_query_param)
        params = sorted(
            (name, tuple(values))
            for name, values in request.query_params.lists()
            if name not in ignored
        )
        key = (type(view).__qualname__, filterset_class.__qualname__, tuple(params))
        if key not in _accepted:
            filterset = self.get_filterset(request, queryset, view)
            if not filterset.is_valid():
                raise utils.translate_validation(filterset.errors)
            if len(_accepted) > 1000:
                _accepted.clear()
            _accepted.add(key)

        def queryset_at(now: datetime) -> QuerySet:
            filterset = filterset_class(
                request.query_params, queryset=queryset, request=request, now=now
            )
            filterset.is_valid()
            return filterset.qs

        return ListQuestion(key=key, queryset_at=queryset_at)


# Parameter sets of list requests that passed validation, per process (see get_question).
_accepted: set[Hashable] = set()


@dataclass(frozen=True)
class ListQuestion:
    """Valid list parameters: `key` names everything but the clock that decides the
    filtered list's SQL; `queryset_at(now)` is the filtered queryset at an instant."""

    key: Hashable
    queryset_at: Callable[[datetime], QuerySet]
