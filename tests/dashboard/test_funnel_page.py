"""Funnel page: the step builder describes the funnel the engine computes, and the table and
metrics show the engine's numbers for the page's filters."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from dashboard_fixtures import in_period, metrics

from analytics.funnel import Funnel, Step, compute_funnel
from dashboard import display

TABLE_COLUMNS = ["step_index", "step", "entered", "converted", "dropped_off",
                 "conversion_from_previous", "conversion_from_first"]


def _funnel_page(app):
    app.switch_page("views/funnel.py").run()
    assert not app.exception
    return app


def _shown_table(app) -> pl.DataFrame:
    return pl.from_pandas(app.dataframe[0].value)


def _expected(events, app, funnel: Funnel) -> pl.DataFrame:
    return compute_funnel(in_period(events, app.session_state["filters"]).lazy(), funnel)


def _assert_same_numbers(shown: pl.DataFrame, expected: pl.DataFrame, columns):
    assert shown.height == expected.height > 0
    assert shown.select(columns).to_dicts() == expected.select(columns).to_dicts()


def test_default_funnel_is_the_purchase_funnel(app, shop_events):
    _funnel_page(app)
    funnel = Funnel([Step("view_item"), Step("add_to_cart"), Step("begin_checkout"),
                     Step("purchase")])
    expected = _expected(shop_events, app, funnel)
    _assert_same_numbers(_shown_table(app), expected, TABLE_COLUMNS)
    shown = metrics(app)
    first, last = expected["entered"][0], expected["entered"][-1]
    assert shown["Entered step 1 (users)"][0] == display.count(first)
    assert shown["Reached the last step (users)"][0] == display.count(last)
    assert shown["Overall conversion"][0] == display.percent(last / first)
    assert len(app.get("vega_lite_chart")) == 2  # funnel bars, time to convert
    median = expected["median_seconds_to_convert"][1]
    assert _shown_table(app)["median time"][1] == display.duration(median)


def test_step_builder_filters_window_order_unit_and_breakdown(app, shop_events):
    _funnel_page(app)
    app.number_input(key="step_count").set_value(3).run()
    app.selectbox(key="step_1_event").set_value("view_item")
    app.selectbox(key="step_2_event").set_value("add_to_cart").run()
    app.selectbox(key="step_2_key").set_value("category").run()
    app.multiselect(key="step_2_values").set_value(["Shoes", "Bags"])
    app.selectbox(key="step_3_event").set_value("purchase")
    app.number_input(key="window_amount").set_value(2.0)
    app.selectbox(key="window_unit").set_value("hours")
    app.selectbox(key="order").set_value("ordered")
    app.selectbox(key="unit").set_value("session")
    app.selectbox(key="breakdown").set_value("channel").run()
    assert not app.exception
    funnel = Funnel([Step("view_item"), Step("add_to_cart", {"category": ["Shoes", "Bags"]}),
                     Step("purchase")], window=timedelta(hours=2), unit="session",
                    breakdown="channel")
    expected = _expected(shop_events, app, funnel)
    shown = _shown_table(app)
    _assert_same_numbers(shown, expected, ["breakdown", *TABLE_COLUMNS])
    assert set(shown["breakdown"]) == set(expected["breakdown"])
    assert len(set(shown["breakdown"])) > 1
    assert "add_to_cart (category=['Shoes', 'Bags'])" in shown["step"].to_list()
    assert metrics(app)["Entered step 1 (sessions)"][0] == display.count(
        expected.filter(pl.col("step_index") == 1)["entered"].sum())


def test_strict_order_and_exclusions_change_the_result(app, shop_events):
    _funnel_page(app)
    ordered = _shown_table(app)
    app.selectbox(key="order").set_value("strict")
    app.multiselect(key="exclusions").set_value(["remove_from_cart"]).run()
    assert not app.exception
    funnel = Funnel([Step("view_item"), Step("add_to_cart"), Step("begin_checkout"),
                     Step("purchase")], order="strict", exclusions=[Step("remove_from_cart")])
    expected = _expected(shop_events, app, funnel)
    strict = _shown_table(app)
    _assert_same_numbers(strict, expected, TABLE_COLUMNS)
    assert strict["entered"].to_list() != ordered["entered"].to_list()


def test_channel_filter_changes_the_funnel(app, shop_events):
    _funnel_page(app)
    app.sidebar.date_input(key="date_range").set_value((date(2026, 9, 10), date(2026, 9, 30)))
    app.run()
    everyone = _shown_table(app)
    app.sidebar.multiselect(key="channels").set_value(["site"]).run()
    funnel = Funnel([Step("view_item"), Step("add_to_cart"), Step("begin_checkout"),
                     Step("purchase")])
    expected = _expected(shop_events, app, funnel)
    site_only = _shown_table(app)
    _assert_same_numbers(site_only, expected, TABLE_COLUMNS)
    assert site_only["entered"][0] < everyone["entered"][0]


def test_a_first_step_nobody_did_shows_a_friendly_message(app):
    _funnel_page(app)
    app.selectbox(key="step_1_event").set_value("refund").run()
    app.sidebar.date_input(key="date_range").set_value((date(2026, 9, 1), date(2026, 9, 2)))
    app.run()
    assert not app.exception
    assert any("Nobody did" in info.value for info in app.info)
