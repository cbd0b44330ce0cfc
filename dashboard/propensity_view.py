"""The Segments page's purchase-propensity section (the model is trained once per period
and kept for a few minutes: training takes a second or two)."""

from __future__ import annotations

from datetime import date

import altair as alt
import polars as pl
import streamlit as st
from threadpoolctl import threadpool_limits

from analytics.propensity import session_features, train_and_evaluate, worth_a_reminder
from analytics.schema import InputError
from dashboard import data, display
from analytics.overview import main_currency

MODEL_TTL = 300  # seconds


@st.cache_data(ttl=MODEL_TTL, show_spinner="Training the purchase-propensity model…")
def propensity(source: str, first_day: date, last_day: date,
               channels: tuple[str, ...]) -> dict:
    """The model's evaluation (time split) and the sessions most worth a reminder, or
    ``{"error": why}`` when the period cannot train a model."""
    filters = data.Filters(first_day, last_day, channels)
    features = session_features(data.filtered(data.events_since(source, filters.start),
                                                   filters))
    try:
        # One thread: OpenMP's spinning threads crawl when the cores are busy serving pages.
        with threadpool_limits(limits=1):
            report = train_and_evaluate(features, "purchased", time_column="started_at")
    except InputError as exc:
        return {"error": str(exc), "sessions": features.height}
    return {"report": report.as_dict(), "worth_a_reminder": worth_a_reminder(features, report)}


def propensity_section(page: data.PageData) -> None:
    st.subheader("Purchase propensity")
    f = page.filters
    result = propensity(data.events_source(), f.first_day, f.last_day, f.channels)
    if "error" in result:
        st.info(f"No model for this period: {result['error']}.", icon=":material/info:")
        return
    report = result["report"]
    st.caption(f"Calibrated gradient boosting on session features; evaluated on the "
               f"{report['split']} ({report['n_train']:,} training, {report['n_test']:,} test "
               "sessions).")
    cols = st.columns(4)
    cols[0].metric("ROC-AUC", f"{report['roc_auc']:.3f}", border=True,
                   help="0.5 is a coin toss, 1 is perfect ranking")
    cols[1].metric("PR-AUC", f"{report['pr_auc']:.3f}", border=True,
                   help="Average precision; a coin scores the base rate")
    cols[2].metric("Base rate", display.percent(report["base_rate"]), border=True,
                   help="Share of test sessions that bought")
    cols[3].metric("Brier score", f"{report['brier']:.3f}", border=True,
                   help="Mean squared error of the probabilities (lower is better)")
    left, right = st.columns(2)
    with left:
        st.markdown("**Calibration** (test sessions by decile of score)")
        st.altair_chart(_calibration_chart(report["calibration"]), width="stretch")
    with right:
        st.markdown("**Open carts most worth a reminder** (probability × cart value)")
        ranked = result["worth_a_reminder"]
        if ranked.is_empty() or "propensity" not in ranked.columns:
            st.info("No open carts in the last 7 days of the period.", icon=":material/info:")
        else:
            currency = main_currency(page.events)
            st.dataframe(ranked.with_columns(
                pl.col("cart_value", "expected_value") / 10 ** display.exponent(currency)),
                hide_index=True, width="stretch",
                column_order=["channel", "cart_value", "propensity", "expected_value",
                              "started_at", "user_id"],
                column_config={
                    "propensity": st.column_config.NumberColumn(format="percent"),
                    "cart_value": st.column_config.NumberColumn(
                        f"cart value ({currency})", format="%.2f"),
                    "expected_value": st.column_config.NumberColumn(
                        f"expected value ({currency})", format="%.2f")})


def _calibration_chart(calibration: list[dict]) -> alt.LayerChart:
    frame = pl.DataFrame(calibration).to_pandas()
    diagonal = alt.Chart(pl.DataFrame({"x": [0.0, 1.0]}).to_pandas()).mark_line(
        color="#9aa5b1", strokeDash=[4, 4]).encode(x="x:Q", y="x:Q")
    points = alt.Chart(frame).mark_line(point=True, color="#4c78a8").encode(
        alt.X("predicted:Q", title="Predicted probability", scale=alt.Scale(domain=[0, 1])),
        alt.Y("observed:Q", title="Observed share that bought", scale=alt.Scale(domain=[0, 1])),
        tooltip=["rows:Q", alt.Tooltip("predicted:Q", format=".1%"),
                 alt.Tooltip("observed:Q", format=".1%")])
    return alt.layer(diagonal, points).properties(height=280)
