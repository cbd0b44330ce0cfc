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
