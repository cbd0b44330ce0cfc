"""Loading events: the schema, Aisle's own events table (SQLite and PostgreSQL, migrated by
the shop's migrations), files, and Rasa's SQL tracker store."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime

import polars as pl
import pytest
from sqlalchemy import select

from analytics.loaders import load_conversations, load_events, sync_url
from analytics.schema import EVENT_SCHEMA, InputError, conform
from analytics.consent import advertising_consents, advertising_hashes, synthetic_decisions
from analytics.synthesize import append_to_database
from analytics.synthetic import generate
from storefront_api.consent.models import ConsentDecision
from storefront_api.consent.service import CONFIRMED
from storefront_api.db import Database
from storefront_api.events.service import EventContext, record_event


def test_conform_adds_missing_columns_and_derives_user_category_email():
    raw = pl.LazyFrame({"ts": ["2026-09-01T10:00:00+02:00"], "name": ["add_to_cart"],
                        "session_id": ["s1"],
                        "properties": [json.dumps({"item_category": "Bags",
                                                   "email": "a@example.com"})]})
    row = conform(raw).collect().row(0, named=True)
    assert list(conform(raw).collect_schema().items()) == list(EVENT_SCHEMA.items())
    assert row["ts"] == datetime(2026, 9, 1, 8, 0)  # converted to UTC
    assert (row["user_id"], row["category"], row["email"]) == ("s1", "Bags", "a@example.com")
    assert (row["channel"], row["consent"]) == ("site", False)


def test_conform_refuses_data_without_time_or_name():
    with pytest.raises(InputError, match="ts"):
        conform(pl.LazyFrame({"name": ["x"]}))


def test_async_urls_map_to_sync_drivers():
    assert sync_url("sqlite+aiosqlite:///var/shop.db") == "sqlite:///var/shop.db"
    assert sync_url("postgresql+asyncpg://u@h/db").startswith("postgresql+psycopg://")


async def _record_one(url: str) -> None:
    db = Database(url)
    try:
        async with db.write() as session:
            ctx = EventContext(session_id="web-1", customer_id="42", consent=True)
            await record_event(session, "add_to_cart", ctx, cart_id="9", item_id="SKU-1",
                               value=4999, currency="EUR",
                               properties={"item_category": "Shoes", "quantity": 1})
    finally:
        await db.dispose()


def test_loads_the_shops_events_table(empty_url):
    """Both backends, tables made by the shop's own migrations: one event recorded by the
    shop, then synthetic history, read back in the event schema."""
    asyncio.run(_record_one(empty_url))
    summary = append_to_database(empty_url, 3_000, seed=3, start=datetime(2026, 9, 1), days=30)
    assert summary["inserted"] == 3_000
    again = append_to_database(empty_url, 3_000, seed=3, start=datetime(2026, 9, 1), days=30)
    assert again["inserted"] == 0  # idempotent: the demo set-up may run it every time
    events = load_events(empty_url).collect()
    assert events.height == 3_001
    shop_event = events.filter(pl.col("name") == "add_to_cart", pl.col("item_id") == "SKU-1")
    row = shop_event.row(0, named=True)
    assert (row["user_id"], row["category"], row["value"]) == ("42", "Shoes", 4999)
    expected = generate(3_000, seed=3, start=datetime(2026, 9, 1), days=30)
    synthetic = events.filter(pl.col("event_id").str.starts_with("syn")).sort("event_id")
    assert synthetic.select("event_id", "ts", "name", "value").equals(
        expected.sort("event_id").select("event_id", "ts", "name", "value"))
    # and the synthetic shoppers' advertising decisions, for the demo's audience export
    decided = advertising_hashes(synthetic_decisions(expected))
    assert decided and advertising_consents(empty_url) == decided
    # written as the shop writes an address's grant: confirmed by the address's owner
    assert asyncio.run(_sources_of_grants(empty_url)) == {CONFIRMED}


async def _sources_of_grants(url: str) -> set[str]:
    db = Database(url)
    try:
        async with db.read() as session:
            return set((await session.scalars(select(ConsentDecision.source).where(
                ConsentDecision.granted.is_(True)))).all())
    finally:
        await db.dispose()


def test_date_range_is_applied_in_the_database(empty_url):
    append_to_database(empty_url, 2_000, seed=1, start=datetime(2026, 9, 1), days=20)
    week = load_events(empty_url, start=datetime(2026, 9, 5), end=datetime(2026, 9, 12))
    ts = week.select("ts").collect()["ts"]
    assert ts.len() > 0 and ts.min() >= datetime(2026, 9, 5) and ts.max() < datetime(2026, 9, 12)


def test_missing_sources_say_what_to_do(tmp_path):
    with pytest.raises(InputError, match="no SQLite database"):
        load_events(f"sqlite:///{tmp_path / 'nope.db'}")
    with pytest.raises(InputError, match="no file"):
        load_events(str(tmp_path / "nope.parquet"))


def test_parquet_and_csv_files_load_the_same(tmp_path):
    events = generate(2_000, seed=5)
    events.write_parquet(tmp_path / "e.parquet")
    events.write_csv(tmp_path / "e.csv")
    a = load_events(str(tmp_path / "e.parquet")).collect()
    b = load_events(str(tmp_path / "e.csv")).collect()
    assert a.equals(events) and b.equals(events)


def test_rasa_tracker_store_events(tmp_path):
    path = tmp_path / "tracker.db"
    with sqlite3.connect(path) as db:  # the table Rasa's SQLTrackerStore creates
        db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), "
                   "type_name VARCHAR(255), timestamp FLOAT, intent_name VARCHAR(255), "
                   "action_name VARCHAR(255), data TEXT)")
        rows = [("c1", "user", 1788000000.5, "search_product", None,
                 {"text": "red shoes", "input_channel": "socketio",
                  "parse_data": {"intent": {"name": "search_product", "confidence": 0.93}}}),
                ("c1", "action", 1788000001.0, None, "action_search", {"policy": "RulePolicy"}),
                ("c1", "slot", 1788000001.2, None, None, {"name": "cart_id", "value": "17"}),
                ("c1", "pause", 1788000009.0, None, None, {})]
        db.executemany("INSERT INTO events (sender_id, type_name, timestamp, intent_name, "
                       "action_name, data) VALUES (?, ?, ?, ?, ?, ?)",
                       [(*r[:5], json.dumps({"event": r[1], **r[5]})) for r in rows])
    turns = load_conversations(f"sqlite:///{path}")
    assert turns["type"].to_list() == ["user", "action", "slot", "pause"]
    user = turns.row(0, named=True)
    assert (user["intent"], user["confidence"], user["text"], user["input_channel"]) == \
        ("search_product", 0.93, "red shoes", "socketio")
    assert user["ts"] == datetime(2026, 8, 29, 10, 40, 0, 500000)
    assert turns.row(2, named=True)["slot_value"] == "17"
