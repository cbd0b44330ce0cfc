"""Funnel: build a funnel from any events, see where shoppers drop off and how fast they go."""

import json

import polars as pl
import streamlit as st

from analytics.funnel import compute_funnel
from analytics.schema import InputError
from dashboard import charts, data, display
from dashboard.funnel_builder import command_line, funnel_from_widgets

st.title("Funnel")
# ANALYTICS_STORE set: ordered funnels are computed inside ClickHouse; strict and "any"
# funnels (which the ClickHouse engine refuses) by polars over the events, with a note.
stored = data.store_page()
page = None if stored else data.page_data(properties=True)
filters = stored.filters if stored else page.filters
st.caption(filters.label())

with st.container(border=True):
    try:
        funnel = funnel_from_widgets(
            data.StoreChoices(stored.url, data.window_start(filters)) if stored
            else page.everything)
    except InputError as exc:  # e.g. a window the engine refuses
        data.no_data(f"This funnel cannot be computed: {exc}.", "Change the settings above.")

if stored and funnel.order == "ordered":
    try:
        with st.spinner("Asking ClickHouse…"):
            result = data.store_funnel(stored.url, json.dumps(funnel.to_dict()),
                                       filters.start, filters.end, filters.channels)
    except InputError as exc:
        data.no_data(f"This funnel cannot be computed in ClickHouse: {exc}.",
                     "Change the settings above.")
    st.caption(data.store_caption(stored.url))
else:
    if stored:
        st.info(f"ClickHouse computes ordered funnels only: this {funnel.order} funnel is "
                "computed by polars over the shop's events (`ANALYTICS_EVENTS_URL`).",
                icon=":material/info:")
        page = data.page_data(properties=True)
    result = compute_funnel(page.events, funnel)
if result.is_empty():
    data.no_data(f"Nobody did “{funnel.steps[0].title}” in {filters.label()}.",
                 "Pick another first step, widen the date range or clear the channel filter.")

unit = f"{funnel.unit}s"
totals = (result.group_by("step_index").agg(pl.col("entered").sum()).sort("step_index")
          ["entered"].to_list())
cols = st.columns(3)
cols[0].metric(f"Entered step 1 ({unit})", display.count(totals[0]), border=True)
cols[1].metric(f"Reached the last step ({unit})", display.count(totals[-1]), border=True)
cols[2].metric("Overall conversion", display.percent(totals[-1] / totals[0]), border=True)

show = st.segmented_control("Bars show", ["% of step 1", unit], default="% of step 1",
                            key="funnel_scale") or "% of step 1"
st.altair_chart(charts.funnel_bars(result, percent=show != unit, unit=unit), width="stretch")

st.subheader("Steps")
st.dataframe(charts.funnel_table(result, breakdown=funnel.breakdown), hide_index=True,
             width="stretch", column_config=charts.FUNNEL_COLUMNS)

st.subheader("Time to convert")
st.caption("From the previous step, for the units that made it (their best attempt).")
timing = result.filter(pl.col("step_index") > 1, pl.col("median_seconds_to_convert")
                       .is_not_null())
if timing.is_empty():
    st.info("Nobody went past step 1, so there is no time to convert.",
            icon=":material/info:")
else:
    st.altair_chart(charts.time_to_convert(timing), width="stretch")

with st.expander("This funnel on the command line, or as JSON"):
    in_store = stored is not None and funnel.order == "ordered"
    st.code(command_line(funnel, filters) + (" \\\n  --store" if in_store else ""),
            language="bash")
    st.download_button("Download the funnel definition (JSON)",
                       json.dumps(funnel.to_dict(), indent=2), file_name="funnel.json",
                       mime="application/json", on_click="ignore")
