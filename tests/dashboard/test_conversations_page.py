"""Conversations page: chat outcomes from the shop's events and Rasa's tracker store."""

from __future__ import annotations

import polars as pl
from dashboard_fixtures import in_period, metrics, write_tracker_store

from analytics.chat import chat_metrics
from analytics.loaders import load_conversations
from dashboard import display


def _assert_outcomes(app, expected):
    shown = metrics(app)
    assert shown["Conversations"][0] == display.count(expected["conversations"])
    assert shown["Containment"][0] == display.percent(expected["containment_rate"])
    assert shown["Handoff rate"] == (display.percent(expected["handoff_rate"]),
                                     f"{expected['handoffs']:,} handoffs")
    revenue = next(r for r in expected["attributed_revenue"] if r["currency"] == "EUR")
    assert shown["Attributed revenue (EUR)"] == (display.money(revenue["net"], "EUR"),
                                                 f"{revenue['orders']:,} orders")
    return shown


def test_chat_outcomes_without_a_tracker_store(app, shop_events):
    app.switch_page("views/conversations.py").run()
    assert not app.exception
    period = in_period(shop_events, app.session_state["filters"]).lazy()
    expected = chat_metrics(period)
    assert expected["conversations"] > 0
    shown = _assert_outcomes(app, expected)
    assert shown["Fallback rate"][0] == "–"  # only Rasa's tracker knows about fallbacks
    # handoff reasons and the chat vs no chat funnel are charts; intents need the tracker
    assert len(app.get("vega_lite_chart")) == 2
    assert any("tracker store" in info.value for info in app.info)


def test_tracker_store_adds_fallbacks_intents_and_agent_replies(app, shop_events, tmp_path,
                                                                monkeypatch):
    filters = app.session_state["filters"]
    tracker = tmp_path / "rasa_tracker.db"
    write_tracker_store(tracker, filters.start)
    url = f"sqlite:///{tracker}"
    monkeypatch.setenv("TRACKER_STORE_URL", url)
    app.switch_page("views/conversations.py").run()
    assert not app.exception
    conversations = load_conversations(url)
    expected = chat_metrics(in_period(shop_events, filters).lazy(), conversations)
    assert expected["fallback"]["fallback_rate"] == round(2 / 6, 4)  # 2 of 6 user messages
    shown = _assert_outcomes(app, expected)
    assert shown["Fallback rate"][0] == display.percent(expected["fallback"]["fallback_rate"])
    reply = expected["first_agent_reply"]
    assert reply["median_seconds"] == 120
    assert shown["Time to first agent reply (median)"][0] == display.duration(120)
    assert len(app.get("vega_lite_chart")) == 3  # reasons, intents, chat vs no chat
    # the Overview counts the tracker's conversations too
    app.switch_page("views/overview.py").run()
    assert metrics(app)["Conversations"][0] == display.count(expected["conversations"])


def test_tracker_rows_outside_the_period_are_left_out(app, shop_events, tmp_path,
                                                      monkeypatch):
    filters = app.session_state["filters"]
    tracker = tmp_path / "rasa_tracker.db"
    write_tracker_store(tracker, filters.end)  # the day after the period
    monkeypatch.setenv("TRACKER_STORE_URL", f"sqlite:///{tracker}")
    app.switch_page("views/conversations.py").run()
    assert not app.exception
    expected = chat_metrics(in_period(shop_events, filters).lazy(),
                            load_conversations(f"sqlite:///{tracker}").filter(
                                pl.col("ts") < filters.end))
    _assert_outcomes(app, expected)
    assert metrics(app)["Fallback rate"][0] == "–"  # no user message in the period


def test_the_consumers_copy_in_the_analytics_store_gives_the_same_outcomes(
        app, shop_events, tmp_path, monkeypatch):
    """Production: the dashboard reads the conversations the consumer of Rasa's events wrote
    into the analytics store (CONVERSATIONS_URL), not Rasa's database."""
    import json
    import sqlite3
    from datetime import datetime

    from analytics.rasa_events import Store, row_of
    from storefront_api.migrations import upgrade

    filters = app.session_state["filters"]
    tracker = tmp_path / "rasa_tracker.db"
    write_tracker_store(tracker, filters.start)
    store_url = f"sqlite+aiosqlite:///{tmp_path / 'analytics.db'}"
    upgrade(store_url)
    with sqlite3.connect(tracker) as conn:  # each event as Rasa's replicas publish it
        messages = [json.dumps({"sender_id": sender, **json.loads(data), "timestamp": ts,
                                "aisle_event_id": event_id}).encode()
                    for event_id, sender, ts, data in conn.execute(
                        "SELECT id, sender_id, timestamp, data FROM events")]
    store = Store(store_url)
    store.write([row_of(message, datetime(2026, 1, 1)) for message in messages])
    store.close()
    monkeypatch.setenv("TRACKER_STORE_URL", "sqlite:///nowhere/rasa.db")  # not read
    monkeypatch.setenv("CONVERSATIONS_URL", store_url)
    app.switch_page("views/conversations.py").run()
    assert not app.exception
    expected = chat_metrics(in_period(shop_events, filters).lazy(),
                            load_conversations(f"sqlite:///{tracker}"))
    shown = _assert_outcomes(app, expected)
    assert shown["Fallback rate"][0] == display.percent(round(2 / 6, 4))
    assert shown["Time to first agent reply (median)"][0] == display.duration(120)
