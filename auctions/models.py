"""Auctions and bids.

An auction row carries its rules (starting price, step, end) and a few denormalised fields
(`current_price`, `leader`, `bid_count`) that only `auctions.services` writes, inside the
transaction that inserts the bid and holds the auction's row lock. The constraints below
are the last line of defence behind those services, never the normal path.
"""

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from common.money import DECIMAL_PLACES, MAX_DIGITS


class AuctionQuerySet(models.QuerySet):
    """The auction's derived state, as queries. `now` comes from common.clock."""

    def active(self, now: datetime) -> "AuctionQuerySet":
        """Open for bids: strictly before the effective end."""
        return self.filter(closes_at__gt=now)

    def finished(self, now: datetime) -> "AuctionQuerySet":
        """Past the effective end, whether or not the closing has run yet."""
        return self.filter(closes_at__lte=now)

    def due(self, now: datetime) -> "AuctionQuerySet":
        """Finished but not yet closed: the closing sweep's work."""
        return self.finished(now).filter(closed_at__isnull=True)

    def won_by(self, user_id: int, now: datetime) -> "AuctionQuerySet":
        """Finished auctions whose winner is the user: `Auction.winner_at`, as a query.

        Once closed, the recorded winner; between the end and the close, the leader when the
        reserve was met (a leader exists only with bids, so `current_price` is a bid).
        """
        reserve_met = Q(reserve_price__isnull=True) | Q(current_price__gte=F("reserve_price"))
        return self.finished(now).filter(
            Q(closed_at__isnull=False, winner_id=user_id)
            | (Q(closed_at__isnull=True, leader_id=user_id) & reserve_met)
        )


def money_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, **kwargs)


