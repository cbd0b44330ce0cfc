"""Altair charts the pages share. Money arrives in minor units and is plotted in units."""

from __future__ import annotations

import altair as alt
import polars as pl

from dashboard import display

LABELS = alt.Axis(labelLimit=260)  # event and segment names are long; never cut them
STATUS_COLOURS = alt.Scale(domain=["recovered", "open", "lost"],
                           range=["#2e9e5b", "#9aa5b1", "#d1495b"])


def revenue_and_orders(sales: pl.DataFrame, currency: str | None) -> alt.LayerChart:
    """Revenue as bars (left axis) and orders as a line (right axis), per day."""
    frame = sales.with_columns(
        (pl.col("revenue") / 10 ** display.exponent(currency)).alias("revenue_units"))
    base = alt.Chart(frame.to_pandas()).encode(alt.X("day:T", title=None))
    bars = base.mark_bar(color="#4c78a8", opacity=0.85).encode(
        alt.Y("revenue_units:Q", title=f"Revenue ({currency})"),
        tooltip=[alt.Tooltip("day:T", title="Day"),
                 alt.Tooltip("revenue_units:Q", title=f"Revenue ({currency})", format=",.2f"),
                 alt.Tooltip("orders:Q", title="Orders")])
    line = base.mark_line(color="#f58518", point=True).encode(
        alt.Y("orders:Q", title="Orders"))
    return alt.layer(bars, line).resolve_scale(y="independent").properties(height=320)


def horizontal_bars(frame: pl.DataFrame, *, value: str, label: str, title: str,
                    value_title: str, value_format: str = ",.0f",
                    colour: str = "#4c78a8") -> alt.Chart:
    """One bar per ``label``, in the frame's order (the analytics results come sorted)."""
    return alt.Chart(frame.to_pandas()).mark_bar(color=colour).encode(
        alt.X(f"{value}:Q", title=value_title,
              axis=alt.Axis(tickMinStep=1) if value_format == ",.0f" else alt.Axis()),
        alt.Y(f"{label}:N", title=title, sort=None, axis=LABELS),
        tooltip=[alt.Tooltip(f"{label}:N", title=title),
                 alt.Tooltip(f"{value}:Q", title=value_title, format=value_format)],
    ).properties(height=alt.Step(26))


def stacked_status_bars(per_day: pl.DataFrame) -> alt.Chart:
    """Abandoned carts per day, stacked by what became of them."""
    return alt.Chart(per_day.to_pandas()).mark_bar().encode(
        alt.X("day:T", title=None),
        alt.Y("carts:Q", title="Abandoned carts", stack=True),
        alt.Color("status:N", scale=STATUS_COLOURS, title="Status"),
        tooltip=[alt.Tooltip("day:T", title="Day"), alt.Tooltip("status:N", title="Status"),
                 alt.Tooltip("carts:Q", title="Carts")],
    ).properties(height=300)


def _step_label(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.format("{}. {}", "step_index", "step").alias("step_label"))


def funnel_bars(result: pl.DataFrame, *, percent: bool, unit: str) -> alt.Chart:
    """Horizontal bars, one group per step (top to bottom), one bar per breakdown value."""
    frame = _step_label(result).with_columns(
        (pl.col("conversion_from_first") * 100).alias("percent_of_first"))
    order = frame.sort("step_index")["step_label"].unique(maintain_order=True).to_list()
    value = "percent_of_first" if percent else "entered"
    n_series = frame["breakdown"].n_unique()
    encodings = [
        alt.X(f"{value}:Q", title="% of step 1" if percent else unit.capitalize()),
        alt.Y("step_label:N", title=None, sort=order, axis=LABELS),
    ]
    tooltip = ["breakdown:N", "step_label:N", "entered:Q", "converted:Q",
               alt.Tooltip("conversion_from_previous:Q", format=".1%", title="from previous"),
               alt.Tooltip("conversion_from_first:Q", format=".1%", title="from step 1")]
    if n_series > 1:
        encodings += [alt.Color("breakdown:N", title="Breakdown", sort=None),
                      alt.YOffset("breakdown:N", sort=None)]
        mark = alt.Chart(frame.to_pandas()).mark_bar()
    else:
        mark = alt.Chart(frame.to_pandas()).mark_bar(color="#4c78a8")
    return mark.encode(*encodings, tooltip=tooltip).properties(
        height=alt.Step(16 if n_series > 1 else 30))


def time_to_convert(timing: pl.DataFrame) -> alt.Chart:
    """Median time from the previous step (and p90 without a breakdown), in minutes."""
    frame = _step_label(timing).with_columns(
        (pl.col("median_seconds_to_convert") / 60).alias("median"),
        (pl.col("p90_seconds_to_convert") / 60).alias("p90"))
    order = frame.sort("step_index")["step_label"].unique(maintain_order=True).to_list()
    if frame["breakdown"].n_unique() > 1:
        long, series = frame.rename({"median": "minutes"}), "breakdown"
    else:
        long = frame.unpivot(["median", "p90"], index=["step_label", "breakdown"],
                             variable_name="measure", value_name="minutes")
        series = "measure"
    return alt.Chart(long.to_pandas()).mark_bar().encode(
        alt.X("minutes:Q", title="Minutes from the previous step"),
        alt.Y("step_label:N", title=None, sort=order, axis=LABELS),
        alt.Color(f"{series}:N", title=series.capitalize(), sort=None),
        alt.YOffset(f"{series}:N", sort=None),
        tooltip=["step_label:N", f"{series}:N", alt.Tooltip("minutes:Q", format=",.1f")],
    ).properties(height=alt.Step(16))


def funnel_table(result: pl.DataFrame, *, breakdown: str | None) -> pl.DataFrame:
    """The engine's rows with readable times; the breakdown column only when there is one."""
    table = result.with_columns(
        pl.col("median_seconds_to_convert").map_elements(display.duration,
                                                         return_dtype=pl.Utf8)
        .alias("median time"),
        pl.col("p90_seconds_to_convert").map_elements(display.duration, return_dtype=pl.Utf8)
        .alias("p90 time")).with_columns(pl.col("median time", "p90 time").fill_null("–"))
    columns = ["step_index", "step", "entered", "converted", "dropped_off",
               "conversion_from_previous", "conversion_from_first", "median time", "p90 time"]
    return table.select((["breakdown"] if breakdown else []) + columns)


def _column_config():
    import streamlit as st
    percent = {"format": "percent"}
    return {"step_index": st.column_config.NumberColumn("#", width="small"),
            "dropped_off": st.column_config.NumberColumn("dropped off"),
            "conversion_from_previous": st.column_config.NumberColumn("from previous",
                                                                      **percent),
            "conversion_from_first": st.column_config.NumberColumn("from step 1", **percent)}


FUNNEL_COLUMNS = _column_config()
