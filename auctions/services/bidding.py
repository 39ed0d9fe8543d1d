"""Bids: plain, automatic (proxy) and at the buy-now price. One locked transaction decides
everything that changes an auction's price.

Proxy bidding, as on eBay
-------------------------
A bidder may send a secret maximum with a bid. After any bid is placed, the service
resolves the maxima that can still compete (`_proxies_resolve`), inside the same lock:

- the leader's limit is their maximum, or the current price when they have none;
- the strongest other maximum (highest, then earliest) that reaches `min_next_bid`
  challenges the leader;
- if it beats the leader's limit (or equals it and was set earlier), the challenger's proxy
  bids `min(its maximum, leader's limit + step)` and leads;
- otherwise the leader's proxy answers with `min(leader's limit, challenger's maximum +
  step)`, and the challenger is spent.

Each automatic bid is a real bid (`auto=True`) of at least the previous price plus the step,
so the invariants of plain bidding hold for every row, and nobody ever pays more than their
maximum. The loop ends because every round raises the price and maxima are finite.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from auctions.errors import (
    AuctionFinished,
    AuctionNotFound,
    BidTooLow,
    BuyNowUnavailable,
    MaxBelowAmount,
    OwnAuction,
)
from auctions.models import Auction, Bid, ProxyBid
from auctions.services.closing import _auction_finish
from auctions.services.locking import _auction_lock
from common import clock
from common.prepared import PreparedQuery, model_insert, pk_update
from notifications import services as notifications
from notifications.models import Event


def _auction_closed_refuse(auction: Auction) -> None:
    """Refuse anything on an auction whose close is recorded, whatever the clock says.

    The closing decides on its own clock (`auction_close`), which may run ahead of this
    process's (a VM's drift, an NTP step): once it has recorded the outcome, the auction is
    over for everyone. Without this, a bid that the web clock still thought in time would be
    accepted after the winner was recorded, a soft close would move `closes_at` of an auction
    that no sweep closes again, and a buy now would record a second close."""
    if auction.closed_at is not None:
        raise AuctionFinished(
            f"Auction {auction.pk} was closed at {auction.closed_at.isoformat()}."
        )


def _bid_open_check(auction: Auction, *, bidder: AbstractBaseUser, now: datetime) -> None:
    """The locked checks every bid and purchase passes: not the owner, not closed (the
    recorded close wins over any clock), and `now < closes_at`."""
    if auction.owner_id == bidder.pk:
        raise OwnAuction("The owner of an auction cannot bid on it.")
    _auction_closed_refuse(auction)
    if not auction.is_active_at(now):
        raise AuctionFinished(
            f"Auction {auction.pk} stopped accepting bids at {auction.closes_at.isoformat()}."
        )


# The unlocked read of `_bid_refuse_early`, compiled once per process (common/prepared.py):
# only the columns its checks read.
_auction_snapshot = PreparedQuery(
    lambda pk: Auction.objects.filter(pk=pk).only(
        "owner",
        "closes_at",
        "closed_at",
        "bid_count",
        "starting_price",
        "current_price",
        "price_step",
    ),
    placeholder=-1,
)

# `bid_place(snapshot=NOT_READ)`: the auction was not read before the call.
NOT_READ: Any = object()


def bid_early_read(auction_id: int) -> tuple[PreparedQuery, int]:
    """The committed read `bid_place` refuses early from, as (query, value): a caller that
    reads something else first (the bearer token) may run both in one round trip
    (`common.prepared.fetch_together`) and pass the auction, or None, as `snapshot`."""
    return _auction_snapshot, auction_id


def _bid_refuse_early(
    auction_id: int, *, bidder: AbstractBaseUser, amount: Decimal, snapshot: Any = NOT_READ
) -> None:
    """Refuse, without taking the lock, a bid that the locked check could only refuse too.

    On a hot auction most bids lose the race to an equal or higher one; answering those
    from one committed read spares them a transaction and keeps them out of the lock's
    queue. Sound because what it checks only ever gets stricter while an auction is open:
    the owner never changes, `min_next_bid` never decreases (bids are never withdrawn,
    an auction's prices are never edited), and a recorded close is never undone. So a bid
    below the `min_next_bid` of any committed state of an open auction is below it at the
    lock too, and a bid on an auction read as closed is refused at the lock too. The refusal
    is what the service answered at the instant of that read. Everything else, and every
    acceptance, is decided under the lock by `bid_place`. The read is `snapshot` when the
    caller made it (see `bid_early_read`): any committed read of the auction will do.
    """
    auction = _auction_snapshot.fetch_one(auction_id) if snapshot is NOT_READ else snapshot
    if auction is None:
        raise AuctionNotFound(f"There is no auction with id {auction_id}.")
    if auction.owner_id == bidder.pk:
        raise OwnAuction("The owner of an auction cannot bid on it.")
    _auction_closed_refuse(auction)
    if not auction.is_active_at(clock.now()):
        return  # the locked check tells finished from extended by a soft close
    min_next_bid = auction.min_next_bid
    if amount < min_next_bid:
        raise BidTooLow(
            f"The minimum next bid is {min_next_bid:.2f}.", min_next_bid=f"{min_next_bid:.2f}"
        )


def _bid_insert_unlocked(
    auction: Auction, *, bidder_id: int, amount: Decimal, now: datetime, auto: bool = False
) -> Bid:
    """Insert a bid and move the auction's price and leader in memory (the caller saves).

    Unlocked: the caller holds the auction's lock and has checked the rules.
    """
    bid = model_insert(
        Bid(auction=auction, bidder_id=bidder_id, amount=amount, auto=auto, created_at=now)
    )
    auction.current_price = amount
    auction.leader_id = bidder_id
    auction.bid_count += 1
    return bid


def _proxies_resolve(auction: Auction, *, now: datetime) -> list[tuple[Bid, int | None]]:
    """Let the competing maxima bid, one automatic bid per round (see the module docstring).

    The caller holds the auction's lock. Reads the maxima once: nothing else can change
    them while the lock is held. Returns the automatic bids, each with the leader it
    displaced (for the notices each new bid sends).
    """
    placed: list[tuple[Bid, int | None]] = []
    if not auction.has_proxy_bids:
        return placed  # no maximum was ever set here: spare the hot path a query
    alive = list(
        ProxyBid.objects.filter(auction=auction, max_amount__gte=auction.current_price).order_by(
            "-max_amount", "placed_at", "id"
        )
    )
    if not alive:
        return placed
    by_bidder = {proxy.bidder_id: proxy for proxy in alive}
    while True:
        leader_proxy = by_bidder.get(auction.leader_id)
        leader_limit = max(auction.current_price, leader_proxy.max_amount if leader_proxy else 0)
        challenger = next(
            (
                proxy
                for proxy in alive
                if proxy.bidder_id != auction.leader_id and proxy.max_amount >= auction.min_next_bid
            ),
            None,
        )
        if challenger is None:
            return placed
        challenger_wins = challenger.max_amount > leader_limit or (
            challenger.max_amount == leader_limit
            and leader_proxy is not None
            and (challenger.placed_at, challenger.pk) < (leader_proxy.placed_at, leader_proxy.pk)
        )
        if challenger_wins:
            amount = min(challenger.max_amount, leader_limit + auction.price_step)
            bidder_id = challenger.bidder_id
        else:
            amount = min(leader_limit, challenger.max_amount + auction.price_step)
            bidder_id = auction.leader_id
        leader_before = auction.leader_id
        bid = _bid_insert_unlocked(auction, bidder_id=bidder_id, amount=amount, now=now, auto=True)
        placed.append((bid, leader_before))


def _soft_close_extend(auction: Auction, *, now: datetime) -> None:
    """A bid in the last `extension_seconds` moves the effective end to that many seconds
    after the bid, never past `max_end_time`. The closing scheduler reads `closes_at`, so
    the new end is armed by its next tick; a close task timed for the old end is a no-op."""
    if not auction.extension_seconds:
        return
    window = timedelta(seconds=auction.extension_seconds)
    if auction.closes_at - now >= window:
        return
    new_end = now + window
    if auction.max_end_time is not None:
        new_end = min(new_end, auction.max_end_time)
    if new_end > auction.closes_at:
        auction.closes_at = new_end
        auction.extension_count += 1


def bid_place(
    auction_id: int,
    *,
    bidder: AbstractBaseUser,
    amount: Decimal,
    max_amount: Decimal | None = None,
    snapshot: Any = NOT_READ,
) -> Bid:
    """Place a bid of `amount` (with an optional secret maximum), or refuse it.

    A bid the lock could only refuse (the owner's, or one below the `min_next_bid` of a
    committed read of an open auction) is refused before it (`_bid_refuse_early`), from
    `snapshot` when the caller read the auction already (`bid_early_read`; None: no such
    auction).

    Transaction: one. Locks the auction row (`_auction_lock`), then, against the locked
    row and the clock read after the lock: the bidder is not the owner (`OwnAuction`), the
    auction is open: its close is not recorded (`closed_at`, whatever the clock says) and
    `now < closes_at` (`AuctionFinished`), `amount >= min_next_bid`
    (`BidTooLow`, carrying `min_next_bid`) and `max_amount >= amount` (`MaxBelowAmount`).
    Inserts the bid, records the maximum, lets competing maxima bid (`_proxies_resolve`),
    extends a soft close, and saves `current_price`, `leader`, `bid_count` and `closes_at`
    before the lock is released. Records one "bid placed" event per new bid with earlier
    bidders, automatic ones included: each earlier bidder but the bid's own gets one email
    per such bid after commit (the bidder a maximum outbids hears it from the automatic bid).
    Not idempotent: each call that succeeds is one more bid (see `Idempotency-Key`).
    """
    _bid_refuse_early(auction_id, bidder=bidder, amount=amount, snapshot=snapshot)
    with transaction.atomic():
        auction = _auction_lock(auction_id)
        assert auction is not None
        now = clock.now()
        _bid_open_check(auction, bidder=bidder, now=now)
        min_next_bid = auction.min_next_bid
        if amount < min_next_bid:
            raise BidTooLow(
                f"The minimum next bid is {min_next_bid:.2f}.",
                min_next_bid=f"{min_next_bid:.2f}",
            )
        if max_amount is not None and max_amount < amount:
            raise MaxBelowAmount(
                "max_amount must be at least amount.",
                errors={"max_amount": ["The maximum must be at least the bid."]},
            )
        previous_leader_id = auction.leader_id
        bid = _bid_insert_unlocked(auction, bidder_id=bidder.pk, amount=amount, now=now)
        bid.bidder = bidder  # rendered in the answer: spare a query
        if max_amount is not None:
            ProxyBid.objects.update_or_create(
                auction=auction,
                bidder_id=bidder.pk,
                defaults={"max_amount": max_amount, "placed_at": now},
            )
            auction.has_proxy_bids = True
        automatic = _proxies_resolve(auction, now=now)
        _soft_close_extend(auction, now=now)
        # An UPDATE of the columns a bid moves (what save(update_fields=...) would write,
        # without the ORM compiling it on every bid: this is the hot path).
        pk_update(
            Auction,
            [auction.pk],
            {
                "current_price": auction.current_price,
                "leader_id": auction.leader_id,
                "bid_count": auction.bid_count,
                "closes_at": auction.closes_at,
                "extension_count": auction.extension_count,
                "has_proxy_bids": auction.has_proxy_bids,
            },
        )
        # Each new bid, automatic ones included, tells every earlier bidder but its own
        # bidder, with the price the auction has now: one event per bid. The bidder a
        # maximum has just outbid hears it from the automatic bid's event.
        for new_bid, leader_before in [(bid, previous_leader_id), *automatic]:
            if leader_before is None:
                continue  # nobody to tell about the first bid
            notifications.event_record(
                Event.Kind.BID_PLACED,
                auction=auction,
                bid=new_bid,
                payload={
                    "bidder_id": new_bid.bidder_id,
                    "bidder": _bidder_name(new_bid, bidder),
                    "previous_leader_id": leader_before,
                    "leader_id": auction.leader_id,
                    "amount": f"{auction.current_price:.2f}",
                    "min_next_bid": f"{auction.min_next_bid:.2f}",
                },
                batched=True,  # one task for the new bids of a short window
            )
    bid.auction = auction
    return bid


def _bidder_name(bid: Bid, bidder: AbstractBaseUser) -> str:
    """The username of `bid`'s bidder: the caller's, or read for an automatic bid."""
    if bid.bidder_id == bidder.pk:
        return bidder.get_username()
    return get_user_model().objects.values_list("username", flat=True).get(pk=bid.bidder_id)


def auction_buy_now(auction_id: int, *, buyer: AbstractBaseUser) -> Bid:
    """Buy the auction at its buy-now price: it ends at once with the buyer as winner.

    Transaction: one. Locks the auction row; refuses the owner (`OwnAuction`), a finished
    auction (`AuctionFinished`: closed, whatever the clock says, or past `closes_at`; so an
    auction is never closed twice), and (`BuyNowUnavailable`) an auction with no buy-now price,
    one where a bid reached the reserve (or, with no reserve, any bid), or one whose price
    has risen so that the buy-now price is below the minimum next bid. Inserts the purchase
    as a bid, moves the effective end to now and closes the auction in the same transaction
    (winner, final price, the usual end emails after commit).
    """
    with transaction.atomic():
        auction = _auction_lock(auction_id)
        assert auction is not None
        now = clock.now()
        _bid_open_check(auction, bidder=buyer, now=now)
        if auction.buy_now_price is None:
            raise BuyNowUnavailable("This auction has no buy-now price.")
        if auction.reserve_price is not None and auction.reserve_met:
            raise BuyNowUnavailable("A bid has reached the reserve price.")
        if auction.reserve_price is None and auction.bid_count:
            raise BuyNowUnavailable("The auction already has bids.")
        if auction.buy_now_price < auction.min_next_bid:
            raise BuyNowUnavailable("The bids have passed the buy-now price.")
        bid = _bid_insert_unlocked(
            auction, bidder_id=buyer.pk, amount=auction.buy_now_price, now=now
        )
        auction.closes_at = now
        auction.save(update_fields=["current_price", "leader", "bid_count", "closes_at"])
        _auction_finish(auction, now=now, bought_now=True)
    bid.auction = auction
    return bid
