"""The abuse limits' counting (in memory and in Redis) and whom they count."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from aiohttp.test_utils import make_mocked_request
from assistant_calls import SERVICE, SERVICE_TOKEN
from databases import services_required

from storefront_api.access_log import redacted_path
from storefront_api.ratelimit import RateLimiter, client_key
from storefront_api.settings import Settings

REDIS_URL = os.environ.get("AISLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")


def _settings(**overrides) -> Settings:
    return Settings(database_url="sqlite+aiosqlite://", var_dir=None, secret_key="k",
                    service_token=SERVICE_TOKEN, **overrides)


def _key(headers: dict[str, str], settings: Settings) -> str:
    from storefront_api.app_keys import SETTINGS
    request = make_mocked_request("GET", "/api/orders/AB-1", headers=headers,
                                  app={SETTINGS: settings})
    return client_key(request, settings)


def test_whom_the_limit_counts():
    forwarded = {"X-Forwarded-For": "198.51.100.9, 203.0.113.5", "X-Conversation-Id": "conv-1"}
    direct = _key(forwarded, _settings())
    assert direct.startswith("address:") and "203.0.113.5" not in direct  # proxy not trusted
    assert _key(forwarded, _settings(trust_proxy=True)) == "address:203.0.113.5"
    # the conversation counts only for a call carrying the service credential
    assert _key({**forwarded, **SERVICE}, _settings(trust_proxy=True)) == "conversation:conv-1"
    forged = {**forwarded, "Authorization": "Bearer not-the-service-token"}
    assert _key(forged, _settings(trust_proxy=True)) == "address:203.0.113.5"
    non_ascii = {**forwarded, "Authorization": "Bearer s\u00e9rvice-t\u00f6ken"}
    assert _key(non_ascii, _settings(trust_proxy=True)) == "address:203.0.113.5"


def test_an_ipv6_client_is_counted_by_its_64():
    settings = _settings(trust_proxy=True)
    one = _key({"X-Forwarded-For": "2001:db8:1:2::1"}, settings)
    other = _key({"X-Forwarded-For": "2001:db8:1:2:ffff:ffff:ffff:fffe"}, settings)
    assert one == other == "address:2001:db8:1:2::/64"
    assert _key({"X-Forwarded-For": "2001:db8:1:3::1"}, settings) != one
    assert _key({"X-Forwarded-For": "::ffff:203.0.113.5"}, settings) == "address:203.0.113.5"


async def _exhaust(limiter: RateLimiter, name: str, key: str, times: int) -> list[float]:
    return [await limiter.check(name, key) for _ in range(times)]


async def test_memory_counts_per_client_and_in_all():
    limiter = RateLimiter(_settings(rate_limit_overrides={
        "ticket": "2/minute", "ticket:overall": "3/minute"}))
    first = await _exhaust(limiter, "ticket", "address:a", 3)
    assert first[:2] == [0.0, 0.0] and 1 <= first[2] <= 60
    assert await limiter.check("ticket", "address:b") == 0.0  # b has its own allowance...
    assert await limiter.check("ticket", "address:c") > 0  # ...until the global cap is used


async def test_zero_switches_a_limit_off_and_bad_rates_are_refused():
    limiter = RateLimiter(_settings(order_lookups_per_minute=0))
    assert await _exhaust(limiter, "order-lookup", "address:a", 50) == [0.0] * 50
    with pytest.raises(SystemExit, match="sign-in"):
        RateLimiter(_settings(rate_limit_overrides={"sign-in": "often"}))


def _redis_or_skip():
    import redis
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if services_required():
            pytest.fail(f"Redis at {REDIS_URL} is unreachable ({exc})", pytrace=False)
        pytest.skip(f"Redis at {REDIS_URL} is unreachable ({exc})")


async def test_redis_shares_the_count_between_processes():
    """Two limiters on one Redis (as two server processes) draw from one allowance."""
    _redis_or_skip()
    settings = _settings(redis_url=REDIS_URL, rate_limit_overrides={"sign-in": "4/minute"})
    one, two = RateLimiter(settings), RateLimiter(settings)
    key = f"address:{uuid.uuid4().hex}"
    try:
        waits = [await limiter.check("sign-in", key) for limiter in (one, two, one, two, one)]
        assert waits[:4] == [0.0] * 4 and waits[4] > 0
    finally:
        await one.close()
        await two.close()


async def test_redis_down_falls_back_to_counting_in_memory(caplog):
    limiter = RateLimiter(_settings(redis_url="redis://127.0.0.1:9/0",
                                    rate_limit_overrides={"sign-in": "2/minute"}))
    try:
        waits = await asyncio.wait_for(_exhaust(limiter, "sign-in", "address:x", 3), 10)
        assert waits[:2] == [0.0, 0.0] and waits[2] > 0
        assert "counting in memory" in caplog.text
    finally:
        await limiter.close()


def test_access_log_hides_emails_and_tokens():
    request = make_mocked_request("GET", "/api/orders/AB-1?email=a%40b.com&token=xyz&page=2")
    assert redacted_path(request) == "/api/orders/AB-1?email=***&token=***&page=2"


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CountingLimiter:
    """Stands in for the Redis-backed limiter: counts the hits it grants, up to a cap."""

    def __init__(self, cap: int):
        self.cap, self.counted, self.calls = cap, 0, 0

    async def hit(self, item, *identifiers, cost=1):
        self.calls += 1
        if self.counted + cost > self.cap:
            return False
        self.counted += cost
        return True


async def _lease_request(leases, limiter, item) -> bool:
    if leases.take(item, ("api", "k")):
        return True
    return await leases.ask(limiter, item, ("api", "k"))


async def test_a_busy_client_is_counted_a_lease_at_a_time():
    from limits import parse

    from storefront_api.ratelimit import Leases
    clock, limiter, item = Clock(), CountingLimiter(cap=10_000), parse("1200/minute")
    leases = Leases(clock=clock)
    for _ in range(500):  # a burst within one lease lifetime
        assert await _lease_request(leases, limiter, item)
    assert limiter.calls < 40  # leases of 1, 2, 4, ... 24 (2 % of 1200), not 500 calls
    assert 500 <= limiter.counted <= 500 + 24  # never let through more than counted
    clock.now += 5  # the client slows down: one request now and then
    sizes = []
    for _ in range(6):
        counted = limiter.counted
        assert await _lease_request(leases, limiter, item)
        sizes.append(limiter.counted - counted)
        clock.now += 5
    assert sizes[0] <= 12 and sizes[-1] == 1  # halving back to one request at a time


async def test_near_its_limit_a_client_is_counted_exactly():
    from limits import parse

    from storefront_api.ratelimit import Leases
    clock, limiter, item = Clock(), CountingLimiter(cap=100), parse("1200/minute")
    leases = Leases(clock=clock)
    granted = [await _lease_request(leases, limiter, item) for _ in range(150)]
    assert granted.count(True) <= 100 and limiter.counted <= 100


async def test_strict_limits_are_never_leased():
    from limits import parse

    from storefront_api.ratelimit import Leases
    assert Leases.largest(parse("20/minute")) == 1  # lookups, sign-in: exact
    assert Leases.largest(parse("1200/minute")) == 24


async def test_leases_in_redis_let_through_no_more_than_the_limit():
    """Two processes (two limiters) on one Redis, a busy client: together they never let
    through more than the limit, and ask Redis far less often than once a request."""
    _redis_or_skip()
    settings = _settings(redis_url=REDIS_URL, rate_limit_overrides={"api": "300/minute"})
    one, two = RateLimiter(settings), RateLimiter(settings)
    key = f"address:{uuid.uuid4().hex}"
    try:
        waits = [await (one if n % 2 else two).check("api", key) for n in range(400)]
        allowed = waits.count(0.0)
        assert 300 - 2 * 6 <= allowed <= 300  # at most a lease of 6 each counted unused
        assert all(wait > 0 for wait in waits[allowed + 12:])
    finally:
        await one.close()
        await two.close()
