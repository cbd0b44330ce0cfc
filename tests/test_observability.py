"""What an operator sees of storefront_api (storefront_api/observability.py): Prometheus
metrics by route, liveness against readiness, who may read /metrics, and a database that
restarts under load (a PostgreSQL server of the test's own): requests fail cleanly with 503
and Retry-After, then the same process serves again without a restart."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import pytest
from private_postgres import PrivatePostgres
from test_production_mode import production_environment, settings_from

from storefront_api.app import create_app
from storefront_api.logs import JsonFormatter
from storefront_api.migrations import upgrade
from storefront_api.settings import Settings

from assistant_calls import SERVICE_TOKEN


def sample(metrics: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the Prometheus text, or None."""
    for line in metrics.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_requests_are_counted_by_route_never_by_their_path(client):
    created = await client.post("/api/carts")
    token = (await created.json())["token"]
    before = sample(await (await client.get("/metrics")).text(), "aisle_http_requests_total",
                    route="/api/carts/{token}", method="GET", status="200") or 0
    for _ in range(3):
        assert (await client.get(f"/api/carts/{token}")).status == 200
    assert (await client.get("/api/carts/" + "x" * 40)).status == 404
    response = await client.get("/metrics")
    assert response.status == 200 and response.content_type == "text/plain"
    metrics = await response.text()
    assert sample(metrics, "aisle_http_requests_total", route="/api/carts/{token}",
                  method="GET", status="200") == before + 3
    assert sample(metrics, "aisle_http_requests_total", route="/api/carts/{token}",
                  method="GET", status="404") >= 1
    assert sample(metrics, "aisle_http_request_seconds_count", route="/api/carts/{token}",
                  method="GET") >= 4
    assert token not in metrics  # a cart's token is its credential
    for gauge in ("aisle_outbox_oldest_pending_seconds", "aisle_stock_held_units",
                  "aisle_stock_holds"):
        assert sample(metrics, gauge) is not None, gauge
    assert sample(metrics, "aisle_outbox_messages", status="pending") is not None


async def test_liveness_and_readiness(client):
    assert (await client.get("/livez")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["database"] == "ok"


async def test_attack_metrics_need_the_metrics_token(aiohttp_client, settings):
    from dataclasses import replace
    token = "m" * 8 + "e7Q2xk9LpZ4rT1vB8nC3sD6fG0hJ5aW"
    client = await aiohttp_client(create_app(replace(settings, metrics_token=token),
                                             migrate=False))
    for headers in ({}, {"Authorization": "Bearer wrong"},
                    {"Authorization": f"Bearer {SERVICE_TOKEN}"}):
        response = await client.get("/metrics", headers=headers)
        assert response.status == 401, headers
        assert "aisle_http_requests_total" not in await response.text()
    allowed = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert allowed.status == 200 and "aisle_http_requests_total" in await allowed.text()


async def test_attack_production_without_a_metrics_token_serves_no_metrics(
        aiohttp_client, tmp_path, monkeypatch):
    settings = settings_from(production_environment(), tmp_path, monkeypatch)
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/metrics")).status == 404
    assert (await client.get("/livez")).status == 200


def test_a_weak_metrics_token_is_refused_in_production(tmp_path, monkeypatch):
    from storefront_api.production import problems
    found = problems(settings_from(production_environment(METRICS_TOKEN="metrics"),
                                   tmp_path, monkeypatch))
    assert len(found) == 1 and "METRICS_TOKEN" in found[0]


async def test_json_logs_carry_the_conversation_of_the_assistants_call(client, caplog):
    formatter = JsonFormatter("storefront_api")
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        await client.get("/api/products?q=hoodie", headers={
            "Authorization": f"Bearer {SERVICE_TOKEN}", "X-Conversation-Id": "conv-logged-1"})
        await client.get("/api/products?q=hoodie", headers={"X-Conversation-Id": "forged"})
    lines = [json.loads(formatter.format(record)) for record in caplog.records
             if record.name == "aiohttp.access"]
    assert lines and all({"ts", "level", "logger", "service", "message"} <= set(line)
                         for line in lines)
    assert [line.get("conversation_id") for line in lines][-2:] == ["conv-logged-1", None]


# --- PostgreSQL restarting under load -----------------------------------------------------

@pytest.fixture(scope="module")
def private_shop():
    """A shop on a PostgreSQL server of this module's own (it gets stopped)."""
    from databases import seed_demo_shop as _seed
    with PrivatePostgres() as server:
        url = server.database("shop")
        upgrade(url)
        asyncio.run(_seed(url))
        yield server, url


async def test_a_database_restart_fails_cleanly_and_recovers_without_a_restart(
        aiohttp_client, private_shop, tmp_path):
    server, url = private_shop
    settings = Settings.from_env(database_url=url, var_dir=tmp_path, admin_token="t",
                                 rasa_url="http://127.0.0.1:9", max_held_units=1000,
                                 outbox_poll_seconds=0, rate_limits_enabled=False)
    client = await aiohttp_client(create_app(settings, migrate=False))
    cart = (await (await client.post("/api/carts")).json())["token"]
    seen: list[tuple[int, str | None, str]] = []
    stop = asyncio.Event()

    async def shopper() -> None:  # load: cart reads and new carts, back to back
        while not stop.is_set():
            for method, path in (("GET", f"/api/carts/{cart}"), ("POST", "/api/carts")):
                response = await client.request(method, path)
                body = await response.text()
                seen.append((response.status, response.headers.get("Retry-After"), body))
            await asyncio.sleep(0.01)

    workers = [asyncio.create_task(shopper()) for _ in range(4)]
    await asyncio.sleep(0.5)
    await asyncio.to_thread(server.stop, "fast")  # sessions are cut, as in a restart
    await asyncio.sleep(2)
    during = await client.get(f"/api/carts/{cart}")
    assert during.status == 503 and during.headers["Retry-After"] == "5"
    problem = await during.json()
    assert problem["type"].endswith("/database-unavailable") and "try again" in problem["detail"]
    assert (await client.get("/readyz")).status == 503
    assert (await client.get("/livez")).status == 200
    await asyncio.to_thread(server.start)
    await asyncio.sleep(1)
    stop.set()
    await asyncio.gather(*workers)
    statuses = {status for status, _, _ in seen}
    assert 503 in statuses and statuses <= {200, 201, 503}, statuses  # never a 500
    assert all(retry == "5" for status, retry, _ in seen if status == 503)
    # the same process serves again: reads, writes and readiness
    assert (await client.get(f"/api/carts/{cart}")).status == 200
    assert (await client.post("/api/carts")).status == 201
    assert (await client.get("/readyz")).status == 200
