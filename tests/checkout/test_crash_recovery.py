"""The server is killed while it turns a payment into an order: nothing is lost, and the
redelivered webhook completes the order exactly once. A real server process, killed by
AISLE_CRASH_AT (os._exit, as a power cut), on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from shop_factories import ADDRESS
from databases import create_postgres_database, drop_postgres_database
from sqlalchemy import func, select

from storefront_api.catalog.demo_catalog import seed_catalog
from storefront_api.catalog.models import Variant
from storefront_api.db import Database
from storefront_api.migrations import upgrade
from storefront_api.orders.models import Order
from storefront_api.payments.signature import sign_payload
from storefront_api.pricing.demo_pricing import seed_pricing

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_crash_" + secrets.token_hex(8)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(url: str, var_dir: Path, port: int, crash: bool) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "AISLE_VAR_DIR": str(var_dir), "PORT": str(port),
           "PAYMENT_GATEWAY": "test", "STRIPE_WEBHOOK_SECRET": SECRET,
           "STOREFRONT_URL": f"http://127.0.0.1:{port}"}
    env.pop("AISLE_CRASH_AT", None)
    if crash:
        env["AISLE_CRASH_AT"] = "order-created"
    proc = subprocess.Popen([sys.executable, "-m", "storefront_api", "serve", "--quiet"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()[-2000:])
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


async def _shop(url: str) -> int:
    db = Database(url)
    try:
        await seed_pricing(db)
        await seed_catalog(db, 80, seed=3)
        async with db.read() as session:
            return await session.scalar(select(Variant.id).where(Variant.stock > 3)
                                        .order_by(Variant.id))
    finally:
        await db.dispose()


async def _checkout(base: str, variant_id: int) -> dict:
    async with aiohttp.ClientSession() as http:
        cart = await (await http.post(f"{base}/api/carts", json={})).json()
        await http.post(f"{base}/api/carts/{cart['token']}/items",
                        json={"variant_id": variant_id, "quantity": 2})
        response = await http.post(f"{base}/api/carts/{cart['token']}/checkout", json={
            "email": "crash@example.com", "shipping_address": ADDRESS,
            "shipping_method": "standard"})
        assert response.status == 201, await response.text()
        return await response.json()


def _event(checkout: dict) -> bytes:
    total = checkout["totals"]["total"]
    return json.dumps({
        "id": "evt_test_" + secrets.token_hex(10), "object": "event",
        "type": "checkout.session.completed", "created": int(time.time()), "livemode": False,
        "data": {"object": {
            "id": checkout["payment_url"].rsplit("/", 1)[1], "object": "checkout.session",
            "payment_status": "paid", "status": "complete", "payment_intent": "pi_test_crash",
            "amount_total": total["amount"], "currency": total["currency"].lower(),
            "customer_details": {"email": checkout["email"]}, "metadata": {}}},
    }).encode()


async def _deliver(base: str, payload: bytes) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/payments/webhook", data=payload, headers={
                "Stripe-Signature": sign_payload(payload, SECRET),
                "Content-Type": "application/json"}) as response:
            return response.status, await response.json()


async def _state(url: str, variant_id: int) -> tuple[int, int]:
    db = Database(url)
    try:
        async with db.read() as session:
            orders = await session.scalar(select(func.count()).select_from(Order))
            stock = await session.scalar(select(Variant.stock).where(Variant.id == variant_id))
        return orders, stock
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_killed_while_creating_the_order_loses_nothing(backend, tmp_path):
    url = (f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}" if backend == "sqlite"
           else create_postgres_database())
    try:
        upgrade(url)
        variant_id = asyncio.run(_shop(url))
        _orders, stock_before = asyncio.run(_state(url, variant_id))
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = _start(url, tmp_path, port, crash=True)
        try:
            checkout = asyncio.run(_checkout(base, variant_id))
            payload = _event(checkout)
            with pytest.raises(aiohttp.ClientError):  # the server dies mid-transaction
                asyncio.run(_deliver(base, payload))
            assert server.wait(timeout=15) == 70
        finally:
            if server.poll() is None:
                server.kill()
        assert asyncio.run(_state(url, variant_id)) == (0, stock_before)  # nothing half-done

        server = _start(url, tmp_path, port, crash=False)
        try:
            status, body = asyncio.run(_deliver(base, payload))  # the gateway redelivers
            assert status == 200 and body["order_number"]
            status, again = asyncio.run(_deliver(base, payload))  # and once more
            assert status == 200 and again.get("duplicate") is True
        finally:
            server.terminate()
            server.wait(timeout=15)
        assert asyncio.run(_state(url, variant_id)) == (1, stock_before - 2)
    finally:
        if backend == "postgresql":
            drop_postgres_database(url)
