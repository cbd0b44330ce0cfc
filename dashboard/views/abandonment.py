"""Abandonment & recovery: what was left, what it is worth, what came back and why."""

from datetime import timedelta

import polars as pl
import streamlit as st

from analytics.abandonment import REASONS, REMINDER_EVENT, abandoned_carts, abandonment_summary
from analytics.overview import main_currency
from analytics.schema import InputError
from dashboard import charts, data, display

IDLE = {"30 min": timedelta(minutes=30), "1 hour": timedelta(hours=1),
        "4 hours": timedelta(hours=4), "24 hours": timedelta(hours=24)}
WINDOWS = {"1 day": timedelta(days=1), "3 days": timedelta(days=3),
           "7 days": timedelta(days=7), "14 days": timedelta(days=14)}

st.title("Abandonment & recovery")
# ANALYTICS_STORE set: the carts and the summary are computed inside ClickHouse
stored = data.store_page()
page = stored or data.page_data()
filters = page.filters
st.caption(filters.label())

left, right = st.columns(2)
idle = IDLE[left.selectbox("A cart is abandoned after", list(IDLE), index=1, key="idle",
                           help="No cart activity for this long")]
window = WINDOWS[right.selectbox("It is recovered by a purchase within", list(WINDOWS),
                                 index=2, key="recovery_window")]

if stored:
    try:
        with st.spinner("Asking ClickHouse…"):
            carts, summary = data.store_abandonment(stored.url, idle, window, stored.as_of,
                                                    filters.start, filters.end,
                                                    filters.channels)
            currency = data.store_currency(stored.url, filters.start, filters.end,
                                           filters.channels)
    except InputError as exc:
        data.no_data(f"The abandonment cannot be computed in ClickHouse: {exc}.",
                     "Check `ANALYTICS_STORE`.")
    st.caption(data.store_caption(stored.url))
else:
    carts = abandoned_carts(page.events, idle=idle, recovery_window=window, now=page.as_of,
                            conversations=data.conversations(data.tracker_url()))
if carts.is_empty():
    data.no_data(f"No abandoned carts for {filters.label()}.",
                 "Carts count as abandoned once nobody touched them for the idle time.")
if not stored:
    summary = abandonment_summary(page.events, idle=idle, recovery_window=window, carts=carts)
    currency = main_currency(page.events) or main_currency(page.everything.lazy())
money = next((row for row in summary["by_currency"] if row["currency"] == currency), {})
kinds = {row["kind"]: row["carts"] for row in summary["by_kind"]
         if row["currency"] == currency or currency is None}

cols = st.columns(3)
cols[0].metric("Abandoned carts", display.count(kinds.get("cart", 0)), border=True,
               help="Left before checkout started")
cols[1].metric("Abandoned checkouts", display.count(kinds.get("checkout", 0)), border=True,
               help="Left after begin_checkout or after the payment link was sent")
cols[2].metric("Value at risk", display.money(money.get("value_at_risk"), currency),
               border=True, help="Value of the carts that were not recovered (lost or open)")
cols = st.columns(3)
cols[0].metric("Recovered", display.money(money.get("recovered_value"), currency),
               f"{summary['recovered']:,} carts", **display.NOTE,
               border=True)
cols[1].metric("Recovery rate", display.percent(summary["recovery_rate"]), border=True,
               help="Recovered / (recovered + lost); open carts can still come back")
cols[2].metric("Still open", display.count(summary["open"]), border=True,
               help="Abandoned less than the recovery window ago: may still come back")

st.subheader("Recovered vs lost, by day of abandonment")
per_day = (carts.group_by(pl.col("abandoned_at").dt.date().alias("day"), "status")
           .agg(pl.len().alias("carts")).sort("day"))
st.altair_chart(charts.stacked_status_bars(per_day), width="stretch")

reasons_col, channels_col = st.columns([2, 3])
with reasons_col:
    st.subheader("Why carts were left")
    reasons = pl.DataFrame(summary["reasons"])
    st.altair_chart(charts.horizontal_bars(reasons, value="carts", label="reason",
                                           title="Reason", value_title="Carts"),
                    width="stretch")
    st.caption("; ".join(f"**{k}**: {v}" for k, v in REASONS.items()))
with channels_col:
    st.subheader("By channel")
    by_channel = (pl.DataFrame(summary["by_channel"])
                  .filter(pl.col("currency").eq_missing(currency)))
    st.dataframe(
        by_channel.select("channel", "carts", "recovered", "lost", "open", "recovery_rate",
                          (pl.col("value_at_risk") / 10 ** display.exponent(currency))
                          .alias("value_at_risk")),
        hide_index=True, width="stretch",
        column_config={"recovery_rate": st.column_config.NumberColumn(
                           "recovery rate", format="percent"),
                       "value_at_risk": st.column_config.NumberColumn(
                           f"value at risk ({currency})", format="%.2f")})

reminders = summary["reminders"]
st.subheader("Reminders")
if stored:
    try:
        reminder_events = data.store_count(stored.url, REMINDER_EVENT, filters.start,
                                           filters.end, filters.channels)
    except InputError as exc:
        data.no_data(f"The reminders cannot be counted in ClickHouse: {exc}.",
                     "Check `ANALYTICS_STORE`.")
else:
    reminder_events = (page.events.filter(pl.col("name") == REMINDER_EVENT)
                       .select(pl.len()).collect().item())
if reminder_events:
    cols = st.columns(3)
    cols[0].metric("Carts reminded", display.count(reminders["reminded_carts"]), border=True)
    cols[1].metric("Recovered after a reminder",
                   display.count(reminders["recovered_after_reminder"]),
                   display.percent(reminders["reminded_recovery_rate"]), **display.NOTE,
                   border=True)
    cols[2].metric("Recovery rate without a reminder",
                   display.percent(reminders["not_reminded_recovery_rate"]), border=True)
else:
    st.info("No cart reminders were sent in this period: the recovery job's "
            f"`{REMINDER_EVENT}` events show up here once it runs.", icon=":material/mail:")

st.subheader("Largest carts still open or lost")
biggest = (carts.filter(pl.col("status") != "recovered",
                        pl.col("currency").eq_missing(currency))
           .sort("value", descending=True)
           .head(20).with_columns((pl.col("value") / 10 ** display.exponent(currency))
                                  .alias("value")))
st.dataframe(biggest.select("abandoned_at", "kind", "channel", "value", "currency",
                            "last_step", "reason", "status", "email"),
             hide_index=True, width="stretch",
             column_config={"value": st.column_config.NumberColumn(format="%.2f")})
