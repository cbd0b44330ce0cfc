"""The funnel engine: one engine, a funnel described as data (see docs/analytics.md).

Semantics, in short (the reference in tests/analytics/funnel_reference.py spells them out):

- Units are users (``user_id``) or sessions (``session_id``); events without one are ignored.
- An *attempt* starts at any event matching step 1. In ``ordered`` funnels, step k is filled
  by the earliest event matching step k at or after the time step k-1 was filled (the same
  timestamp counts: logs often record two steps in the same second), that the attempt has
  not used yet; among events with the same timestamp, the first in the log wins. In
  ``strict`` funnels step k must be the unit's very next event. In ``any`` order, step k
  means "k different steps done", each at its first matching event at or after the start.
- Every step must happen within ``window`` of the attempt's start (``ts - start <= window``:
  an event exactly at the window's end still counts).
- An attempt with an exclusion event strictly between its start and its last step is void.
- Each unit counts once, with its *best attempt*: the furthest step reached; among equally
  far attempts, the latest (the one closest to the conversion). Times to convert come from
  that attempt. A unit whose attempts
  are all void is left out.
- Breakdowns use first-touch attribution: the value on the unit's first step-1 event.

Implementation: polars (lazily) selects the funnel's events and their step flags, one sort by
(unit, time), then each step is a handful of vectorised gathers over "index of the next
event matching step k" arrays (a backward fill), so nothing loops over rows.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

import numpy as np
import polars as pl

from .schema import EVENT_SCHEMA, InputError

UNIT_COLUMNS = {"user": "user_id", "session": "session_id"}
ORDERS = ("ordered", "strict", "any")
BREAKDOWNS = ("channel", "source", "device", "category", "chat")
NO_VALUE = "(none)"
ALL = "all"
GA4_EVENTS = {
    "view_item_list", "view_item", "add_to_cart", "remove_from_cart", "view_cart",
    "begin_checkout", "add_shipping_info", "add_payment_info", "purchase", "refund",
    "chat_started", "handoff_requested", "handoff_resolved", "order_status_changed",
    "return_requested", "page_view", "select_item", "search", "login", "sign_up",
}
RESULT_SCHEMA = {
    "breakdown": pl.Utf8, "step_index": pl.Int64, "step": pl.Utf8, "entered": pl.Int64,
    "converted": pl.Int64, "conversion_from_previous": pl.Float64,
    "conversion_from_first": pl.Float64, "dropped_off": pl.Int64,
    "median_seconds_to_convert": pl.Float64, "p90_seconds_to_convert": pl.Float64,
}


# --- the funnel as data ---------------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)")
_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """'24h', '30m', '7d', '1h30m', '90s', '2w' (or seconds as a number) -> timedelta."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return timedelta(seconds=text)
    compact = str(text).strip().lower().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise InputError(f"{text!r} is not a duration: write it like 24h, 30m, 7d or 1h30m")
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))


def format_duration(value: timedelta) -> str:
    seconds, out = int(value.total_seconds()), ""
    for unit in ("d", "h", "m", "s"):
        amount, seconds = divmod(seconds, _UNIT_SECONDS[unit])
        out += f"{amount}{unit}" if amount else ""
    return out or "0s"


@dataclass
class Step:
    event: str
    where: dict[str, object] = field(default_factory=dict)
    label: str | None = None

    @property
    def title(self) -> str:
        if self.label:
            return self.label
        conditions = ", ".join(f"{k}={v}" for k, v in self.where.items())
        return f"{self.event} ({conditions})" if conditions else self.event

    def to_dict(self) -> dict:
        return {"event": self.event, "where": dict(self.where), "label": self.label}

    @classmethod
    def from_dict(cls, data: dict | str) -> "Step":
        if isinstance(data, str):
            return cls(data)
        if not isinstance(data, dict) or "event" not in data:
            raise InputError(f"a step needs an event name, got {data!r}")
        return cls(str(data["event"]), dict(data.get("where") or {}), data.get("label"))


