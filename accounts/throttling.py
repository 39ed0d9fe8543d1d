"""Throttles for the doors an attacker knocks on: login and registration, per client address.

Both keep their history in Django's cache (`settings.CACHES`), shared by every process of
the deployment, and read their rate from `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` at
each request rather than at import time (DRF's own `THROTTLE_RATES` is frozen when the
module loads), so a changed setting takes effect at once.

The client is its `REMOTE_ADDR`. DRF's default identity is the whole `X-Forwarded-For`
header when `NUM_PROXIES` is unset, which a client writes itself: each made-up value would
be a fresh bucket. Behind a proxy, set `NUM_PROXIES` and DRF's rule applies.
"""

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class ClientAddressRateThrottle(SimpleRateThrottle):
    """A `SimpleRateThrottle` keyed by client address, with its rate read per request."""

    def get_rate(self) -> str | None:
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError as exc:
            message = f"No throttle rate set for the {self.scope!r} scope"
            raise ImproperlyConfigured(message) from exc

    def get_ident(self, request: HttpRequest | Request) -> str:
        if api_settings.NUM_PROXIES is not None:
            return super().get_ident(request)
        return request.META.get("REMOTE_ADDR", "")

    def get_cache_key(self, request: HttpRequest | Request, view=None) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class RegisterRateThrottle(ClientAddressRateThrottle):
    """Every registration attempt counts, accepted or not (rate `register`)."""

    scope = "register"


class LoginRateThrottle(ClientAddressRateThrottle):
    """Only failed logins count (rate `login`); the view records them with
    `login_failure_record`. Once an address has used up its failures, every attempt, even
    with the right password, is refused until the oldest failure leaves the window: a
    correct guess must not be distinguishable from a wrong one while throttled.

    A successful login does not reset the count, or one valid account would let an
    attacker interleave logins and guess other accounts' passwords without limit.
    """

    scope = "login"

    def allow_request(self, request: Request, view) -> bool:
        # Like SimpleRateThrottle.allow_request, but this request is not recorded.
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        self.now = self.timer()
        self.history = self._history_current()
        return len(self.history) < self.num_requests

    def wait(self) -> float:
        # The attempt after `num_requests` failures is let through when the failure that
        # filled the window (the num_requests-th newest) expires.
        blocking = self.history[self.num_requests - 1]
        return max(0.0, blocking + self.duration - self.now)

    def failure_record(self, request: HttpRequest | Request) -> None:
        if self.rate is None:
            return
        self.key = self.get_cache_key(request)
        self.now = self.timer()
        self.history = self._history_current()
        # Cache get-then-set is not atomic: two failures at the same instant may count as
        # one. A throttle may be off by a little; DRF's own throttles accept the same.
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)

    def _history_current(self) -> list[float]:
        """The failures still inside the window, newest first."""
        return [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]


def login_failure_record(request: HttpRequest | Request) -> None:
    """Count one failed login against the client's address."""
    LoginRateThrottle().failure_record(request)
