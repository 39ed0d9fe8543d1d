"""Every non-trivial read of auctions and bids: the querysets the API and workers share."""

import threading
from collections import OrderedDict
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, F, OuterRef, QuerySet, Subquery

from auctions.errors import AuctionNotFound, BidNotFound
from auctions.models import Auction, Bid, ProxyBid, Watch


def auction_list() -> QuerySet[Auction]:
    """All auctions with the users needed to render them, newest first.

    Filtering (status, owner, search) and ordering are applied by `auctions.filters`,
    which derives `status` from the clock through `AuctionQuerySet.active/finished`.
    """
    return Auction.objects.select_related("owner", "leader", "winner").order_by(
        "-created_at", "-id"
    )


def auction_get(auction_id: int) -> Auction:
    """One auction with its users, or `AuctionNotFound`."""
    auction = (
        Auction.objects.select_related("owner", "leader", "winner").filter(pk=auction_id).first()
    )
    if auction is None:
        raise AuctionNotFound(f"There is no auction with id {auction_id}.")
    return auction


def auction_exists_or_404(auction_id: int) -> None:
    if not Auction.objects.filter(pk=auction_id).exists():
        raise AuctionNotFound(f"There is no auction with id {auction_id}.")


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
