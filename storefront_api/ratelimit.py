"""Abuse limits, shared by every process: counted in Redis when REDIS_URL is set, in this
process's memory otherwise (the `limits` library, sliding-window counters).

Each named limit counts per client and, where guessing or flooding from many addresses is
the threat, in all (a global cap). The client is the caller's address (the proxy's last
X-Forwarded-For hop with TRUST_PROXY=1), except for Aisle's own action server: every chat
shopper reaches us through it, so a call carrying the service credential is counted per
conversation (X-Conversation-Id). A forged X-Conversation-Id from anyone else changes
nothing: without the credential the header is not read.

If Redis stops answering, counting goes on in memory (logged) rather than refusing shoppers
or letting everything through.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.storage import storage_from_string
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from .app_keys import RATE_LIMITER, SETTINGS
from .auth import is_service_call
from .problems import Problem
from .settings import Settings

log = logging.getLogger("storefront_api.ratelimit")


@dataclass(frozen=True)
class Limit:
    per_client: str  # "20/minute"
    overall: str | None  # every client together; None: no global cap
    what: str  # for the 429's message


# Defaults; RATE_LIMITS='{"sign-in": "5/minute"}' changes one (name or name:overall).
LIMITS: dict[str, Limit] = {
    # every /api request: generous, a floor against floods
    "api": Limit("1200/minute", "60000/minute", "requests"),
    "order-lookup": Limit("20/minute", "600/minute", "order lookups"),
    "tracking": Limit("20/minute", "600/minute", "tracking lookups"),
    "back-in-stock": Limit("20/minute", "600/minute", "back-in-stock sign-ups"),
    "sign-in": Limit("10/minute", "300/minute", "sign-in attempts"),
    # one account from one client; and from everywhere together, higher: a stranger who
    # knows an e-mail address must not be able to lock its owner out with five tries
    "sign-in-account": Limit("5/minute", None, "sign-in attempts for this account"),
    "sign-in-account-all": Limit("100/hour", None, "sign-in attempts for this account"),
    "sign-up": Limit("5/hour", "200/hour", "sign-ups"),
    "ticket": Limit("5/hour", "300/hour", "support requests"),
    "ticket-recipient": Limit("3/hour", None, "support requests to this address"),
    "cart": Limit("30/minute", "3000/minute", "new carts"),
    "checkout": Limit("10/minute", "1000/minute", "checkouts"),
    # a summary holds nothing, but prices the cart in a write transaction
    "checkout-preview": Limit("30/minute", "3000/minute", "checkout summaries"),
    "consent": Limit("30/minute", "3000/minute", "consent changes"),
    # e-mails asking an address's owner to confirm a grant someone stated for it, per
    # address ("recipient:" + address): past it the e-mail is skipped, nothing is refused
    "consent-confirmation": Limit("3/day", None, "confirmation e-mails to this address"),
    "event": Limit("120/minute", "20000/minute", "events"),
    "chat-token": Limit("30/minute", "3000/minute", "chat sessions"),
    # the chat page while a person holds the conversation: its typing, and its stream of
    # the agent's typing (opened again when it breaks, or with a renewed token)
    "chat-typing": Limit("60/minute", "20000/minute", "typing notices"),
    "chat-stream": Limit("30/minute", "5000/minute", "chat streams"),
    # the chat's cart counter, asked again after each bot message
    "chat-cart": Limit("60/minute", "20000/minute", "cart counts"),
}


def client_address(request: web.Request, settings: Settings) -> str:
    """The caller's address. Behind a proxy (TRUST_PROXY=1) it is the last X-Forwarded-For
    hop, the one our proxy appended: earlier hops are whatever the client chose to send."""
    address = request.remote or "unknown"
    if settings.trust_proxy:
        hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",")]
        if hops[-1]:
            address = hops[-1][:64]
    return _network_of(address)


def _network_of(address: str) -> str:
    """An IPv6 client is its /64: one subscriber gets a whole /64 and can pick any address
    in it, so counting per address would give them 2**64 allowances."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


_CHAT_CLIENT = re.compile(r"^c_[0-9a-f]{32}$")  # storefront_api/chat/tokens.py client_of()


def client_key(request: web.Request, settings: Settings) -> str:
    """Whom to count: the address, or for our own action server the conversation."""
    if is_service_call(request):
        conversation = request.headers.get("X-Conversation-Id", "").strip()[:128]
        if conversation:
            return f"conversation:{conversation}"
        return "service"
    return f"address:{client_address(request, settings)}"