@dataclass
class Funnel:
    steps: list[Step]
    window: timedelta = timedelta(hours=24)
    order: Literal["ordered", "strict", "any"] = "ordered"
    unit: Literal["user", "session"] = "user"
    exclusions: list[Step] = field(default_factory=list)
    breakdown: str | None = None

    def __post_init__(self):
        self.steps = [s if isinstance(s, Step) else Step.from_dict(s) for s in self.steps]
        self.exclusions = [s if isinstance(s, Step) else Step.from_dict(s)
                           for s in self.exclusions]
        self.window = parse_duration(self.window)
        if not self.steps:
            raise InputError("a funnel needs at least one step")
        if self.window <= timedelta(0):
            raise InputError("the conversion window must be longer than zero")
        if self.order not in ORDERS:
            raise InputError(f"order must be one of {', '.join(ORDERS)}, not {self.order!r}")
        if self.unit not in UNIT_COLUMNS:
            raise InputError(f"unit must be user or session, not {self.unit!r}")
        if self.breakdown is not None and self.breakdown not in BREAKDOWNS \
                and self.breakdown not in EVENT_SCHEMA:
            raise InputError(f"cannot break down by {self.breakdown!r}: use one of "
                             f"{', '.join(BREAKDOWNS)} or an event column")

    def to_dict(self) -> dict:
        return {"steps": [s.to_dict() for s in self.steps],
                "window": format_duration(self.window), "order": self.order,
                "unit": self.unit, "exclusions": [s.to_dict() for s in self.exclusions],
                "breakdown": self.breakdown}

    @classmethod
    def from_dict(cls, data: dict) -> "Funnel":
        known = {"steps", "window", "order", "unit", "exclusions", "breakdown"}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"unknown funnel fields: {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in data.items() if v is not None})

    def unknown_events(self) -> list[str]:
        """Step events that are not Aisle/GA4 names: allowed (outside logs), worth a warning."""
        return [s.event for s in self.steps + self.exclusions if s.event not in GA4_EVENTS]


# --- matching events to steps -----------------------------------------------------------------

def _as_text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def step_matches(step: Step) -> pl.Expr:
    """True for the events that fill ``step``: its name, and every ``where`` condition (a
    column, or else a key of the JSON properties; a list means any of its values)."""
    match = pl.col("name") == step.event
    for key, wanted in step.where.items():
        if key in EVENT_SCHEMA:
            have = pl.col(key).cast(pl.Utf8)
            if EVENT_SCHEMA[key] == pl.Boolean:
                have = have.str.to_lowercase()
        else:
            have = pl.col("properties").str.json_path_match(f"$.{key}")
        values = wanted if isinstance(wanted, (list, tuple, set)) else [wanted]
        match &= have.is_in([_as_text(v) for v in values]).fill_null(False)
    return match


def breakdown_values(breakdown: str | None) -> pl.Expr:
    if breakdown is None:
        return pl.lit(ALL)
    if breakdown == "chat":
        return pl.when(pl.col("conversation_id").is_not_null()).then(pl.lit("chat")) \
            .otherwise(pl.lit("no chat"))
    return pl.col(breakdown).cast(pl.Utf8).fill_null(NO_VALUE)


def _may_share_events(a: Step, b: Step) -> bool:
    """Could one event match both steps? (Then an attempt must not use it twice.)"""
    return a.event == b.event and all(
        {_as_text(v) for v in (a.where[k] if isinstance(a.where[k], (list, tuple, set))
                               else [a.where[k]])}
        & {_as_text(v) for v in (b.where[k] if isinstance(b.where[k], (list, tuple, set))
                                 else [b.where[k]])}
        for k in set(a.where) & set(b.where))


# --- preparing the events: one lazy plan, one sort ------------------------------------------

