"""The Conversations page's "Support inbox" section (AppTest): time to first reply,
resolution time, CSAT and backlog in all, per agent and per reason, equal to what the
analytics package computes for the page's period and channels."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from dashboard_fixtures import in_period, metrics

from analytics.schema import conform
from analytics.support import support_metrics
from dashboard import display

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analytics"))
from test_support_metrics import history  # noqa: E402  (the generated handoff histories)


@pytest.fixture
def with_support_events(shop_events, tmp_path, monkeypatch):
    """The synthetic shop plus 80 handoffs in its last days, a quarter of them on WhatsApp
    (every event of a handoff on its conversation's channel)."""
    rows, _ = history(seed=5, handoffs=80, start=datetime(2026, 10, 22, 9))
    support = conform(pl.DataFrame(rows).with_columns(
        pl.when(pl.col("conversation_id").str.slice(-1).is_in(["0", "4", "8"]))
        .then(pl.lit("whatsapp")).otherwise(pl.lit("web")).alias("channel")).lazy()).collect()
    events = pl.concat([shop_events, support.select(shop_events.columns)])
    path = tmp_path / "events.parquet"
    events.write_parquet(path)
    monkeypatch.setenv("ANALYTICS_EVENTS_URL", str(path))
    return events


def _shown_table(app, index: int, key: str) -> dict[str, dict]:
    frame = app.dataframe[index].value
    return {row[key]: row for row in frame.to_dict("records")}


def _check(app, events):
    filters = app.session_state["filters"]
    expected = support_metrics(in_period(events, filters).lazy())
    assert expected["handoffs"] > 0
    shown = metrics(app)
    assert shown["First reply (median)"] == (
        display.duration(expected["first_reply_median_seconds"]),
        f"p90 {display.duration(expected['first_reply_p90_seconds'])}")
    assert shown["Resolution time (median)"][0] == display.duration(
        expected["resolution_median_seconds"])
    assert shown["CSAT"] == (display.rating(expected["csat_average"]),
                             f"{expected['csat_responses']:,} ratings, "
                             f"{display.percent(expected['csat_satisfied_rate'], 0)} 4-5")
    assert shown["Backlog"] == (display.count(expected["backlog"]),
                                f"of {expected['handoffs']:,} handoffs")
    agents = _shown_table(app, 0, "Agent")
    assert set(agents) == {row["agent"] for row in expected["by_agent"]}
    for row in expected["by_agent"]:
        assert (agents[row["agent"]]["Handoffs"], agents[row["agent"]]["Backlog"],
                agents[row["agent"]]["CSAT"]) == (row["handoffs"], row["backlog"],
                                                  display.rating(row["csat_average"]))
    reasons = _shown_table(app, 1, "Reason")
    for row in expected["by_reason"]:
        assert (reasons[row["label"]]["Resolved"],
                reasons[row["label"]]["First reply (median)"]) == (
            row["resolved"], display.duration(row["first_reply_median_seconds"]))
    return expected


def test_the_support_section_shows_the_analytics_figures(app, with_support_events):
    app.switch_page("views/conversations.py").run()
    assert not app.exception
    _check(app, with_support_events)


def test_the_channel_filter_applies_to_the_support_figures(app, with_support_events):
    app.switch_page("views/conversations.py").run()
    everything = _check(app, with_support_events)
    app.sidebar.multiselect(key="channels").set_value(["whatsapp"]).run()
    assert not app.exception
    assert app.session_state["filters"].channels == ("whatsapp",)
    only_whatsapp = _check(app, with_support_events)
    assert 0 < only_whatsapp["handoffs"] < everything["handoffs"]
