"""Rate limits: a token bucket per client, in this process's memory.

Used where guessing is the attack (order lookups by number and e-mail, tracking numbers).
Each server process counts on its own, so N processes allow up to N times the rate; for
guessing that is still far too slow to matter, and it needs no shared store.
"""

from __future__ import annotations

import ipaddress
import math
import time
import weakref
from collections.abc import Callable

from aiohttp import web

from .app_keys import SETTINGS
from .problems import Problem
from .settings import Settings


class TokenBucket:
    """``capacity`` requests at once, refilled at ``capacity / period`` per second, per key."""

    def __init__(self, capacity: int, period: float = 60.0, *,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self.capacity, self.rate = capacity, capacity / period
        self.clock, self.max_keys = clock, max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)

    def take(self, key: str) -> float:
        """Spend one token: 0.0 if allowed, else the seconds until the next token."""
        now = self.clock()
        tokens, last = self._buckets.get(key, (float(self.capacity), now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._forget_full(now)
        self._buckets[key] = (tokens - 1, now)
        return 0.0

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled (they hold nothing a new bucket would not)."""
        for key, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.rate >= self.capacity:
                del self._buckets[key]
        if len(self._buckets) >= self.max_keys:  # a flood of addresses: start over
            self._buckets.clear()


def client_address(request: web.Request, settings: Settings) -> str:
    """The caller's address. Behind a proxy (TRUST_PROXY=1) it is the last X-Forwarded-For
    hop, the one our proxy appended: earlier hops are whatever the client chose to send."""
    if settings.trust_proxy:
        hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",")]
        if hops[-1]:
            return hops[-1][:64]
    return request.remote or "unknown"


def _is_trusted(address: str, trusted: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
        return any(ip in ipaddress.ip_network(net, strict=False) for net in trusted)
    except ValueError:
        return False


def client_key(request: web.Request, settings: Settings) -> str:
    """Whom to count: the address, or for our own action server (TRUSTED_CLIENTS) the
    conversation, because every chat shopper reaches us through that one address."""
    address = client_address(request, settings)
    conversation = request.headers.get("X-Conversation-Id", "").strip()[:128]
    if conversation and settings.trusted_clients and _is_trusted(address,
                                                                 settings.trusted_clients):
        return f"conversation:{conversation}"
    return f"address:{address}"


def too_many_requests(retry_after: float, what: str) -> Problem:
    seconds = max(1, math.ceil(retry_after))
    problem = Problem(429, "Too many requests",
                      f"Too many {what} from this client; try again in {seconds} s.",
                      type="rate-limited", retry_after=seconds)
    problem.headers["Retry-After"] = str(seconds)
    return problem


# One set of buckets per application (each test builds its own app; a server has one).
_BUCKETS: weakref.WeakKeyDictionary[web.Application, dict[str, TokenBucket]] = \
    weakref.WeakKeyDictionary()


def enforce(request: web.Request, name: str, per_minute: int, what: str) -> None:
    """Count this request against the client's ``name`` bucket; a 429 problem when empty."""
    if per_minute <= 0:  # 0 switches the limit off
        return
    buckets = _BUCKETS.setdefault(request.app, {})
    bucket = buckets.get(name)
    if bucket is None or bucket.capacity != per_minute:
        bucket = buckets[name] = TokenBucket(per_minute, 60.0)
    wait = bucket.take(client_key(request, request.app[SETTINGS]))
    if wait:
        raise too_many_requests(wait, what)
