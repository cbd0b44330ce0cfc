"""Segments page: RFM and rule segments, the propensity model's evaluation and the audience
export count come from the analytics package for the page's filters."""

from __future__ import annotations

from datetime import date

import polars as pl
from dashboard_fixtures import in_period, metrics
from threadpoolctl import threadpool_limits

from analytics.audience import audience_hashes, with_advertising
from analytics.consent import advertising_consents
from analytics.propensity import session_features, train_and_evaluate
from analytics.segments import members, rfm, rule_segments
from dashboard import display


def _segments(events, filters):
    period = in_period(events, filters).lazy()
    now = min(filters.end, events["ts"].max())
    return period, rfm(period, now=now), rule_segments(period, now=now)


def test_segment_sizes_audience_and_propensity(app, shop_events):
    app.switch_page("views/segments.py").run()
    assert not app.exception
    filters = app.session_state["filters"]
    period, rfm_frame, rules = _segments(shop_events, filters)
    shown = metrics(app)
    assert shown["Buyers scored (RFM)"][0] == display.count(rfm_frame.height)
    granted = advertising_consents(None)  # ANALYTICS_CONSENTS_URL, as the page reads it
    reachable = with_advertising(rfm_frame, granted)["advertising"].sum()
    assert 0 < reachable < rfm_frame.filter(pl.col("email").is_not_null()).height
    assert shown["Reachable buyers"][0] == display.count(reachable)
    assert shown["Users in rule segments"][0] == display.count(rules["user_id"].n_unique())

    rule_table = pl.from_pandas(app.dataframe[0].value)
    sizes = rules.group_by("segment").len()
    assert dict(zip(rule_table["segment"], rule_table["users"])) == dict(
        zip(sizes["segment"], sizes["len"]))

    segment = app.selectbox(key="audience_segment").value
    chosen = members(rfm_frame, rules, segment)
    assert shown["Exported (consented, with e-mail)"][0] == \
        f"{audience_hashes(chosen, granted).len():,} of {chosen.height:,}"

    with threadpool_limits(limits=1):
        report = train_and_evaluate(session_features(period), "purchased",
                                    time_column="started_at")
    assert shown["ROC-AUC"][0] == f"{report.roc_auc:.3f}"
    assert shown["PR-AUC"][0] == f"{report.pr_auc:.3f}"
    assert shown["Base rate"][0] == display.percent(report.base_rate)
    assert report.roc_auc > 0.6  # the synthetic shop's buyers are predictable


def test_choosing_another_segment_changes_the_export(app, shop_events):
    app.switch_page("views/segments.py").run()
    app.selectbox(key="audience_segment").set_value("high_value_cart_abandoners").run()
    assert not app.exception
    _, rfm_frame, rules = _segments(shop_events, app.session_state["filters"])
    chosen = members(rfm_frame, rules, "high_value_cart_abandoners")
    assert metrics(app)["Exported (consented, with e-mail)"][0] == \
        f"{audience_hashes(chosen, advertising_consents(None)).len():,} of {chosen.height:,}"


def test_a_period_without_buyers_explains_itself(app, shop_events):
    """One day of a single channel (the synthetic shop has no Slack purchase on 2 September):
    shoppers browsed but nobody bought, so no buyer is scored and no model trained, and the
    page says why instead of drawing empty charts (never a traceback)."""
    app.sidebar.date_input(key="date_range").set_value((date(2026, 9, 2), date(2026, 9, 2)))
    app.sidebar.multiselect(key="channels").set_value(["slack"]).run()
    app.switch_page("views/segments.py").run()
    assert not app.exception
    assert app.title[0].value == "Segments"
    period, rfm_frame, rules = _segments(shop_events, app.session_state["filters"])
    # the case this test is about, read from the analytics package: browsing, no purchase
    assert period.collect().height > 0 and rfm_frame.height == 0 and rules.height > 0
    shown = metrics(app)
    assert shown["Buyers scored (RFM)"][0] == "0"
    assert shown["Users in rule segments"][0] == display.count(rules["user_id"].n_unique())
    assert [i.value for i in app.info] == [
        "No purchases in this period, so no RFM segments.",
        "No model for this period: target column 'purchased' is constant (0): the model needs "
        "both buyers and non-buyers."]
