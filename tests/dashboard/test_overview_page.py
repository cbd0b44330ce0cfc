"""Overview: the KPIs shown are the period's real numbers, and the filters change them."""

from __future__ import annotations

from datetime import date

from dashboard_fixtures import expected_kpis, metrics

from dashboard import display


def _assert_kpis(at, events, filters):
    shown = metrics(at)
    want = expected_kpis(events, filters)
    before = expected_kpis(events, filters.previous())
    assert shown["Sessions"] == (display.count(want["sessions"]),
                                 display.change(want["sessions"], before["sessions"]))
    assert shown["Conversations"][0] == display.count(want["conversations"])
    assert shown["Orders"] == (display.count(want["orders"]),
                               display.change(want["orders"], before["orders"]))
    assert shown["Revenue (EUR)"] == (display.money(want["revenue"], "EUR"),
                                      display.change(want["revenue"], before["revenue"]))
    assert shown["Conversion rate"] == (
        display.percent(want["conversion_rate"]),
        display.points_change(want["conversion_rate"], before["conversion_rate"]))
    assert shown["Average order value"][0] == display.money(want["average_order_value"], "EUR")
    assert shown["Cart abandonment rate"][0] == display.percent(want["cart_abandonment_rate"])
    assert shown["Abandoned carts"][0] == display.count(want["abandoned_carts"])
    return shown


def test_overview_shows_the_periods_kpis_with_changes(app, shop_events):
    assert not app.exception
    filters = app.session_state["filters"]
    assert filters.days == 30 and filters.channels == ()
    shown = _assert_kpis(app, shop_events, filters)
    assert shown["Sessions"][1] is not None  # the period before has data too: a change shows
    charts = app.get("vega_lite_chart")
    assert len(charts) == 1  # revenue and orders per day


def test_date_range_and_channels_change_the_numbers(app, shop_events):
    default = metrics(app)
    app.sidebar.date_input(key="date_range").set_value((date(2026, 10, 5), date(2026, 10, 11)))
    app.sidebar.multiselect(key="channels").set_value(["whatsapp", "web"])
    app.run()
    assert not app.exception
    filters = app.session_state["filters"]
    assert (filters.first_day, filters.last_day) == (date(2026, 10, 5), date(2026, 10, 11))
    assert filters.channels == ("web", "whatsapp")
    shown = _assert_kpis(app, shop_events, filters)
    assert shown["Sessions"] != default["Sessions"]
    assert shown["Orders"] != default["Orders"]


def test_filters_are_shared_by_every_page(app, shop_events):
    app.sidebar.multiselect(key="channels").set_value(["telegram"]).run()
    app.switch_page("views/funnel.py").run()
    assert app.session_state["filters"].channels == ("telegram",)
    app.switch_page("views/overview.py").run()
    assert app.sidebar.multiselect(key="channels").value == ["telegram"]
    _assert_kpis(app, shop_events, app.session_state["filters"])
