"""The Funnel page's step builder: widgets that describe an ``analytics.funnel.Funnel``.

Every widget has a stable key (``step_1_event``, ``window_amount``...) so the funnel
survives page switches and tests can set it.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import streamlit as st

from analytics.funnel import BREAKDOWNS, ORDERS, UNIT_COLUMNS, Funnel, Step
from analytics.schema import EVENT_SCHEMA

DEFAULT_STEPS = ["view_item", "add_to_cart", "begin_checkout", "purchase"]
# The shop's own journey order, so the event list reads like a funnel.
JOURNEY = ["chat_started", "view_item_list", "view_item", "add_to_cart", "remove_from_cart",
           "view_cart", "begin_checkout", "add_shipping_info", "add_payment_info", "purchase",
           "handoff_requested", "handoff_resolved", "cart_reminder_sent", "return_requested",
           "refund", "order_status_changed"]
NO_FILTER = "(no filter)"
FILTER_COLUMNS = ["category", "item_id", "channel", "source", "device", "currency", "consent"]
WINDOW_UNITS = {"minutes": "minutes", "hours": "hours", "days": "days", "weeks": "weeks"}
ORDER_HELP = ("ordered: steps in this order, other events may come between; strict: each "
              "step is the very next event; any: the steps in any order")
BREAKDOWN_LABELS = {None: "none", "channel": "channel", "source": "source",
                    "device": "device", "category": "category", "chat": "chat vs no chat"}
assert set(BREAKDOWN_LABELS) - {None} == set(BREAKDOWNS)
MAX_STEPS = 8
STEPS_PER_ROW = 4
MAX_VALUES = 300


def event_names(events: pl.DataFrame) -> list[str]:
    present = set(events.get_column("name").unique().drop_nulls().to_list())
    known = [n for n in JOURNEY if n in present]
    return known + sorted(present - set(known))


def filter_keys(events: pl.DataFrame, event: str) -> list[str]:
    """Columns and JSON property keys a step on ``event`` can be filtered by."""
    rows = events.filter(pl.col("name") == event)
    columns = [c for c in FILTER_COLUMNS if rows.get_column(c).drop_nulls().len()]
    sample = rows.head(5_000).get_column("properties").drop_nulls()
    keys = (sample.str.extract_all(r'"([A-Za-z0-9_]+)"\s*:').explode().drop_nulls()
            .str.extract(r'"([A-Za-z0-9_]+)"').unique().sort().to_list())
    hidden = {"email"}  # personal data: not a funnel dimension
    return columns + [k for k in keys if k not in columns and k not in hidden
                      and k not in EVENT_SCHEMA]


def filter_values(events: pl.DataFrame, event: str, key: str) -> list[str]:
    """The values ``key`` takes on ``event`` events, most frequent first."""
    rows = events.filter(pl.col("name") == event)
    column = (rows.get_column(key).cast(pl.Utf8) if key in EVENT_SCHEMA
              else rows.get_column("properties").str.json_path_match(f"$.{key}"))
    if key in EVENT_SCHEMA and EVENT_SCHEMA[key] == pl.Boolean:
        column = column.str.to_lowercase()
    counts = column.drop_nulls().value_counts(sort=True).head(MAX_VALUES)
    return counts.get_column(column.name).to_list()


class FrameChoices:
    """What the builder offers, read from the held events (``data.StoreChoices`` asks the
    ClickHouse store the same)."""

    def __init__(self, events: pl.DataFrame):
        self.events = events

    def names(self) -> list[str]:
        return event_names(self.events)

    def keys(self, event: str) -> list[str]:
        return filter_keys(self.events, event)

    def values(self, event: str, key: str) -> list[str]:
        return filter_values(self.events, event, key)


def _step_widgets(choices, names: list[str], k: int) -> Step:
    """One step: its event, and optionally a column or property it must have."""
    default = DEFAULT_STEPS[k - 1] if k <= len(DEFAULT_STEPS) else names[0]
    event = st.selectbox(f"Step {k}", names, key=f"step_{k}_event",
                         index=names.index(default) if default in names else 0)
    key = st.selectbox("filtered by", [NO_FILTER, *choices.keys(event)],
                       key=f"step_{k}_key", label_visibility="collapsed")
    if key == NO_FILTER:
        return Step(event)
    values = st.multiselect(f"{key} is", choices.values(event, key),
                            key=f"step_{k}_values", placeholder="any value")
    return Step(event, {key: values[0] if len(values) == 1 else values} if values else {})


def funnel_from_widgets(events) -> Funnel:
    """The funnel the widgets describe; ``events``: the held events, or an object with
    ``names()``, ``keys(event)`` and ``values(event, key)`` (``data.StoreChoices``)."""
    choices = FrameChoices(events) if isinstance(events, pl.DataFrame) else events
    names = choices.names()
    cols = st.columns([1, 1, 1, 1, 1, 1, 2])
    count = int(cols[0].number_input("Steps", min_value=2, max_value=MAX_STEPS, value=4,
                                     step=1, key="step_count"))
    amount = cols[1].number_input("Window", min_value=0.01, value=24.0, step=1.0,
                                  format="%.1f", key="window_amount",
                                  help="Every step must happen within this time of step 1")
    unit = cols[2].selectbox("unit", list(WINDOW_UNITS), index=1, key="window_unit")
    order = cols[3].selectbox("Order", ORDERS, key="order", help=ORDER_HELP)
    counted = cols[4].selectbox("Count", list(UNIT_COLUMNS), key="unit",
                                format_func=lambda u: f"{u}s",
                                help="users: a shopper across visits; sessions: one visit")
    breakdown = cols[5].selectbox("Breakdown", list(BREAKDOWN_LABELS), key="breakdown",
                                  format_func=BREAKDOWN_LABELS.get,
                                  help="First touch: the value on the step-1 event")
    excluded = cols[6].multiselect("Exclude attempts with", names, key="exclusions",
                                   help="An attempt with this event between its first and "
                                        "last step does not count")
    steps = []
    for row in range(0, count, STEPS_PER_ROW):
        columns = st.columns(STEPS_PER_ROW)
        for k in range(row + 1, min(row + STEPS_PER_ROW, count) + 1):
            with columns[(k - 1) % STEPS_PER_ROW]:
                steps.append(_step_widgets(choices, names, k))
    return Funnel(steps, window=timedelta(**{WINDOW_UNITS[unit]: amount}), order=order,
                  unit=counted, exclusions=[Step(e) for e in excluded], breakdown=breakdown)


def command_line(funnel: Funnel, filters) -> str:
    """The same funnel for ``python -m analytics funnel`` (so a result can be reproduced)."""
    from analytics.funnel import format_duration
    parts = ["python -m analytics funnel",
             "--steps " + ",".join(s.event for s in funnel.steps),
             f"--window {format_duration(funnel.window)}", f"--order {funnel.order}",
             f"--unit {funnel.unit}"]
    if funnel.breakdown:
        parts.append(f"--breakdown {funnel.breakdown}")
    for k, step in enumerate(funnel.steps, 1):
        for key, value in step.where.items():
            value = "|".join(value) if isinstance(value, list) else value
            parts.append(f"--where '{k}:{key}={value}'")
    parts += [f"--exclude {s.event}" for s in funnel.exclusions]
    parts += [f"--from {filters.first_day}", f"--to {filters.last_day}"]
    parts += [f"--channel {c}" for c in filters.channels]
    return " \\\n  ".join(parts)
