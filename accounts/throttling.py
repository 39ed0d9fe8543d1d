"""Throttles for the doors an attacker knocks on: registration per client address, and
failed logins per client address and per account.

Both keep their history in Django's cache (`settings.CACHES`), shared by every process of
the deployment, and read their rate from `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` at
each request rather than at import time (DRF's own `THROTTLE_RATES` is frozen when the
module loads), so a changed setting takes effect at once.

The client is its `REMOTE_ADDR`. DRF's default identity is the whole `X-Forwarded-For`
header when `NUM_PROXIES` is unset, which a client writes itself: each made-up value would
be a fresh bucket. Behind a proxy, set `NUM_PROXIES` and DRF's rule applies.
"""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from accounts.errors import LoginThrottled


class ClientAddressRateThrottle(SimpleRateThrottle):
    """A `SimpleRateThrottle` keyed by client address, with its rate read per request."""

    def get_rate(self) -> str | None:
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError as exc:
            message = f"No throttle rate set for the {self.scope!r} scope"
            raise ImproperlyConfigured(message) from exc

    def get_ident(self, request: HttpRequest | Request) -> str:
        return client_address(request)

    def get_cache_key(self, request: HttpRequest | Request, view=None) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class RegisterRateThrottle(ClientAddressRateThrottle):
    """Every registration attempt counts, accepted or not (rate `register`)."""

    scope = "register"


# --- Failed logins ------------------------------------------------------------------------
#
# Every door that checks a password (`/api/v1/auth/token`, `/admin/login/`, the password
# grant of `/o/token/`) goes through `accounts.services.user_authenticate`, which asks
# `login_attempt_check` first and calls `login_failure_record` after a wrong password. Only
# failures are counted, in three sliding windows kept in the cache:
#
# - per client address, any account (rate `login`): a guesser spraying many accounts from
#   one address. Once full, every attempt from that address is refused, the right password
#   too: checking it would tell the guesser when a guess is right. With `NUM_PROXIES` set
#   behind proxies, that address is the client's own, not the proxy's. Except for known
#   addresses (below): the address being shared (NAT, office, a proxy without
#   `NUM_PROXIES`), one guesser must not lock out everyone else behind it.
# - per account, any address (rate `login_account`): many addresses guessing one account.
#   Once full, the account is not locked for everyone: an address that has failed on this
#   account within the window is refused, and any other address is still checked, so the
#   owner logs in from their own machine while the account is under attack. Each new
#   address the guesser brings gets at most one wrong guess per window on that account.
# - per (account, address), with the account's window: which addresses have failed there.
#
# Known addresses (OWASP's "device cookie", with the address as the device): each
# successful login marks its (account, address) pair as known for
# `LOGIN_KNOWN_ADDRESS_DAYS`. A known pair is still checked when its address's window is
# full, and when its account's window is full, unless the pair's own window is full (it
# has itself failed as often as the per-account rate allows). Its failures still count. A
# guesser spraying accounts is still stopped; a user who logged in from that address
# before keeps getting in, and a guesser sharing it gets the per-account rate on them.
#
# A success resets nothing: one valid account would otherwise let a guesser interleave
# logins and guess other accounts' passwords without limit. Cache get-then-set is not
# atomic: two failures at the same instant may count as one, as in DRF's own throttles.


_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class _FailureWindow:
    """The failures of one key still inside the rate's window, newest first."""

    timer = staticmethod(time.time)

    def __init__(self, scope: str, ident: str) -> None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)  # DRF syntax: "10/min"
        self.limit, self.duration = None, 0
        if rate is not None:
            number, period = rate.split("/")
            self.limit, self.duration = int(number), _PERIODS[period[0]]
        self.key = f"login_failures_{scope}_{ident}"
        self.now = self.timer()
        self.history = (
            [t for t in cache.get(self.key, []) if t > self.now - self.duration]
            if self.limit is not None
            else []
        )

    @property
    def full(self) -> bool:
        return self.limit is not None and len(self.history) >= self.limit

    def wait_until_not_full(self) -> float:
        return max(0.0, self.history[self.limit - 1] + self.duration - self.now)

    def wait_until_empty(self) -> float:
        return max(0.0, self.history[0] + self.duration - self.now)

    def record(self) -> None:
        if self.limit is not None:
            cache.set(self.key, [self.now, *self.history], self.duration)


def _account_hash(username: str) -> str:
    # Usernames are unique whatever their case; hashed, any text makes a valid cache key.
    return hashlib.sha256(username.casefold().encode("utf-8", "surrogatepass")).hexdigest()


def _windows(*, username: str, address: str) -> tuple[_FailureWindow, ...]:
    account = _account_hash(username)
    return (
        _FailureWindow("login", f"address_{address}"),
        _FailureWindow("login_account", f"account_{account}"),
        _FailureWindow("login_account", f"pair_{account}_{address}"),
    )


def _known_key(*, username: str, address: str) -> str:
    return f"login_known_{_account_hash(username)}_{address}"


def login_attempt_check(*, username: str, address: str) -> None:
    """Raise `LoginThrottled` when a login for `username` from `address` must not even
    be tried (see the rules above). Reads only."""
    by_address, by_account, pair = _windows(username=username, address=address)
    known = cache.get(_known_key(username=username, address=address), False)
    if by_address.full and not known:
        raise LoginThrottled(by_address.wait_until_not_full())
    if by_account.full and pair.history and (not known or pair.full):
        wait = pair.wait_until_not_full() if known else pair.wait_until_empty()
        raise LoginThrottled(min(by_account.wait_until_not_full(), wait))


def login_failure_record(*, username: str, address: str) -> None:
    """Count one failed login for `username` from `address` in every window."""
    for window in _windows(username=username, address=address):
        window.record()


def login_success_record(*, username: str, address: str) -> None:
    """Mark `address` as known for `username` for `LOGIN_KNOWN_ADDRESS_DAYS` from now."""
    days = settings.LOGIN_KNOWN_ADDRESS_DAYS
    if days > 0:
        cache.set(_known_key(username=username, address=address), True, days * 86400)


def client_address(request: HttpRequest | Request) -> str:
    """The client's address as the throttles see it (`REMOTE_ADDR`, or the address
    `NUM_PROXIES` places from the end of `X-Forwarded-For` behind proxies)."""
    if api_settings.NUM_PROXIES is not None:
        return BaseThrottle().get_ident(request)
    return request.META.get("REMOTE_ADDR", "")
