"""Every write to an auction or a bid. The rules of bidding live here and nowhere else.

- `locking`: `_auction_lock`, the one place that locks an auction, and its rules;
- `creating`: `auction_create`;
- `bidding`: `bid_place` (with proxy bidding and soft close; `bid_early_read` for the caller
  that reads its auction together with the token), `auction_buy_now`;
- `closing`: `auction_close`, `auction_close_due`;
- `watching`: `watch_add`, `watch_remove`, `auction_watch_remind`, `auction_watch_remind_due`.
"""

from auctions.services.bidding import NOT_READ, auction_buy_now, bid_early_read, bid_place
from auctions.services.closing import auction_close, auction_close_due, auctions_close
from auctions.services.creating import auction_create
from auctions.services.locking import _auction_lock
from auctions.services.watching import (
    auction_watch_remind,
    auction_watch_remind_due,
    watch_add,
    watch_remove,
)

__all__ = [
    "NOT_READ",
    "_auction_lock",
    "auction_buy_now",
    "auction_close",
    "auction_close_due",
    "auction_create",
    "auction_watch_remind",
    "auction_watch_remind_due",
    "auctions_close",
    "bid_early_read",
    "bid_place",
    "watch_add",
    "watch_remove",
]
