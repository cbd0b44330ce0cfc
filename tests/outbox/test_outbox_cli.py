"""`python -m storefront_api outbox`, run as an operator runs it (a subprocess) on a SQLite
shop: failed messages listed without their recipients or text, then requeued."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from storefront_api.db import Database
from storefront_api.migrations import upgrade
from storefront_api.outbox.models import OutboxMessage

ROOT = Path(__file__).resolve().parents[2]
FIRST = datetime(2026, 3, 1, 9, 30, 0)


@pytest.fixture
def shop(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    upgrade(url)
    asyncio.run(_add_messages(url))
    return url


async def _add_messages(url: str) -> None:
    db = Database(url)
    try:
        async with db.write() as session:
            session.add_all([
                OutboxMessage(kind="email", status="failed", attempts=82,
                              payload={"to": "ada@example.com", "subject": "Your order AB-1",
                                       "text": "Dear Ada, secret body", "tag": "order-shipped"},
                              last_error="recipient <ada@example.com> refused (550)",
                              first_attempt_at=FIRST,
                              last_attempt_at=FIRST + timedelta(hours=72, minutes=5)),
                OutboxMessage(kind="conversation", status="failed", attempts=3,
                              payload={"conversation_id": "conv-private", "intent":
                                       "EXTERNAL_order_shipped", "entities": {}},
                              last_error="Rasa answered 404: unknown conversation",
                              first_attempt_at=FIRST, last_attempt_at=FIRST),
                OutboxMessage(kind="email", status="sent", attempts=1,
                              payload={"to": "bob@example.com", "subject": "s", "text": "t",
                                       "tag": "order-confirmation"}),
            ])
    finally:
        await db.dispose()


def outbox(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "storefront_api", "outbox", *args], cwd=ROOT,
                          env={**os.environ, "DATABASE_URL": url}, capture_output=True,
                          text=True, timeout=60)


def statuses(url: str) -> dict[int, tuple[str, int]]:
    async def read():
        db = Database(url)
        try:
            async with db.read() as session:
                rows = (await session.scalars(select(OutboxMessage))).all()
                return {m.id: (m.status, m.attempts, m.first_attempt_at) for m in rows}
        finally:
            await db.dispose()
    return asyncio.run(read())


def test_failed_messages_are_listed_without_personal_data(shop):
    listing = outbox(shop, "--failed")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split("\t") == ["id", "kind", "what", "attempts", "first attempt (UTC)",
                                    "last attempt (UTC)", "last error"]
    assert lines[1].split("\t") == ["1", "email", "order-shipped", "82", "2026-03-01 09:30:00",
                                    "2026-03-04 09:35:00",
                                    "recipient <<address>> refused (550)"]
    assert lines[2].split("\t")[:4] == ["2", "conversation", "EXTERNAL_order_shipped", "3"]
    assert lines[3].startswith("2 failed message(s)")
    for private in ("ada@example.com", "Dear Ada", "Your order", "conv-private", "bob@"):
        assert private not in listing.stdout


def test_retry_requeues_the_named_failed_messages(shop):
    done = outbox(shop, "--retry", "1")
    assert done.returncode == 0, done.stderr
    assert "requeued 1 message(s): 1" in done.stdout
    after = statuses(shop)
    assert after[1] == ("pending", 0, None)  # a new 72-hour run starts at its next attempt
    assert after[2][0] == "failed" and after[3][0] == "sent"
    assert "2\tconversation" in outbox(shop, "--failed").stdout


def test_retry_of_a_message_that_did_not_fail_changes_nothing(shop):
    done = outbox(shop, "--retry", "3", "99")
    assert done.returncode == 1
    assert "nothing to requeue" in done.stdout and "3, 99" in done.stderr
    assert statuses(shop)[3][0] == "sent"


def test_retry_all_requeues_every_failed_message(shop):
    done = outbox(shop, "--retry-all")
    assert done.returncode == 0 and "requeued 2 message(s): 1, 2" in done.stdout
    assert {k: v[0] for k, v in statuses(shop).items()} == {1: "pending", 2: "pending",
                                                          3: "sent"}
    assert outbox(shop, "--failed").stdout.strip() == "no failed messages"


def test_one_action_is_required(shop):
    refused = outbox(shop)
    assert refused.returncode == 2 and "--failed" in refused.stderr