class Auction(models.Model):
    class Condition(models.TextChoices):
        NEW = "new", "New"
        USED = "used", "Used"
        REFURBISHED = "refurbished", "Refurbished"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="auctions"
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    starting_price = money_field()
    price_step = money_field()
    currency = models.CharField(max_length=3, default="USD")
    condition = models.CharField(max_length=16, choices=Condition.choices, default="used")
    # Secret to all but the owner: below it, the auction ends without a winner.
    reserve_price = money_field(null=True, blank=True)
    # Anyone but the owner may end the auction at once at this price (see auction_buy_now).
    buy_now_price = money_field(null=True, blank=True)
    # The end the owner asked for; it never changes.
    end_time = models.DateTimeField()
    # Soft close: a bid in the last `extension_seconds` moves the effective end to that many
    # seconds after the bid, never past `max_end_time`.
    extension_seconds = models.PositiveIntegerField(null=True, blank=True)
    max_end_time = models.DateTimeField(null=True, blank=True)
    # The effective end: bids are refused from this instant on. Starts at end_time; a
    # soft-close extension moves it later, a purchase at the buy-now price moves it to the
    # instant of the purchase. What the owner set (end_time) is never rewritten.
    closes_at = models.DateTimeField()
    extension_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()

    # Denormalised by bid_place, under the auction's row lock.
    current_price = money_field()
    leader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        # Not indexed, like current_price: every bid rewrites both, and with no index on
        # them PostgreSQL updates the hot row in place (a HOT update) instead of adding an
        # entry to every index of the table. Nothing looks auctions up by their leader.
        db_index=False,
    )
    bid_count = models.PositiveIntegerField(default=0)
    # Whether any bidder ever set a maximum here: plain auctions skip the proxy resolution.
    has_proxy_bids = models.BooleanField(default=False)

    # Recorded by auction_close, once, after closes_at.
    closed_at = models.DateTimeField(null=True, blank=True)
    winner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="auctions_won",
    )
    final_price = money_field(null=True, blank=True)
    # When the "ending soon" reminder went to the watchers (once per auction).
    watch_reminded_at = models.DateTimeField(null=True, blank=True)

    objects = AuctionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        # The search's trigram indexes (auction_title_trgm_idx, auction_description_trgm_idx)
        # exist on PostgreSQL only and are created by migration 0004, outside this state.
        indexes = [
            models.Index(fields=["closes_at", "id"], name="auction_closes_at_idx"),
            models.Index(fields=["-created_at", "-id"], name="auction_created_idx"),
            models.Index(fields=["owner", "-created_at"], name="auction_owner_idx"),
            # The closing sweep's question: which auctions are due and not yet closed?
            models.Index(
                fields=["closes_at"],
                name="auction_due_idx",
                condition=Q(closed_at__isnull=True),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(starting_price__gte=0), name="auction_starting_price_gte_0"
            ),
            models.CheckConstraint(condition=Q(price_step__gt=0), name="auction_price_step_gt_0"),
            models.CheckConstraint(
                condition=Q(current_price__gte=F("starting_price")),
                name="auction_current_price_gte_starting",
            ),
            models.CheckConstraint(
                condition=Q(closes_at__gt=F("created_at")), name="auction_closes_after_creation"
            ),
            models.CheckConstraint(
                condition=Q(reserve_price__isnull=True) | Q(reserve_price__gte=F("starting_price")),
                name="auction_reserve_gte_starting",
            ),
            models.CheckConstraint(
                condition=Q(buy_now_price__isnull=True) | Q(buy_now_price__gt=0),
                name="auction_buy_now_gt_0",
            ),
            models.CheckConstraint(
                condition=Q(extension_seconds__isnull=True) | Q(extension_seconds__gt=0),
                name="auction_extension_gt_0",
            ),
            models.CheckConstraint(
                condition=Q(max_end_time__isnull=True)
                | (Q(max_end_time__gte=F("end_time")) & Q(closes_at__lte=F("max_end_time"))),
                name="auction_closes_within_cap",
            ),
            models.CheckConstraint(
                condition=Q(bid_count=0, leader__isnull=True)
                | Q(bid_count__gt=0, leader__isnull=False),
                name="auction_leader_iff_bids",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def min_next_bid(self) -> Decimal:
        """The lowest acceptable next bid: the starting price, then the price plus a step."""
        if self.bid_count == 0:
            return self.starting_price
        return self.current_price + self.price_step

    @property
    def reserve_met(self) -> bool:
        """True when there is no reserve, or the highest bid reached it."""
        if self.reserve_price is None:
            return True
        return self.bid_count > 0 and self.current_price >= self.reserve_price

    def is_active_at(self, now: datetime) -> bool:
        """Open for bids at `now`: strictly before the effective end."""
        return now < self.closes_at

    def is_due_at(self, now: datetime) -> bool:
        """Finished and not yet closed: what `AuctionQuerySet.due` finds, for one row."""
        return self.closed_at is None and not self.is_active_at(now)

    def status_at(self, now: datetime) -> str:
        """`active` while now < closes_at, else `finished`: the clock decides, no flag."""
        return "active" if self.is_active_at(now) else "finished"

    def winner_at(self, now: datetime):
        """Null while active; afterwards the highest bidder if the reserve was met.

        Bids only ever go up, so the leader at the end is the highest bidder of this
        auction; the closing service records the same user in `winner`.
        """
        if self.is_active_at(now):
            return None
        if self.closed_at:
            return self.winner
        return self.leader if self.reserve_met else None


class Bid(models.Model):
    auction = models.ForeignKey(Auction, on_delete=models.PROTECT, related_name="bids")
    bidder = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bids"
    )
    amount = money_field()
    # Placed by the service on behalf of a bidder's maximum (proxy bidding).
    auto = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["auction", "-id"], name="bid_auction_newest_idx"),
            models.Index(fields=["bidder", "auction"], name="bid_bidder_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="bid_amount_gt_0"),
            # Two accepted bids of the same amount on one auction mean the lock failed.
            models.UniqueConstraint(fields=["auction", "amount"], name="bid_unique_amount"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} on auction #{self.auction_id}"


class ProxyBid(models.Model):
    """A bidder's secret maximum on one auction: the service bids for them, one step at a
    time, only as far as needed to keep the lead. Only its owner ever sees it."""

    auction = models.ForeignKey(Auction, on_delete=models.PROTECT, related_name="proxy_bids")
    bidder = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    max_amount = money_field()
    # When this maximum was set: between two equal maxima, the earlier one wins.
    placed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["auction", "bidder"], name="proxy_bid_once"),
            models.CheckConstraint(condition=Q(max_amount__gt=0), name="proxy_bid_max_gt_0"),
        ]
        indexes = [
            models.Index(fields=["auction", "-max_amount", "placed_at"], name="proxy_rank_idx")
        ]

    def __str__(self) -> str:
        return f"max {self.max_amount} by user #{self.bidder_id} on auction #{self.auction_id}"


class Watch(models.Model):
    """A user watching an auction: they get one "ending soon" email before it closes."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watches"
    )
    auction = models.ForeignKey(Auction, on_delete=models.CASCADE, related_name="watches")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "auction"], name="watch_once")]
        indexes = [models.Index(fields=["user", "-created_at"], name="watch_user_idx")]

    def __str__(self) -> str:
        return f"user #{self.user_id} watches auction #{self.auction_id}"
