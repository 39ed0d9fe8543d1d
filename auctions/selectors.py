"""Every non-trivial read of auctions and bids: the querysets the API and workers share.

The auction list and the auction detail are the most read pages of the product; their
queries are compiled to SQL once per process and read as value rows (see "Reads compiled
once" below). Everything else is an ordinary queryset.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import router
from django.db.models import Exists, F, Model, OuterRef, QuerySet, Subquery
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

from auctions.errors import AuctionNotFound, BidNotFound
from auctions.models import Auction, Bid, ProxyBid, Watch
from common.prepared import values_run


def auction_list() -> QuerySet[Auction]:
    """All auctions with the users needed to render them, newest first.

    Filtering (status, owner, search) and ordering are applied by `auctions.filters`,
    which derives `status` from the clock through `AuctionQuerySet.active/finished`.
    """
    return Auction.objects.select_related("owner", "leader", "winner").order_by(
        "-created_at", "-id"
    )


def auction_get(auction_id: int) -> Auction:
    """One auction with its owner, leader and winner (id and username only), or
    `AuctionNotFound`. One query, compiled once per process."""
    rows = _values_run(
        ("auction_get",),
        lambda pk: _auction_values(Auction.objects.filter(pk=pk).order_by()),
        auction_id,
        other=auction_id + 1,
        field=Auction._meta.pk,
        prepare=True,  # by primary key: one plan for every id
    )
    if not rows:
        raise AuctionNotFound(f"There is no auction with id {auction_id}.")
    return _auctions_from_rows(rows)[0]


def auction_exists_or_404(auction_id: int) -> None:
    if not Auction.objects.filter(pk=auction_id).exists():
        raise AuctionNotFound(f"There is no auction with id {auction_id}.")


class AuctionListRows:
    """A filtered auction list as Django's paginator reads it: `count()` and slices of
    `Auction` instances. Its count and its pages are two statements per question, each
    compiled once per process."""

    def __init__(
        self, *, key: Hashable, queryset_at: Callable[[datetime], QuerySet], now: datetime
    ) -> None:
        self._key = key
        self._queryset_at = queryset_at
        self._now = now

    def count(self) -> int:
        [(count,)] = _values_run(
            (self._key, "count"),
            lambda now: self._queryset_at(now).order_by().values_list("pk"),
            self._now,
            other=self._now + timedelta(days=1),
            field=_CLOCK_FIELD,
            count=True,
        )
        return count

    def __getitem__(self, bounds: slice) -> list[Auction]:
        """The auctions from `bounds.start` up to `bounds.stop`: one statement per
        question, whatever the page and its size (they are parameters of the SQL)."""
        start, stop = bounds.start or 0, bounds.stop
        if stop is None:
            raise ValueError("the list is read a page at a time")
        if stop <= start:
            return []
        rows = _values_run(
            (self._key, "page"),
            lambda now: _auction_values(self._queryset_at(now)),
            self._now,
            other=self._now + timedelta(days=1),
            field=_CLOCK_FIELD,
            window=(start, stop),
        )
        return _auctions_from_rows(rows)


def auction_list_compiled(
    *, key: Hashable, queryset_at: Callable[[datetime], QuerySet[Auction]], now: datetime
) -> AuctionListRows:
    """The auctions of `queryset_at(now)` (a filtered `auction_list()`), to paginate.

    `key` names the question: everything but the clock that decides the SQL (for the
    public list, the query parameters: `filters.ClockedFilterBackend.get_question`). The
    count and the pages are read with SQL compiled once per process per key, so a key that
    left out something the SQL depends on would answer another question.
    """
    return AuctionListRows(key=key, queryset_at=queryset_at, now=now)


# --- Reads compiled once -------------------------------------------------------------------
#
# Each list or detail request asks one of a few questions ("active auctions, newest first,
# page 1", "auction 42") that differ only in one value: the instant that decides `status`,
# or the id. Building and compiling the queryset costs Django more than PostgreSQL takes
# to run it, so each question's SQL is compiled once per process and run again with the
# new value (`common.prepared.values_run`). The SQL is still
# written by the ORM (and the list's by the filters in `auctions.filters`).
#
# The rows are values: the auction's columns and the usernames of its owner, leader and
# winner, turned into `Auction` instances whose users carry only id and username. The
# model's own rules (`winner_at`, `min_next_bid`, ...) render them; no other user column
# is read.

_USER = Auction._meta.get_field("owner").related_model
_USER_ATTNAMES = ("id", "username")  # what a list page loads of a user
_USER_FIELDS = tuple(Auction._meta.get_field(name) for name in ("owner", "leader", "winner"))
_AUCTION_ATTNAMES = tuple(field.attname for field in Auction._meta.concrete_fields)
_AUCTION_ROW_COLUMNS = (*_AUCTION_ATTNAMES, *(f"{field.name}_username" for field in _USER_FIELDS))
# How the clock reaches the database: any DateTimeField prepares an instant the same way.
_CLOCK_FIELD = Auction._meta.get_field("closes_at")


def _auction_values(queryset: QuerySet[Auction]) -> QuerySet:
    """`queryset` as rows of `_AUCTION_ROW_COLUMNS`.

    The usernames come from correlated subqueries, not joins: PostgreSQL spends 0.5-0.9 ms
    planning three joins of the user table, several times what it takes to run the query;
    a subquery is planned in a few microseconds and runs once per row of the page.
    """
    usernames = {
        f"{field.name}_username": Subquery(
            _USER.objects.filter(pk=OuterRef(field.attname)).values("username")
        )
        for field in _USER_FIELDS
    }
    return queryset.annotate(**usernames).values_list(*_AUCTION_ROW_COLUMNS)


def _auctions_from_rows(rows: Sequence[Sequence]) -> list[Auction]:
    """`Auction` instances from rows of `_AUCTION_ROW_COLUMNS`; each user is built once per
    call, with only `id` and `username` loaded (as `.only()` would)."""
    using = router.db_for_read(Auction)
    width = len(_AUCTION_ATTNAMES)
    users: dict[int, Any] = {}
    auctions = []
    listened = pre_init.has_listeners(Auction) or post_init.has_listeners(Auction)
    user_listened = pre_init.has_listeners(_USER) or post_init.has_listeners(_USER)
    for row in rows:
        if listened:
            auction = Auction.from_db(using, _AUCTION_ATTNAMES, row[:width])
        else:
            auction = _instance_from_row(Auction, using, _AUCTION_ATTNAMES, row[:width])
        for field, username in zip(_USER_FIELDS, row[width:], strict=True):
            user_id = getattr(auction, field.attname)
            if user_id is None:
                continue  # a null foreign key reads as None without a query
            user = users.get(user_id)
            if user is None:
                if user_listened:
                    user = _USER.from_db(using, _USER_ATTNAMES, (user_id, username))
                else:
                    user = _instance_from_row(_USER, using, _USER_ATTNAMES, (user_id, username))
                users[user_id] = user
            field.set_cached_value(auction, user)
        auctions.append(auction)
    return auctions


M = TypeVar("M", bound=Model)


def _instance_from_row(model: type[M], using: str, attnames: Sequence[str], values: Sequence) -> M:
    """`model.from_db(using, attnames, values)` without `Model.__init__`, for a page of the
    list: the row's values become the instance's attributes at once, where `__init__` sets
    them one `setattr` at a time and sends `pre_init` and `post_init` (the caller checks
    that nothing listens). None of the attribute names has a descriptor that a fresh
    instance would need (a foreign key's `<name>_id` has one, which only drops a cached
    related object); fields left out are deferred, as after `.only()`, and load from the
    database if read."""
    instance = model.__new__(model)
    instance.__dict__.update(zip(attnames, values, strict=True))
    state = instance._state = ModelState()
    state.adding = False
    state.db = using
    return instance


def _values_run(key: Hashable, values_at: Callable[[Any], QuerySet], value: Any, **kwargs):
    """`common.prepared.values_run` on the auctions' database."""
    return values_run(key, values_at, value, using=router.db_for_read(Auction), **kwargs)


