"""The support inbox's figures (analytics/support.py) against an obviously-correct reference
in plain Python, over generated histories of handoffs: claims, transfers, releases, first
replies, resolutions, ratings, and handoffs still open."""

from __future__ import annotations

import json
import random
import statistics
from datetime import datetime, timedelta

import polars as pl
import pytest

from analytics.schema import conform
from analytics.support import QUEUE, REASON_LABELS, support_metrics

START = datetime(2026, 11, 2, 9)
AGENTS = ["Ana", "Ben", "Chloé"]
REASONS = ["asked_for_human", "repeated_fallback", "asked_for_human_during_complaint_form",
           "asked_for_human_during_checkout_form", "asked_for_human_during_order_form"]
KIND = {"asked_for_human": "asked", "repeated_fallback": "misunderstanding",
        "asked_for_human_during_complaint_form": "complaint",
        "asked_for_human_during_checkout_form": "payment",
        "asked_for_human_during_order_form": "asked"}


def history(seed: int, handoffs: int = 60,
            start: datetime = START) -> tuple[list[dict], list[dict]]:
    """(events, the truth about each handoff), over the five days from ``start``."""
    rng = random.Random(seed)
    events, truth = [], []

    def event(name, at, **properties):
        events.append({"event_id": f"e{len(events)}", "ts": at, "name": name,
                       "conversation_id": properties["handoff"], "channel": "web",
                       "properties": json.dumps(properties)})

    for n in range(handoffs):
        ref, reason = f"H-{n:06d}", rng.choice(REASONS)
        asked = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 5))
        event("handoff_requested", asked, handoff=ref, reason=reason)
        item = {"ref": ref, "kind": KIND[reason], "holder": None, "first": None,
                "resolution": None, "csat": None, "resolved_by": None}
        at = asked
        for _ in range(rng.choice([0, 1, 1, 1, 2])):  # claims, transfers, releases
            at += timedelta(seconds=rng.randrange(5, 300))
            if item["holder"] and rng.random() < 0.3:
                event("agent_left", at, handoff=ref, agent=item["holder"], via="unclaim")
                item["holder"] = None
            else:
                item["holder"] = rng.choice(AGENTS)
                event("agent_joined", at, handoff=ref, agent=item["holder"], via="claim")
        if item["holder"] and rng.random() < 0.85:
            at += timedelta(seconds=rng.randrange(3, 400))
            item["first"] = (at - asked).total_seconds()
            event("agent_message", at, handoff=ref, agent=item["holder"], first=True,
                  seconds_since_request=item["first"])
            event("agent_message", at + timedelta(seconds=30), handoff=ref,
                  agent=item["holder"], first=False, seconds_since_request=item["first"] + 30)
        if rng.random() < 0.7:  # resolved (the rest is the backlog)
            at += timedelta(seconds=rng.randrange(60, 3600))
            item["resolution"] = (at - asked).total_seconds()
            item["resolved_by"] = item["holder"]
            event("handoff_resolved", at, handoff=ref, agent=item["holder"], reason=reason,
                  outcome="resolved", resolution_seconds=item["resolution"])
            if item["holder"] and rng.random() < 0.6:
                item["csat"] = rng.randint(1, 5)
                event("handoff_rated", at + timedelta(seconds=20), handoff=ref,
                      agent=item["holder"], csat=item["csat"])
                if rng.random() < 0.1:  # a stray second answer is never counted twice
                    event("handoff_rated", at + timedelta(seconds=40), handoff=ref,
                          agent=item["holder"], csat=1)
        truth.append(item)
    rng.shuffle(events)  # the engine must not rely on the order rows come in
    return events, truth


def reference(items: list[dict]) -> dict:
    def nearest(values, q):
        ordered = sorted(values)
        return ordered[int(q * (len(ordered) - 1) + 0.5)] if ordered else None

    firsts = [i["first"] for i in items if i["first"] is not None]
    resolutions = [i["resolution"] for i in items if i["resolution"] is not None]
    ratings = [i["csat"] for i in items if i["csat"] is not None]
    return {
        "handoffs": len(items), "resolved": len(resolutions),
        "backlog": sum(1 for i in items if i["resolution"] is None),
        "first_reply_median_seconds": statistics.median(firsts) if firsts else None,
        "first_reply_p90_seconds": nearest(firsts, 0.9),
        "resolution_median_seconds": statistics.median(resolutions) if resolutions else None,
        "resolution_p90_seconds": nearest(resolutions, 0.9),
        "csat_average": round(statistics.mean(ratings), 2) if ratings else None,
        "csat_responses": len(ratings),
        "csat_satisfied_rate": (round(sum(r >= 4 for r in ratings) / len(ratings), 4)
                                if ratings else None),
    }


def agent_of(item: dict) -> str | None:
    return item["resolved_by"] if item["resolution"] is not None else item["holder"]


@pytest.mark.parametrize("seed", range(6))
def test_support_figures_equal_the_reference(seed):
    events, truth = history(seed)
    frame = conform(pl.DataFrame(events).lazy())
    got = support_metrics(frame)
    expected = reference(truth)
    assert {key: got[key] for key in expected} == pytest.approx(expected)

    by_agent = {row["agent"]: row for row in got["by_agent"]}
    for agent in AGENTS:
        mine = [i for i in truth if agent_of(i) == agent]
        if mine:
            assert {k: by_agent[agent][k] for k in expected} == pytest.approx(reference(mine))
    queue = [i for i in truth if agent_of(i) is None]
    if queue:
        assert by_agent[QUEUE]["backlog"] == sum(i["resolution"] is None for i in queue)
    assert sum(row["handoffs"] for row in got["by_agent"]) == len(truth)

    by_reason = {row["reason"]: row for row in got["by_reason"]}
    for kind, label in REASON_LABELS.items():
        ours = [i for i in truth if i["kind"] == kind]
        if ours:
            assert by_reason[kind]["label"] == label
            assert {k: by_reason[kind][k] for k in expected} == pytest.approx(reference(ours))


def test_no_handoff_no_figures():
    empty = conform(pl.DataFrame({"ts": [START], "name": ["purchase"]}).lazy())
    got = support_metrics(empty)
    assert (got["handoffs"], got["backlog"], got["csat_average"], got["by_agent"],
            got["by_reason"]) == (0, 0, None, [], [])


def test_reasons_are_grouped_as_the_inbox_groups_them():
    from storefront_api.inbox.documents import reason_kind as inbox_kind
    from analytics.support import reason_kind
    reasons = [*REASONS, "complaint", "payment_failed", "Misunderstood twice", "", None,
               "asked_for_human_during_return_form", "PAYMENT trouble", "anything else"]
    grouped = pl.DataFrame({"reason": reasons}, schema={"reason": pl.Utf8}).select(
        reason_kind(pl.col("reason")).alias("kind"))["kind"].to_list()
    assert grouped == [inbox_kind(reason) for reason in reasons]
