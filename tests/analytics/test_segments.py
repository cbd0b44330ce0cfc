"""RFM scores and segments, and the rule-based segments, on a log worked out by hand."""

from __future__ import annotations

import itertools

import polars as pl
import pytest
from segments_frames import at, events

from analytics.audience import hash_email
from analytics.segments import _segment_expr, quintile_score, rfm, rule_segments, \
    segment_summary

NOW = at(days=30)


def _purchase(user, day, value, order, **extra):
    return dict(ts=at(days=day), name="purchase", customer_id=user, value=value,
                currency="EUR", order_number=order, **extra)


BUYERS = [
    _purchase("u1", 10, 100, "o1"), _purchase("u1", 20, 100, "o2"),
    _purchase("u1", 29, 100, "o3", properties={"email": "u1@example.com"}, consent=True),
    _purchase("u2", 28, 50, "o4"),
    _purchase("u3", 1, 1000, "o5"), _purchase("u3", 5, 1000, "o6"),
    dict(ts=at(days=6), name="refund", customer_id="u3", value=500, order_number="o6"),
    _purchase("u4", 15, 200, "o7"),
    _purchase("u5", 2, 20, "o8"),
]


def test_rfm_scores_and_segments_by_hand():
    table = {r["user_id"]: r for r in rfm(events(*BUYERS), now=NOW).to_dicts()}
    # recency (days): u1 1, u2 2, u3 25, u4 15, u5 28 -> most recent scores 5
    assert {u: table[u]["r"] for u in table} == {"u1": 5, "u2": 4, "u3": 2, "u4": 3, "u5": 1}
    # frequency 3, 1, 2, 1, 1: the three one-time buyers tie at the lowest rank -> all 1
    assert {u: table[u]["f"] for u in table} == {"u1": 5, "u2": 1, "u3": 4, "u4": 1, "u5": 1}
    # monetary net of refunds: 300, 50, 1500, 200, 20
    assert table["u3"]["monetary"] == 1500
    assert {u: table[u]["m"] for u in table} == {"u1": 4, "u2": 2, "u3": 5, "u4": 3, "u5": 1}
    assert table["u1"]["rfm_score"] == "554" and table["u1"]["recency_days"] == 1.0
    # fm = ceil((f + m) / 2): u1 5, u2 2, u3 5, u4 2, u5 1
    assert {u: table[u]["segment"] for u in table} == {
        "u1": "champions", "u2": "potential_loyalists", "u3": "cant_lose",
        "u4": "about_to_sleep", "u5": "lost"}
    assert table["u1"]["email"] == "u1@example.com" and table["u1"]["consent"] is True


def test_every_score_pair_has_a_segment():
    pairs = pl.DataFrame(list(itertools.product(range(1, 6), range(1, 6))), schema=["r", "fm"],
                         orient="row")
    named = pairs.with_columns(_segment_expr().alias("segment"))
    assert named["segment"].null_count() == 0
    assert set(named["segment"]) >= {"champions", "loyal", "new", "at_risk", "hibernating",
                                     "cant_lose", "lost", "promising", "need_attention"}


def test_quintile_ties_share_the_lowest_score():
    frame = pl.DataFrame({"x": [7, 7, 7, 7, 9, 10, 11, 12, 13, 14]})
    scores = frame.select(quintile_score("x").alias("score"))["score"].to_list()
    # ranks (min): 1,1,1,1,5,6,7,8,9,10 -> 1 + (rank - 1) * 5 // 10
    assert scores == [1, 1, 1, 1, 3, 3, 4, 4, 5, 5]


def test_rule_segments_by_hand():
    log = events(
        *BUYERS,
        dict(ts=at(days=29), name="view_item", customer_id="u6"),  # browsed only
        dict(ts=at(days=29), name="add_to_cart", customer_id="u7", cart_id="c7", value=10000),
        dict(ts=at(days=29), name="add_to_cart", customer_id="u8", cart_id="c8", value=100),
        dict(ts=at(days=29), name="view_item", customer_id="u8"),
    )
    rules = rule_segments(log, now=NOW, high_value_cart=5000, one_time_after_days=10,
                          lapsed_days=20, vip_share=0.2)
    members = {s: sorted(rules.filter(pl.col("segment") == s)["user_id"])
               for s in rules["segment"].unique()}
    assert members["high_value_cart_abandoners"] == ["u7"]
    assert members["browse_abandoners"] == ["u6"]  # u8 added to a cart
    assert members["one_time_buyers"] == ["u4", "u5"]  # u2 bought 2 days ago
    assert members["lapsed_vips"] == ["u3"]  # top value, last purchase 25 days ago
    value = rules.filter(pl.col("user_id") == "u7")["value"].item()
    assert value == 10000


def test_summary_counts_members_reachable_by_advertising_consent():
    table = rfm(events(*BUYERS), now=NOW)
    rules = rule_segments(events(*BUYERS), now=NOW)
    # u1 consented to analytics (its events carry the address): not yet to ad audiences
    summary = segment_summary(table, rules)
    champions = summary.filter(pl.col("segment") == "champions").to_dicts()[0]
    assert (champions["users"], champions["reachable"], champions["value"]) == (1, 0, 300)
    granted = frozenset({hash_email("U1@example.com ")})
    champions = segment_summary(table, rules, granted).filter(
        pl.col("segment") == "champions").to_dicts()[0]
    assert (champions["users"], champions["reachable"], champions["value"]) == (1, 1, 300)


def test_bad_vip_share_is_refused():
    with pytest.raises(ValueError, match="vip_share"):
        rule_segments(events(*BUYERS), vip_share=0)
