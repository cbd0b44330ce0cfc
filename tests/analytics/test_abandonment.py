"""Abandonment on small logs whose answers are worked out by hand in each test."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from segments_frames import at, events

from analytics.abandonment import abandoned_carts, abandonment_summary

HOUR = timedelta(hours=1)


def _cart(cart, user, start, *steps, channel="site", conversation=None):
    """Events of one cart: (name, minutes after start, value) tuples."""
    return [dict(ts=start + timedelta(minutes=m), name=name, cart_id=cart, customer_id=user,
                 value=value, currency="EUR", channel=channel, conversation_id=conversation)
            for name, m, value in steps]


def test_cart_and_checkout_abandonment_statuses_and_values():
    log = events(
        # A: add 2 items (30 + 20), remove the 20 one, leave: a 30.00 cart, never bought: lost
        *_cart("A", "u1", at(), ("add_to_cart", 0, 3000), ("add_to_cart", 1, 2000),
               ("remove_from_cart", 2, 2000)),
        # B: reaches the payment link (checkout value 45.00), pays 2 days later: recovered
        *_cart("B", "u2", at(), ("add_to_cart", 0, 4000), ("begin_checkout", 5, 4500),
               ("add_payment_info", 6, 4500), ("purchase", 2 * 24 * 60, 4500)),
        # C: pays 10 minutes after adding: never abandoned
        *_cart("C", "u3", at(), ("add_to_cart", 0, 1000), ("purchase", 10, 1000)),
        # D: left 30 minutes before "now": not idle long enough to count
        *_cart("D", "u4", at(days=20, minutes=-30), ("add_to_cart", 0, 999)),
        # E: left 2 days before now, window of 7 days still running: open
        *_cart("E", "u5", at(days=18), ("add_to_cart", 0, 500), ("view_cart", 1, 700)),
        # F: bought 9 days later: abandoned, but outside the window: lost
        *_cart("F", "u6", at(), ("add_to_cart", 0, 800), ("purchase", 9 * 24 * 60, 800)),
    )
    carts = abandoned_carts(log, idle=HOUR, recovery_window=timedelta(days=7),
                            now=at(days=20))
    rows = {r["cart_id"]: r for r in carts.to_dicts()}
    assert sorted(rows) == ["A", "B", "E", "F"]
    assert (rows["A"]["kind"], rows["A"]["value"], rows["A"]["status"]) == (
        "cart", 3000, "lost")
    assert rows["A"]["last_step"] == "add_to_cart" and rows["A"]["reason"] == "left_with_cart"
    assert rows["A"]["abandoned_at"] == at(minutes=2)
    assert (rows["B"]["kind"], rows["B"]["value"], rows["B"]["status"]) == (
        "checkout", 4500, "recovered")
    assert rows["B"]["recovered_at"] == at(minutes=2 * 24 * 60)
    assert rows["B"]["recovered_value"] == 4500 and rows["B"]["reason"] == "left_at_payment"
    assert rows["E"]["status"] == "open" and rows["E"]["value"] == 700  # the view_cart value
    assert rows["F"]["status"] == "lost" and rows["F"]["recovered_at"] is None

    summary = abandonment_summary(log, carts=carts)
    assert (summary["abandoned_carts"], summary["recovered"], summary["lost"],
            summary["open"]) == (4, 1, 2, 1)
    assert summary["recovery_rate"] == round(1 / 3, 4)  # open carts are not settled yet
    [eur] = summary["by_currency"]
    assert eur["value"] == 3000 + 4500 + 700 + 800
    assert eur["value_at_risk"] == 3000 + 700 + 800
    kinds = {r["kind"]: r for r in summary["by_kind"]}
    assert kinds["checkout"]["carts"] == 1 and kinds["cart"]["carts"] == 3


def test_idle_time_is_configurable():
    log = events(*_cart("A", "u1", at(), ("add_to_cart", 0, 1000)))
    now = at(hours=3)
    assert abandoned_carts(log, idle=timedelta(hours=2), now=now).height == 1
    assert abandoned_carts(log, idle=timedelta(hours=4), now=now).height == 0


def test_last_bot_turn_from_rasa_and_reason():
    log = events(*_cart("A", "u1", at(), ("add_to_cart", 0, 1000), channel="web",
                        conversation="conv1"))
    conversations = pl.DataFrame({
        "conversation_id": ["conv1", "conv1", "conv1", "conv1"],
        "ts": [at(minutes=-1), at(seconds=10), at(seconds=20), at(hours=2)],
        "type": ["action", "action", "action", "action"],
        "action": ["utter_greet", "action_default_fallback", "action_listen", "utter_bye"],
    }, schema_overrides={"ts": pl.Datetime("us")})
    [row] = abandoned_carts(log, now=at(days=1), conversations=conversations).to_dicts()
    # the bot's answer to the last message (10 s after it) counts, listening does not, and
    # a turn after the cart counted as abandoned (idle: 1 h) is too late
    assert row["last_bot_turn"] == "action_default_fallback"
    assert row["reason"] == "bot_did_not_understand"


def test_handoff_without_resolution_is_the_reason_without_rasa():
    log = events(*_cart("A", "u1", at(), ("add_to_cart", 0, 1000), channel="web",
                        conversation="c9"),
                 dict(ts=at(minutes=1), name="handoff_requested", conversation_id="c9",
                      channel="web", properties={"reason": "sizing_question"}))
    [row] = abandoned_carts(log, now=at(days=1)).to_dicts()
    assert (row["last_bot_turn"], row["reason"]) == ("handoff_requested", "waiting_for_agent")
    resolved = events(*_cart("A", "u1", at(), ("add_to_cart", 0, 1000), channel="web",
                             conversation="c9"),
                      dict(ts=at(minutes=1), name="handoff_requested", conversation_id="c9"),
                      dict(ts=at(minutes=9), name="handoff_resolved", conversation_id="c9"))
    [row] = abandoned_carts(resolved, now=at(days=1)).to_dicts()
    assert (row["last_bot_turn"], row["reason"]) == ("handoff_resolved", "left_with_cart")


def test_reminders_split_recovery():
    log = events(
        *_cart("A", "u1", at(), ("add_to_cart", 0, 1000), ("purchase", 24 * 60, 1000)),
        dict(ts=at(hours=2), name="cart_reminder_sent", cart_id="A"),
        *_cart("B", "u2", at(), ("add_to_cart", 0, 2000)),
        dict(ts=at(hours=2), name="cart_reminder_sent", cart_id="B"),
        *_cart("C", "u3", at(), ("add_to_cart", 0, 3000), ("purchase", 3 * 60, 3000)),
    )
    summary = abandonment_summary(log, now=at(days=30))
    assert summary["reminders"] == {
        "reminded_carts": 2, "recovered_after_reminder": 1, "reminded_recovery_rate": 0.5,
        "not_reminded_carts": 1, "not_reminded_recovery_rate": 1.0}


def test_no_events_gives_an_empty_table():
    empty = events(dict(ts=at(), name="page_view")).filter(pl.col("name") == "nothing")
    assert abandoned_carts(empty).height == 0
