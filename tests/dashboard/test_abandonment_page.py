"""Abandonment & recovery page: counts, value at risk and recovery as analytics computes them."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from dashboard_fixtures import in_period, metrics

from analytics.abandonment import abandoned_carts, abandonment_summary
from dashboard import display


def _expected(events, filters, idle, window):
    period = in_period(events, filters).lazy()
    now = min(filters.end, events["ts"].max())
    carts = abandoned_carts(period, idle=idle, recovery_window=window, now=now)
    return carts, abandonment_summary(period, carts=carts, idle=idle, recovery_window=window)


def _assert_shown(app, carts, summary):
    shown = metrics(app)
    eur = next(row for row in summary["by_currency"] if row["currency"] == "EUR")
    kinds = carts.group_by("kind").len()
    count = dict(zip(kinds["kind"], kinds["len"]))
    assert shown["Abandoned carts"][0] == display.count(count.get("cart", 0))
    assert shown["Abandoned checkouts"][0] == display.count(count.get("checkout", 0))
    assert shown["Value at risk"][0] == display.money(eur["value_at_risk"], "EUR")
    assert shown["Recovered"] == (display.money(eur["recovered_value"], "EUR"),
                                  f"{summary['recovered']:,} carts")
    assert shown["Recovery rate"][0] == display.percent(summary["recovery_rate"])
    assert eur["value_at_risk"] == carts.filter(pl.col("status") != "recovered")["value"].sum()


def test_abandonment_page_shows_what_analytics_computes(app, shop_events):
    app.switch_page("views/abandonment.py").run()
    assert not app.exception
    carts, summary = _expected(shop_events, app.session_state["filters"], timedelta(hours=1),
                               timedelta(days=7))
    assert carts.height > 0
    _assert_shown(app, carts, summary)
    assert len(app.get("vega_lite_chart")) == 2  # recovered vs lost per day, reasons
    # the synthetic shop sends no reminders: the page says where they would show
    assert any("cart_reminder_sent" in info.value for info in app.info)


def test_idle_time_and_recovery_window_are_settings(app, shop_events):
    app.switch_page("views/abandonment.py").run()
    before = metrics(app)
    app.selectbox(key="idle").set_value("4 hours")
    app.selectbox(key="recovery_window").set_value("1 day").run()
    assert not app.exception
    carts, summary = _expected(shop_events, app.session_state["filters"], timedelta(hours=4),
                               timedelta(days=1))
    _assert_shown(app, carts, summary)
    assert metrics(app)["Recovered"] != before["Recovered"]


def test_reminders_are_measured_when_the_recovery_job_ran(app, shop_events, tmp_path,
                                                          monkeypatch):
    """Add cart_reminder_sent events two hours after some abandoned carts left."""
    filters = app.session_state["filters"]
    carts, _ = _expected(shop_events, filters, timedelta(hours=1), timedelta(days=7))
    reminded = carts.head(40)
    reminders = reminded.select(
        pl.format("rem-{}", "cart_id").alias("event_id"),
        (pl.col("abandoned_at") + timedelta(hours=2)).alias("ts"),
        pl.lit("cart_reminder_sent").alias("name"), "cart_id", "user_id", "channel")
    with_reminders = pl.concat([shop_events, reminders], how="diagonal_relaxed")
    path = tmp_path / "with-reminders.parquet"
    with_reminders.select(shop_events.columns).write_parquet(path)
    monkeypatch.setenv("ANALYTICS_EVENTS_URL", str(path))
    app.run()
    app.switch_page("views/abandonment.py").run()
    assert not app.exception
    period = in_period(with_reminders.select(shop_events.columns), filters).lazy()
    now = min(filters.end, with_reminders["ts"].max())
    split = abandonment_summary(period, now=now)["reminders"]
    shown = metrics(app)
    assert shown["Carts reminded"][0] == display.count(split["reminded_carts"]) != "0"
    assert shown["Recovered after a reminder"] == (
        display.count(split["recovered_after_reminder"]),
        display.percent(split["reminded_recovery_rate"]))
