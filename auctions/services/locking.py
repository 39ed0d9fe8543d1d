"""The one place that locks an auction.

How an auction is locked
------------------------
`_auction_lock` is the one place that takes an auction's row lock. Every service that
changes an auction (a bid with its automatic proxy bids and soft-close extension, a
purchase at the buy-now price, the close) goes through it, and follows the same order:

1. open one transaction;
2. lock the auction row (`SELECT ... FOR UPDATE OF auction`; only that row, not the joined
   users);
3. read the clock, check the rules against the locked row, write;
4. commit; side effects (Celery tasks, emails) run only after the commit.

No decision is taken on data read before the lock, so under any number of concurrent
bidders the accepted bids of one auction form a strictly increasing sequence, each at least
the previous one plus the step. One lock per transaction: nothing here ever holds two.

On SQLite `FOR UPDATE` does not exist; every `transaction.atomic()` starts with
`BEGIN IMMEDIATE` instead (see settings), which takes the database's write lock up front
and gives the same serial order. Concurrency is proven on PostgreSQL.

A lock wait longer than PostgreSQL's `lock_timeout` (DATABASE_LOCK_TIMEOUT_MS, set by `SET
LOCAL` at the start of the transaction: common/db/base.py) ends the transaction; the API
answers 503 `busy` with `Retry-After`, and nothing was written.
"""

from django.db import transaction

from auctions.errors import AuctionNotFound
from auctions.models import Auction
from common.prepared import PreparedQuery


def _auctions_lock_query(*, skip_locked: bool):
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("auction locks must be taken inside transaction.atomic()")
    # The leader comes along (the closing records their name), but only the auction rows
    # are locked: `of=("self",)`.
    queryset = Auction.objects.select_for_update(of=("self",), skip_locked=skip_locked)
    return queryset.select_related("leader")


# Every bid runs this query: it is compiled once per process (see common/prepared.py).
_LOCK_ONE = {
    skip: PreparedQuery(
        lambda auction_id, skip=skip: _auctions_lock_query(skip_locked=skip).filter(pk=auction_id),
        placeholder=-1,  # ids are positive
    )
    for skip in (False, True)
}


def _auction_lock(auction_id: int, *, skip_locked: bool = False) -> Auction | None:
    """Fetch the auction row and lock it until the surrounding transaction ends.

    Must run inside `transaction.atomic()`: a lock taken in autocommit mode would be
    released before the caller could act on what it read.

    With `skip_locked=False` (the default) waits for the lock and raises `AuctionNotFound`
    for an unknown id. With `skip_locked=True` (the closing sweep) returns None at once when
    another transaction holds the row, so any number of workers can share the work.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("auction locks must be taken inside transaction.atomic()")
    auction = _LOCK_ONE[skip_locked].fetch_one(auction_id)
    if auction is None and not skip_locked:
        raise AuctionNotFound(f"There is no auction with id {auction_id}.")
    return auction


def _auctions_lock_many(auction_ids: list[int], *, skip_locked: bool = True) -> list[Auction]:
    """Lock several auctions in one statement, in id order (so two such calls never wait on
    each other in a cycle). For the closing only: a burst of simultaneous ends is closed in
    one transaction instead of one each. With `skip_locked`, rows another transaction holds
    (a bid in progress) are left out; the next closing tick takes them."""
    queryset = _auctions_lock_query(skip_locked=skip_locked)
    return list(queryset.filter(pk__in=auction_ids).order_by("id"))