def chat_client_key(request: web.Request) -> str | None:
    """For the action server's call on behalf of a web chat: the browser's client, from the
    chat token (X-Aisle-Client, an opaque key storefront_api made); None otherwise. One
    browser can start many conversations: counted by this, they are one shopper."""
    if not is_service_call(request):
        return None
    client = request.headers.get("X-Aisle-Client", "").strip()
    return f"client:{client}" if _CHAT_CLIENT.match(client) else None


def shopper_key(request: web.Request, settings: Settings) -> str:
    """Who holds stock: the browser behind a web chat, else the client as counted above."""
    return chat_client_key(request) or client_key(request, settings)


@dataclass
class _Lease:
    remaining: int
    expires: float  # monotonic seconds
    size: int


class Leases:
    """Generous limits (100 or more a window) counted in Redis a few at a time: a client
    that sends many requests takes a lease of several hits in one Redis call and spends it
    here, so that counting costs a Redis round trip per lease, not per request.

    A lease lasts LIFETIME seconds. Its size doubles while the client uses it up before it
    ends (a busy client), up to 2 % of the limit, and halves when it ends unused (a slow
    client is counted one request at a time again). What is counted but not used is at most
    one lease per client and process, so a client may be refused up to 2 % early, never
    let through late; near its limit, Redis refuses the lease and counting is exact.
    Strict limits (sign-in, lookups: under 100 a window) are never leased."""

    LIFETIME = 1.0
    SMALLEST_LEASED_LIMIT = 100
    MAX_KEYS = 50_000

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._leases: dict[tuple, _Lease] = {}

    @classmethod
    def largest(cls, item: RateLimitItem) -> int:
        return item.amount // 50 if item.amount >= cls.SMALLEST_LEASED_LIMIT else 1

    def take(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> bool:
        """Spend one hit of a live lease, if there is one."""
        lease = self._leases.get((item.key_for(*identifiers),))
        if lease is None or lease.remaining <= 0 or self.clock() >= lease.expires:
            return False
        lease.remaining -= 1
        return True

    def worth_asking(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> bool:
        return self.largest(item) > 1

    def _next_size(self, item: RateLimitItem, key: tuple) -> int:
        lease = self._leases.get(key)
        if lease is None:
            return 1
        if lease.remaining <= 0 and self.clock() < lease.expires:  # used up in time: busy
            return min(lease.size * 2, self.largest(item))
        return max(1, lease.size // 2)

    async def ask(self, limiter, item: RateLimitItem, identifiers: tuple[str, ...]) -> bool:
        """Take a new lease from Redis (and spend its first hit). False when Redis refuses
        it: the caller then counts this one request exactly."""
        key = (item.key_for(*identifiers),)
        size = self._next_size(item, key)
        if not await limiter.hit(item, *identifiers, cost=size):
            self._leases.pop(key, None)
            return False
        if len(self._leases) >= self.MAX_KEYS:
            self._forget_ended()
        self._leases[key] = _Lease(remaining=size - 1, expires=self.clock() + self.LIFETIME,
                                   size=size)
        return True

    def _forget_ended(self) -> None:
        now = self.clock()
        for key, lease in list(self._leases.items()):
            if now >= lease.expires:
                del self._leases[key]
        if len(self._leases) >= self.MAX_KEYS:  # a flood of clients: start again
            self._leases.clear()


class RateLimiter:
    """The limits of one application, counted in Redis or in memory."""

    def __init__(self, settings: Settings):
        self.enabled = settings.rate_limits_enabled
        overrides = dict(settings.rate_limit_overrides)
        # ORDER_LOOKUPS_PER_MINUTE predates RATE_LIMITS and still sets that one (0: off)
        for name in ("order-lookup", "tracking", "back-in-stock"):
            overrides.setdefault(name, f"{settings.order_lookups_per_minute}/minute")
        self.items = {name: self._items(name, limit, overrides)
                      for name, limit in LIMITS.items()}
        self.what = {name: limit.what for name, limit in LIMITS.items()}
        self.memory = SlidingWindowCounterRateLimiter(MemoryStorage())
        self.shared: SlidingWindowCounterRateLimiter | None = None
        self._storage = None
        if settings.redis_url and self.enabled:
            url = settings.redis_url
            self._storage = storage_from_string(
                "async+" + url if not url.startswith("async+") else url,
                implementation="redispy", key_prefix="aisle-limits",
                socket_timeout=0.5, socket_connect_timeout=0.5)
            self.shared = SlidingWindowCounterRateLimiter(self._storage)
        self.leases = Leases()
        self._degraded_since: float | None = None

    @staticmethod
    def _items(name: str, limit: Limit, overrides: dict[str, str]
               ) -> tuple[RateLimitItem | None, RateLimitItem | None]:
        """(per client, overall); a rate of 0 switches that count off."""
        rates = (overrides.get(name, limit.per_client),
                 overrides.get(f"{name}:overall", limit.overall))
        items = []
        for rate in rates:
            try:
                item = parse(rate) if rate else None
            except ValueError:
                raise SystemExit(f"RATE_LIMITS: {name!r} must be a rate such as "
                                 f"'20/minute', not {rate!r}") from None
            items.append(item if item is not None and item.amount > 0 else None)
        return items[0], items[1]

    async def _hit(self, item: RateLimitItem, *identifiers: str) -> float:
        """0 when allowed, else the seconds until the window lets one more through."""
        limiter = self.memory
        if self.shared is not None and not self._degraded():
            limiter = self.shared
            if self.leases.take(item, identifiers):  # counted in Redis already
                return 0.0
            if self.leases.worth_asking(item, identifiers):
                try:
                    granted = await self.leases.ask(limiter, item, identifiers)
                except Exception as exc:
                    self._degrade(exc)
                    return await self._hit(item, *identifiers)
                if granted:
                    return 0.0
        try:
            if await limiter.hit(item, *identifiers):
                return 0.0
            stats = await limiter.get_window_stats(item, *identifiers)
        except Exception as exc:  # Redis down or slow: count here until it is back
            if limiter is self.memory:
                raise
            self._degrade(exc)
            return await self._hit(item, *identifiers)
        return max(1.0, stats.reset_time - time.time())

    def _degraded(self) -> bool:
        if self._degraded_since is None:
            return False
        if time.monotonic() - self._degraded_since > 30:  # try Redis again
            self._degraded_since = None
            return False
        return True

    def _degrade(self, exc: Exception) -> None:
        log.warning("rate limits: Redis unavailable (%s: %s); counting in memory for 30 s",
                    type(exc).__name__, exc)
        self._degraded_since = time.monotonic()

    async def check(self, name: str, *keys: str) -> float:
        """Count one request against limit ``name``: for each of ``keys`` (the same client
        seen two ways, e.g. a chat's conversation and its browser), then once in all;
        seconds to wait, or 0."""
        if not self.enabled:
            return 0.0
        per_client, overall = self.items[name]
        for key in keys if per_client is not None else ():
            wait = await self._hit(per_client, name, key)
            if wait:
                return wait
        if overall is not None:
            return await self._hit(overall, name, "*")
        return 0.0

    async def close(self) -> None:
        """Close the Redis connections (the redis-py client under the limits storage)."""
        client = getattr(getattr(self._storage, "bridge", None), "storage", None)
        if client is not None:
            await client.aclose()


def too_many_requests(retry_after: float, what: str) -> Problem:
    seconds = max(1, math.ceil(retry_after))
    problem = Problem(429, "Too many requests",
                      f"Too many {what} from this client; try again in {seconds} s.",
                      type="rate-limited", retry_after=seconds)
    problem.headers["Retry-After"] = str(seconds)
    return problem


async def enforce(request: web.Request, name: str, *, key: str | None = None) -> None:
    """Count this request against limit ``name`` for its client (or for ``key``, e.g. the
    account a sign-in names); a 429 problem with Retry-After when it is used up."""
    limiter = request.app[RATE_LIMITER]
    keys = [key] if key else [client_key(request, request.app[SETTINGS]),
                              chat_client_key(request)]
    # a web chat counts as its conversation and as its browser, so starting conversation
    # after conversation gives one browser no fresh allowance
    wait = await limiter.check(name, *filter(None, keys))
    if wait:
        raise too_many_requests(wait, limiter.what[name])


async def enforce_sign_in(request: web.Request, email: str) -> None:
    """A sign-in naming ``email``: per client, per client and account, per account."""
    await enforce(request, "sign-in")
    account = "account:" + email.strip().lower()[:300]
    await enforce(request, "sign-in-account",
                  key=f"{account}|{client_key(request, request.app[SETTINGS])}")
    await enforce(request, "sign-in-account-all", key=account)


async def within(request: web.Request, name: str, *, key: str) -> bool:
    """Count one against limit ``name`` for ``key``: whether it was within the limit. For
    what is skipped, not refused, once the limit is reached (a confirmation e-mail)."""
    return not await request.app[RATE_LIMITER].check(name, key)


@web.middleware
async def api_rate_limit(request: web.Request, handler):
    """Every /api request counts against the generous ``api`` limit of its client."""
    if request.path.startswith("/api/") and request.path != "/api/payments/webhook":
        await enforce(request, "api")
    return await handler(request)