def prepare(events: pl.LazyFrame, funnel: Funnel, *, exact: bool = False) -> pl.LazyFrame:
    """The funnel's events, unsorted: unit key, ts (µs), step flags m0.., exclusion flag x
    and breakdown value b."""
    unit = UNIT_COLUMNS[funnel.unit]
    steps = [step_matches(s).alias(f"m{k}") for k, s in enumerate(funnel.steps)]
    excluded = pl.any_horizontal([step_matches(s) for s in funnel.exclusions]) \
        if funnel.exclusions else pl.lit(False)
    lf = events.filter(pl.col(unit).is_not_null())
    if funnel.order != "strict":  # strict funnels need every event: nothing may come between
        names = sorted({s.event for s in funnel.steps + funnel.exclusions})
        lf = lf.filter(pl.col("name").is_in(names))
    # Units are keyed by a 64-bit hash (strings are slow to sort); a second, independent hash
    # rides along so that _sorted_log can prove that no two ids shared a key.
    key = pl.col(unit).cast(pl.Categorical).to_physical().cast(pl.UInt64) if exact \
        else pl.col(unit).hash(seed=1)
    return lf.select(key.alias("unit"), pl.col(unit).hash(seed=2).alias("unit_check"),
                     pl.col("ts").dt.epoch("us").alias("ts"), *steps, excluded.alias("x"),
                     breakdown_values(funnel.breakdown).alias("b"))


def _sorted_log(events: pl.LazyFrame, funnel: Funnel, engine: str) -> "_Log | None":
    """Sort once by (unit, time), stable so that ties keep the log's order (numpy's lexsort
    of two integer columns beats a general multi-column sort); the breakdown strings stay
    put: only the first touch of each unit is looked up. Exact ids replace the hash in the
    (about one in 10^12 for a million users) case that two ids shared one."""
    for exact in (False, True):
        raw = prepare(events, funnel, exact=exact).collect(engine=engine)
        if raw.height == 0:
            return None
        unit = raw["unit"].to_numpy()
        order = np.lexsort((raw["ts"].to_numpy(), unit))
        unit, check = unit[order], raw["unit_check"].to_numpy()[order]
        clash = (unit[1:] == unit[:-1]) & (check[1:] != check[:-1])
        if exact or not clash.any():
            return _Log(raw, order, len(funnel.steps))
    return None


