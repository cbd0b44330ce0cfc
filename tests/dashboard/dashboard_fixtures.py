"""Test data for the dashboard: synthetic shop traffic, a Rasa tracker store, and the
obviously-correct KPI arithmetic the Overview is checked against."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl

from analytics.abandonment import abandoned_carts
from analytics.synthetic import generate

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboard" / "app.py"
START = datetime(2026, 9, 1)
DAYS = 60
N_EVENTS = 60_000
SEED = 11


def synthetic_events(n_events: int = N_EVENTS) -> pl.DataFrame:
    return generate(n_events, seed=SEED, start=START, days=DAYS)


def write_tracker_store(path: Path, day: datetime) -> list[str]:
    """A Rasa SQL tracker store (its ``events`` table, as Rasa 3.6 creates it) with three
    conversations on ``day``: one smooth, one with fallbacks, one handed to an agent who
    replies two minutes later. Returns the conversation ids."""
    rows: list[tuple] = []

    def add(sender, seconds, type_name, intent=None, action=None, **data):
        moment = (day + timedelta(seconds=seconds)).replace(tzinfo=timezone.utc)
        rows.append((sender, moment.timestamp(), type_name,
                     intent, action, json.dumps({"event": type_name, **data})))

    def user(sender, seconds, intent, text, confidence=0.9):
        add(sender, seconds, "user", intent=intent, text=text, input_channel="socketio",
            parse_data={"intent": {"name": intent, "confidence": confidence}})

    add("t-smooth", 0, "action", action="action_session_start", name="action_session_start")
    user("t-smooth", 1, "search_products", "red sneakers")
    add("t-smooth", 2, "action", action="action_search_products", name="action_search_products")
    add("t-smooth", 3, "bot", text="Here are red sneakers")
    user("t-smooth", 30, "add_to_cart", "add the first one")
    add("t-smooth", 31, "action", action="action_add_to_cart", name="action_add_to_cart")
    user("t-confused", 0, "nlu_fallback", "blorp", confidence=0.2)
    add("t-confused", 1, "action", action="action_default_fallback",
        name="action_default_fallback")
    user("t-confused", 10, "search_products", "jeans")
    user("t-confused", 20, "nlu_fallback", "zzz", confidence=0.1)
    user("t-agent", 0, "human_handoff", "I want a person")
    add("t-agent", 1, "action", action="action_handoff", name="action_handoff")
    add("t-agent", 2, "pause")
    add("t-agent", 122, "bot", text="Hi, Sam from the shop here")
    add("t-agent", 300, "resume")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, sender_id "
                     "VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL, timestamp FLOAT,"
                     " intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)")
        conn.executemany("INSERT INTO events (sender_id, timestamp, type_name, intent_name, "
                         "action_name, data) VALUES (?, ?, ?, ?, ?, ?)", rows)
    return ["t-smooth", "t-confused", "t-agent"]


def in_period(events: pl.DataFrame, filters) -> pl.DataFrame:
    period = events.filter(pl.col("ts") >= filters.start, pl.col("ts") < filters.end)
    if filters.channels:
        period = period.filter(pl.col("channel").is_in(list(filters.channels)))
    return period


def expected_kpis(events: pl.DataFrame, filters) -> dict:
    """The Overview's numbers, worked out the plain way (one currency, EUR, in this data)."""
    period = in_period(events, filters)
    purchases = period.filter(pl.col("name") == "purchase").unique("order_number")
    sessions = period["session_id"].drop_nulls().n_unique()
    orders = purchases.height
    revenue = int(purchases["value"].sum())
    carts = period.filter(pl.col("name") == "add_to_cart")["cart_id"].drop_nulls().n_unique()
    now = min(filters.end, events["ts"].max())
    abandoned = abandoned_carts(period.lazy(), now=now).height
    return {
        "sessions": sessions,
        "conversations": period["conversation_id"].drop_nulls().n_unique(),
        "orders": orders, "revenue": revenue,
        "conversion_rate": purchases["session_id"].n_unique() / sessions,
        "average_order_value": revenue / orders,
        "cart_abandonment_rate": abandoned / carts,
        "abandoned_carts": abandoned,
    }


def metrics(at) -> dict[str, object]:
    """Shown metrics by label: (value, delta)."""
    return {m.label: (m.value, m.delta) for m in at.metric}


def number(text: str) -> float:
    """A shown number as a float: '€1,234.50' -> 1234.5, '12.3%' -> 12.3."""
    cleaned = "".join(c for c in text if c.isdigit() or c in ".-")
    return float(cleaned)