_BID_ROW_COLUMNS = ("id", "auction_id", "amount", "bidder__username", "auto", "created_at")
_BID_ROW_KEYS = ("id", "auction", "amount", "bidder", "auto", "created_at")


def bid_rows(bids) -> list[dict]:
    """Rows of `BidSerializer` (id, auction, amount, bidder username, auto, created_at).

    A hot read path: one query, one tuple a bid, no model instances.
    """
    return [dict(zip(_BID_ROW_KEYS, row, strict=True)) for row in bids]


def bid_list(*, auction_id: int) -> QuerySet:
    """The auction's bids, newest first (id order is commit order under the lock), as
    tuples of `_BID_ROW_COLUMNS`: slice (paginate) it, then pass the page to `bid_rows`."""
    return Bid.objects.filter(auction_id=auction_id).order_by("-id").values_list(*_BID_ROW_COLUMNS)


class _RecentBidsCache:
    """A small per-process LRU of the latest bids of auctions, keyed by (id, bid_count)."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._rows: OrderedDict[tuple[int, int], list[dict]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[int, int]) -> list[dict] | None:
        with self._lock:
            rows = self._rows.get(key)
            if rows is not None:
                self._rows.move_to_end(key)
            return rows

    def put(self, key: tuple[int, int], rows: list[dict]) -> None:
        with self._lock:
            self._rows[key] = rows
            self._rows.move_to_end(key)
            while len(self._rows) > self._size:
                self._rows.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


_recent_bids_cache = _RecentBidsCache()


def bid_list_recent(auction: Auction) -> list[dict]:
    """The latest bids shown inside an auction's detail (the whole history is paginated),
    consistent with the auction row as it was read.

    The auction and its bids are two reads; a bid committed between them must not appear
    in `bids` while `bid_count` and `current_price` do not count it. Accepted amounts only
    go up, so the bids the row counts are exactly those up to its `current_price`.
    """
    if auction.bid_count == 0:
        return []
    # Bids never change, so (auction, bid_count) names this list exactly: a hot auction's
    # viewers share one read per new bid (per process) instead of one per request.
    key = (auction.pk, auction.bid_count)
    rows = _recent_bids_cache.get(key)
    if rows is None:
        bids = bid_list(auction_id=auction.pk).filter(amount__lte=auction.current_price)
        rows = bid_rows(bids[: settings.BIDS_IN_DETAIL])
        _recent_bids_cache.put(key, rows)
    return rows


def bid_get(*, auction_id: int, bid_id: int) -> dict:
    """One bid of the auction, as a row for `BidSerializer`, or `BidNotFound`."""
    bid = next(iter(bid_rows(bid_list(auction_id=auction_id).filter(pk=bid_id)[:1])), None)
    if bid is None:
        raise BidNotFound(f"Auction {auction_id} has no bid with id {bid_id}.")
    return bid


def auction_closing_soon(*, now: datetime, within: timedelta) -> list[tuple[int, datetime]]:
    """(id, closes_at) of open auctions whose effective end falls in (now, now + within]."""
    return list(
        Auction.objects.filter(
            closed_at__isnull=True, closes_at__gt=now, closes_at__lte=now + within
        ).values_list("id", "closes_at")
    )


# --- A member's own lists (/me/...) -------------------------------------------------------


def auction_list_owned(*, owner: AbstractBaseUser) -> QuerySet[Auction]:
    """The auctions `owner` created, newest first, shaped like `auction_list`."""
    return auction_list().filter(owner=owner)


def bid_list_mine(
    *, bidder: AbstractBaseUser, now: datetime, won: bool | None = None
) -> QuerySet[Bid]:
    """The bids `bidder` placed (automatic ones included), newest first, each with its
    auction and the users that decide `leading` and `won` (one query, no N+1).

    `won=True` keeps the bids on auctions the bidder has won at `now` (`Auction.winner_at`,
    as the query `AuctionQuerySet.won_by`); `won=False` keeps the others.
    """
    bids = (
        Bid.objects.filter(bidder=bidder)
        .select_related("bidder", "auction__leader", "auction__winner")
        .order_by("-id")
    )
    if won is None:
        return bids
    won_ids = Auction.objects.won_by(bidder.pk, now).values("id")
    return bids.filter(auction_id__in=won_ids) if won else bids.exclude(auction_id__in=won_ids)


def auction_list_participating(*, bidder: AbstractBaseUser) -> QuerySet[Auction]:
    """The auctions `bidder` bid on, once each, the one they bid on most recently first.

    Annotated with `my_highest_bid` (bids only go up, so it is also their latest on that
    auction), `my_max_amount` (their secret proxy maximum, or null) and `my_last_bid_id`
    (the order). Correlated subqueries, not a join: one row per auction without GROUP BY,
    and the page's count is a plain `COUNT(*) ... WHERE EXISTS`.
    """
    mine = Bid.objects.filter(auction_id=OuterRef("pk"), bidder=bidder)
    my_proxy = ProxyBid.objects.filter(auction_id=OuterRef("pk"), bidder=bidder)
    return (
        auction_list()
        .filter(Exists(mine))
        .annotate(
            my_highest_bid=Subquery(mine.order_by("-amount").values("amount")[:1]),
            my_last_bid_id=Subquery(mine.order_by("-id").values("id")[:1]),
            my_max_amount=Subquery(my_proxy.values("max_amount")[:1]),
        )
        .order_by("-my_last_bid_id", "-id")
    )


def auction_list_watched(*, user: AbstractBaseUser) -> QuerySet[Auction]:
    """The auctions `user` watches, the latest watched first, annotated with `watched_at`.

    One join on the user's watches (a user watches an auction at most once, so no
    duplicates); the annotation reuses that join.
    """
    return (
        auction_list()
        .filter(watches__user=user)
        .annotate(watched_at=F("watches__created_at"), watch_id=F("watches__id"))
        .order_by("-watched_at", "-watch_id")
    )


def auction_watch_reminder_due_ids(
    *, now: datetime, lead: timedelta, limit: int = 1000
) -> list[int]:
    """Ids of the auctions whose watchers are due their "ending soon" reminder, soonest
    end first: still open, ending within `lead`, not reminded yet, lasting at least `lead`
    from creation to `end_time` (a shorter auction is "ending soon" from its first
    second), and watched by someone. `services.watching` re-checks on the locked row.
    """
    watched = Watch.objects.filter(auction_id=OuterRef("pk"))
    return list(
        Auction.objects.active(now)
        .filter(
            watch_reminded_at__isnull=True,
            closes_at__lte=now + lead,
            end_time__gte=F("created_at") + lead,
        )
        .filter(Exists(watched))
        .order_by("closes_at")
        .values_list("id", flat=True)[:limit]
    )