class _Log:
    """The sorted events as numpy arrays, with one sentinel row at the end (index n) that
    every "next" pointer falls to when there is no such event: no nulls, only gathers."""

    def __init__(self, raw: pl.DataFrame, order: np.ndarray, n_steps: int):
        n = self.n = raw.height
        self.unit = _padded(raw["unit"], order, np.iinfo(np.uint64).max)
        self.ts = _padded(raw["ts"], order, np.iinfo(np.int64).max // 2)
        self.flags = [_padded(raw[f"m{k}"], order, False) for k in range(n_steps)]
        self.excluded = _padded(raw["x"], order, False)
        self.b, self.row = raw["b"], order
        # row numbers in 32 bits while they fit: half the memory for 100M-event logs
        self.index = np.arange(n + 1, dtype=np.int32 if n < 2**31 - 1 else np.int64)
        new = np.ones(n + 1, dtype=bool)
        new[1:] = (self.unit[1:] != self.unit[:-1]) | (self.ts[1:] != self.ts[:-1])
        self.tie_start = np.maximum.accumulate(np.where(new, self.index, 0))
        last = np.append(new[1:], True)  # last row of its (unit, ts) group
        self.tie_end = np.minimum(self._next_true(last) + 1, n)  # first row after the group
        self.next = [self._next_true(f) for f in self.flags]
        self.next_x = self._next_true(self.excluded)

    def _next_true(self, flags: np.ndarray) -> np.ndarray:
        """For each row i, the smallest j >= i with flags[j] (else the sentinel n)."""
        marked = np.where(flags, self.index, self.n)
        marked[-1] = self.n
        return np.minimum.accumulate(marked[::-1])[::-1]

    def same_unit(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.unit[a] == self.unit[b]


def _padded(column: pl.Series, order: np.ndarray, sentinel) -> np.ndarray:
    values = column.to_numpy()
    out = np.empty(len(order) + 1, dtype=values.dtype)
    out[:-1] = values[order]
    out[-1] = sentinel
    return out


# --- attempts --------------------------------------------------------------------------------

def _ordered(log: _Log, funnel: Funnel, start: np.ndarray) -> list[np.ndarray]:
    window = _window_us(funnel)
    positions, alive = [start], np.ones(len(start), dtype=bool)
    for k in range(1, len(funnel.steps)):
        q = log.next[k][log.tie_start[positions[-1]]]
        sharing = [j for j in range(k) if _may_share_events(funnel.steps[j], funnel.steps[k])]
        for _ in sharing:  # skip events this attempt already used for an earlier step
            used = np.zeros(len(q), dtype=bool)
            for j in sharing:
                used |= q == positions[j]
            q = np.where(used, log.next[k][np.minimum(q + 1, log.n)], q)
        alive &= (q < log.n) & log.same_unit(q, start) & (log.ts[q] - log.ts[start] <= window)
        positions.append(np.where(alive, q, log.n))
    return positions


def _strict(log: _Log, funnel: Funnel, start: np.ndarray) -> list[np.ndarray]:
    window = _window_us(funnel)
    positions, alive = [start], np.ones(len(start), dtype=bool)
    for k in range(1, len(funnel.steps)):
        q = np.minimum(positions[-1] + 1, log.n)
        alive &= (q < log.n) & log.flags[k][q] & log.same_unit(q, start) \
            & (log.ts[q] - log.ts[start] <= window)
        positions.append(np.where(alive, q, log.n))
    return positions


def _any_order(log: _Log, funnel: Funnel, start: np.ndarray) -> list[np.ndarray]:
    """Each step's first event at or after the start; then sorted by time, so that
    "position k" is the event that completed k different steps."""
    window = _window_us(funnel)
    firsts = []
    for k in range(len(funnel.steps)):
        q = log.next[k][log.tie_start[start]]
        ok = (q < log.n) & log.same_unit(q, start) & (log.ts[q] - log.ts[start] <= window)
        firsts.append(np.where(ok, q, log.n))
    stacked = np.stack(firsts, axis=1)
    order = np.argsort(log.ts[stacked], axis=1, kind="stable")
    ranked = np.take_along_axis(stacked, order, axis=1)
    return [ranked[:, k] for k in range(len(funnel.steps))]


def _window_us(funnel: Funnel) -> int:
    return int(funnel.window / timedelta(microseconds=1))


def _void(log: _Log, start: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Attempts with an exclusion event strictly after the start, strictly before the last
    step reached."""
    x = log.next_x[log.tie_end[start]]
    return (x < log.n) & log.same_unit(x, start) & (log.ts[x] < log.ts[last])


# --- from attempts to units to steps ---------------------------------------------------------

def _dominated(log: _Log, funnel: Funnel, start: np.ndarray) -> np.ndarray:
    """Starts that cannot be a unit's counted attempt, in ordered funnels without exclusions
    where step 1 shares no event with a later step: starts that find the same step-2 event
    walk the same chain, and the latest of them reaches at least as far (its window ends
    later) and wins ties, so only the latest of each such run needs walking."""
    if funnel.order != "ordered" or funnel.exclusions or len(funnel.steps) < 2 or any(
            _may_share_events(funnel.steps[0], s) for s in funnel.steps[1:]):
        return np.zeros(len(start), dtype=bool)
    second = log.next[1][log.tie_start[start]]
    same_run = (second[1:] == second[:-1]) & (log.unit[start[1:]] == log.unit[start[:-1]])
    return np.r_[same_run, False]


def _best_attempts(log: _Log, funnel: Funnel) -> pl.DataFrame:
    """One row per unit: breakdown (first touch), steps reached, seconds between steps."""
    flags = log.flags[0] if funnel.order != "any" else np.logical_or.reduce(log.flags)
    start = np.flatnonzero(flags[:log.n])  # in (unit, time) order
    if len(start) == 0:
        return pl.DataFrame()
    unit = log.unit[start]
    first_touch = start[np.r_[True, unit[1:] != unit[:-1]]]
    start = start[~_dominated(log, funnel, start)]
    walk = {"ordered": _ordered, "strict": _strict, "any": _any_order}[funnel.order]
    positions = np.stack(walk(log, funnel, start), axis=1)
    reached = (positions < log.n).sum(axis=1)  # steps are filled in order: a prefix
    if funnel.exclusions:
        last = np.take_along_axis(positions, (reached - 1)[:, None], axis=1)[:, 0]
        reached = np.where(_void(log, start, last), 0, reached)
    unit = log.unit[start]
    first_of_unit = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]])
    unit_of = np.repeat(np.arange(len(first_of_unit)),
                        np.diff(np.r_[first_of_unit, len(start)]))
    best_reached = np.maximum.reduceat(reached, first_of_unit)
    best = np.flatnonzero(reached == best_reached[unit_of])
    chosen = best[np.r_[unit_of[best][1:] != unit_of[best][:-1], True]]  # latest best
    columns = {"b": log.b.gather(log.row[first_touch]), "reached": best_reached}
    for k in range(1, len(funnel.steps)):
        a, z = positions[chosen, k - 1], positions[chosen, k]
        columns[f"dt{k}"] = np.where(z < log.n, (log.ts[z] - log.ts[np.minimum(a, log.n)])
                                     / 1e6, np.nan)
    return pl.DataFrame(columns).filter(pl.col("reached") > 0).with_columns(
        pl.col(f"dt{k}").fill_nan(None) for k in range(1, len(funnel.steps)))


def _step_table(units: pl.DataFrame, funnel: Funnel) -> pl.DataFrame:
    n = len(funnel.steps)
    per_step = []
    for k in range(1, n + 1):
        reached = pl.col("reached") >= k
        seconds = pl.col(f"dt{k - 1}").filter(reached) if k > 1 else pl.lit(None,
                                                                             pl.Float64)
        per_step.append(units.group_by("b").agg(
            pl.lit(k, pl.Int64).alias("step_index"),
            reached.sum().cast(pl.Int64).alias("entered"),
            seconds.median().alias("median_seconds_to_convert"),
            seconds.quantile(0.9, "linear").alias("p90_seconds_to_convert")))
    table = pl.concat(per_step).with_columns(pl.col("b").cast(pl.Utf8).alias("breakdown"))
    return _conversions(table, funnel)


def _conversions(table: pl.DataFrame, funnel: Funnel) -> pl.DataFrame:
    titles = [s.title for s in funnel.steps] if funnel.order != "any" else \
        [f"{k} of {len(funnel.steps)} steps" for k in range(1, len(funnel.steps) + 1)]
    by = pl.col("breakdown")
    table = table.sort(["breakdown", "step_index"])
    nxt = pl.col("entered").shift(-1).over(by)
    prev = pl.col("entered").shift(1).over(by)
    first = pl.col("entered").first().over(by)
    return table.with_columns(
        pl.col("step_index").replace_strict(list(range(1, len(titles) + 1)), titles)
        .alias("step"),
        nxt.fill_null(pl.col("entered")).alias("converted"),
        _ratio(pl.col("entered"), prev.fill_null(pl.col("entered")))
        .alias("conversion_from_previous"),
        _ratio(pl.col("entered"), first).alias("conversion_from_first"),
        (pl.col("entered") - nxt.fill_null(pl.col("entered"))).alias("dropped_off"),
    ).select(list(RESULT_SCHEMA)).cast(RESULT_SCHEMA)


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num / den).otherwise(0.0)


def _sort_breakdowns(table: pl.DataFrame) -> pl.DataFrame:
    """Biggest group first (by units entering step 1), then by name, steps in order."""
    size = pl.col("entered").filter(pl.col("step_index") == 1).first().over("breakdown")
    return table.sort([size, "breakdown", "step_index"], descending=[True, False, False])


def compute_funnel(events: pl.LazyFrame, funnel: Funnel, *,
                   engine: str = "auto") -> pl.DataFrame:
    """One row per (breakdown value, step); see the module docstring for the semantics.

    ``engine="streaming"`` reads and filters the events with polars' streaming engine, for
    logs bigger than memory; only the funnel's own events are then held."""
    log = _sorted_log(events, funnel, engine)
    if log is None:
        return pl.DataFrame(schema=RESULT_SCHEMA)
    units = _best_attempts(log, funnel)
    if units.height == 0 or "reached" not in units.columns:
        return pl.DataFrame(schema=RESULT_SCHEMA)
    return _sort_breakdowns(_step_table(units, funnel))


# --- command line ---------------------------------------------------------------------------

def _parse_where(items: list[str], steps: list[Step]) -> None:
    for item in items:
        target, sep, condition = item.partition(":")
        key, eq, value = condition.partition("=")
        if not sep or not eq or not key:
            raise InputError(f"--where {item!r}: write it as STEP:key=value "
                             "(e.g. add_to_cart:category=Shoes)")
        chosen = [s for i, s in enumerate(steps, 1) if target in (s.event, str(i))]
        if not chosen:
            raise InputError(f"--where {item!r}: no step {target!r} in --steps")
        for step in chosen:
            step.where[key.strip()] = [v for v in value.split("|")] if "|" in value else value


def funnel_from_args(args) -> Funnel:
    names = [n.strip() for n in (args.steps or "").split(",") if n.strip()]
    if not names:
        raise InputError("--steps needs at least one event name, e.g. "
                         "--steps view_item,add_to_cart,purchase")
    steps = [Step(n) for n in names]
    _parse_where(args.where or [], steps)
    exclusions = [Step(n.strip()) for item in (args.exclude or []) for n in item.split(",")
                  if n.strip()]
    return Funnel(steps, window=parse_duration(args.window), order=args.order,
                  unit=args.unit, exclusions=exclusions, breakdown=args.breakdown)


def _run(args) -> pl.DataFrame:
    from .cli import events_from_args
    from .clickhouse.command import range_from_args, store_from_args, wants_store
    funnel = funnel_from_args(args)
    for name in funnel.unknown_events():
        print(f"warning: {name!r} is not an Aisle/GA4 event name; steps with it match "
              "only events of exactly that name", file=sys.stderr)
    if wants_store(args):  # computed inside ClickHouse (analytics/clickhouse/funnel.py)
        from .clickhouse.funnel import compute_funnel as in_store
        selection = range_from_args(args)
        with store_from_args(args) as store:
            return in_store(store, funnel, **selection)
    return compute_funnel(events_from_args(args, columns=needed_columns(funnel)), funnel)


def needed_columns(funnel: Funnel) -> list[str]:
    """The event columns computing ``funnel`` reads: the JSON properties only when a step
    filters on a key that is not a column (so a database sends them only then)."""
    columns = {"ts", "name", UNIT_COLUMNS[funnel.unit]}
    for step in funnel.steps + funnel.exclusions:
        for key in step.where:
            columns.add(key if key in EVENT_SCHEMA else "properties")
    if funnel.breakdown == "chat":
        columns.add("conversation_id")
    elif funnel.breakdown is not None:
        columns.add(funnel.breakdown)
    return [c for c in EVENT_SCHEMA if c in columns]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "funnel", help="conversion funnel: entered, converted, drop-off, time to convert",
        description="Steps are event names in order; one row per (breakdown, step).")
    parser.add_argument("--steps", required=True, metavar="EVENT,EVENT,...")
    parser.add_argument("--window", default="24h", help="conversion window (default 24h)")
    parser.add_argument("--order", choices=ORDERS, default="ordered")
    parser.add_argument("--unit", choices=list(UNIT_COLUMNS), default="user")
    parser.add_argument("--breakdown", metavar="|".join(BREAKDOWNS))
    parser.add_argument("--where", action="append", metavar="STEP:key=value",
                        help="property filter on a step (by event name or 1-based index); "
                             "a|b for any of several values; repeatable")
    parser.add_argument("--exclude", action="append", metavar="EVENT",
                        help="exclusion step: attempts with this event between their first "
                             "and last step do not count; repeatable")
    from .clickhouse.command import add_store_option
    add_store_option(parser)
    parser.set_defaults(handler=_run)
