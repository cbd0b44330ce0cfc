"""Chat outcomes on small logs worked out by hand."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from segments_frames import at, events

from analytics.chat import chat_metrics


def _log():
    return events(
        dict(ts=at(), name="chat_started", conversation_id="c1", customer_id="u1"),
        dict(ts=at(), name="chat_started", conversation_id="c2", customer_id="u2"),
        dict(ts=at(minutes=1), name="handoff_requested", conversation_id="c2",
             customer_id="u2", properties={"reason": "complaint"}),
        dict(ts=at(minutes=3), name="agent_replied", conversation_id="c2"),
        dict(ts=at(minutes=2), name="handoff_requested", conversation_id="c3",
             customer_id="u3"),
        dict(ts=at(minutes=7), name="agent_replied", conversation_id="c3"),
        # u1 buys 3 days after chatting (attributed), part refunded; again 20 days later (not)
        dict(ts=at(days=3), name="purchase", customer_id="u1", order_number="O1", value=5000,
             currency="EUR"),
        dict(ts=at(days=4), name="refund", customer_id="u1", order_number="O1", value=1000,
             currency="EUR"),
        dict(ts=at(days=20), name="purchase", customer_id="u1", order_number="O2", value=7000,
             currency="EUR"),
        # bought inside conversation c2: attributed whatever the time
        dict(ts=at(days=1), name="purchase", customer_id="u2", conversation_id="c2",
             order_number="O3", value=2000, currency="EUR"),
        # never chatted
        dict(ts=at(days=1), name="purchase", customer_id="u9", order_number="O4", value=9999,
             currency="EUR"),
    )


def test_containment_handoffs_and_agent_reply_time():
    metrics = chat_metrics(_log())
    assert (metrics["conversations"], metrics["handoffs"], metrics["contained"]) == (3, 2, 1)
    assert metrics["containment_rate"] == round(1 / 3, 4)
    assert metrics["handoff_rate"] == round(2 / 3, 4)
    assert metrics["handoff_reasons"] == [{"reason": "complaint", "handoffs": 1},
                                          {"reason": "unspecified", "handoffs": 1}]
    reply = metrics["first_agent_reply"]
    assert reply["replied_handoffs"] == 2
    assert reply["median_seconds"] == (120 + 300) / 2 and reply["p90_seconds"] == 300
    assert metrics["fallback"] is None and metrics["top_intents"] == []


def test_attributed_revenue_excludes_refunds_and_late_orders():
    [eur] = chat_metrics(_log())["attributed_revenue"]
    assert eur == {"currency": "EUR", "orders": 2, "gross": 5000 + 2000, "refunded": 1000,
                   "net": 6000}
    [wide] = chat_metrics(_log(), attribution_window=timedelta(days=30))["attributed_revenue"]
    assert (wide["orders"], wide["gross"]) == (3, 14000)  # O2 is now within the window


def test_fallbacks_intents_and_paused_replies_from_rasa():
    rows = [  # (conversation, minutes, type, intent, action)
        ("c1", 0, "user", "greet", None), ("c1", 0.1, "action", None, "utter_greet"),
        ("c1", 1, "user", "nlu_fallback", None),
        ("c1", 1.1, "action", None, "action_default_fallback"),
        ("c1", 2, "user", "buy", None), ("c1", 2.1, "action", None, "action_default_fallback"),
        ("c1", 3, "user", "buy", None), ("c1", 3.1, "action", None, "action_search"),
        ("c4", 0, "user", "human", None), ("c4", 0.5, "pause", None, None),
        ("c4", 2.5, "bot", None, None), ("c4", 4, "resume", None, None),
    ]
    conversations = pl.DataFrame(
        [(c, at(minutes=m), t, i, a) for c, m, t, i, a in rows],
        schema={"conversation_id": pl.Utf8, "ts": pl.Datetime("us"), "type": pl.Utf8,
                "intent": pl.Utf8, "action": pl.Utf8}, orient="row")
    log = events(dict(ts=at(), name="chat_started", conversation_id="c1"))
    metrics = chat_metrics(log, conversations)
    # user messages: 5; fallbacks: the nlu_fallback one and the "buy" answered by fallback
    assert metrics["fallback"] == {"user_messages": 5, "fallback_messages": 2,
                                   "fallback_rate": 0.4, "conversations_with_fallback": 1}
    assert metrics["top_intents"][0] == {"intent": "buy", "messages": 2}
    assert (metrics["conversations"], metrics["handoffs"]) == (2, 1)  # c4 paused
    assert metrics["first_agent_reply"]["median_seconds"] == 120.0  # bot message while paused
