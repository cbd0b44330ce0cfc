"""The token bucket behind the order lookup limit, and whom it counts."""

from __future__ import annotations

from aiohttp.test_utils import make_mocked_request

from storefront_api.access_log import redacted_path
from storefront_api.ratelimit import TokenBucket, client_key
from storefront_api.settings import Settings


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refills_steadily():
    clock = Clock()
    bucket = TokenBucket(3, 60.0, clock=clock)
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == 20.0  # one token every 20 s
    assert bucket.take("b") == 0.0  # other clients have their own bucket
    clock.now += 19
    assert 0 < bucket.take("a") <= 1.0
    clock.now += 1
    assert bucket.take("a") == 0.0
    clock.now += 3600  # a long pause refills to the burst size, not beyond
    assert [bucket.take("a") for _ in range(4)][-1] > 0


def test_bucket_memory_is_bounded():
    clock = Clock()
    bucket = TokenBucket(2, 60.0, clock=clock, max_keys=100)
    for n in range(1000):
        bucket.take(f"client-{n}")
    assert len(bucket._buckets) <= 100


def _settings(**overrides) -> Settings:
    return Settings(database_url="sqlite+aiosqlite://", var_dir=None, secret_key="k",
                    **overrides)


def test_whom_the_limit_counts():
    request = make_mocked_request("GET", "/api/orders/AB-1", headers={
        "X-Forwarded-For": "198.51.100.9, 203.0.113.5", "X-Conversation-Id": "conv-1"})
    direct = client_key(request, _settings())
    assert direct.startswith("address:") and "203.0.113.5" not in direct  # proxy not trusted
    assert client_key(request, _settings(trust_proxy=True)) == "address:203.0.113.5"
    trusted = _settings(trust_proxy=True, trusted_clients=("203.0.113.0/24",))
    assert client_key(request, trusted) == "conversation:conv-1"


def test_access_log_hides_emails_and_tokens():
    request = make_mocked_request("GET", "/api/orders/AB-1?email=a%40b.com&token=xyz&page=2")
    assert redacted_path(request) == "/api/orders/AB-1?email=***&token=***&page=2"
