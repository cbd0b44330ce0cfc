"""`python -m storefront_api remind-carts` and the periodic job inside `serve`."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from recovery_factories import abandoned_cart, outbox_for, reminders_of, table_counts
from shop_factories import make_variant

from storefront_api.app import create_app

ROOT = Path(__file__).resolve().parents[2]


def _run(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": settings.database_url,
           "AISLE_VAR_DIR": str(settings.var_dir), "OUTBOX_POLL_SECONDS": "0"}
    return subprocess.run([sys.executable, "-m", "storefront_api", "remind-carts", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


async def test_command_dry_run_then_real_run(db, settings):
    variant = await make_variant(db, stock=5, price=1000)
    cart = await abandoned_cart(db, variant, checkout_consent=True)
    before = await table_counts(db)
    dry = _run(settings, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    listed = json.loads(dry.stdout)
    assert listed["dry_run"] is True
    assert cart["id"] in [c["cart_id"] for c in listed["carts"]]
    assert await table_counts(db) == before
    real = _run(settings)
    assert real.returncode == 0, real.stderr
    assert cart["id"] in [c["cart_id"] for c in json.loads(real.stdout)["carts"]]
    assert [r.kind for r in await reminders_of(db, cart["id"])] == ["email"]


async def test_serve_with_an_interval_starts_and_stops_the_job(aiohttp_client, settings):
    settings = dataclasses.replace(settings, recovery_interval_minutes=60)
    client = await aiohttp_client(create_app(settings, migrate=False))
    assert (await client.get("/healthz")).status == 200
    started = time.monotonic()
    await client.close()  # the job task is waiting for its next run: it must stop at once
    assert time.monotonic() - started < 5  # not the 60 minutes of the interval


async def test_the_job_inside_serve_sends_the_reminder_once(aiohttp_client, db, settings):
    """The periodic job of `serve` reminds the abandoned cart by itself, and its next runs
    (the cool-down) send nothing more. (A 60 ms interval: the setting is whole minutes, the
    job multiplies it.)"""
    variant = await make_variant(db, stock=5, price=1000)
    cart = await abandoned_cart(db, variant, checkout_consent=True)
    settings = dataclasses.replace(settings, recovery_interval_minutes=0.001)
    client = await aiohttp_client(create_app(settings, migrate=False))
    deadline = time.monotonic() + 20
    while not await reminders_of(db, cart["id"]) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # several more runs of the job
    await client.close()
    [reminder] = await reminders_of(db, cart["id"])
    assert (reminder.kind, reminder.email, reminder.number) == ("email", cart["email"], 1)
    [email] = await outbox_for(db, to=cart["email"])
    assert email.payload["tag"] == "cart-reminder"
    assert f"/api/carts/{cart['token']}" in email.payload["text"]
