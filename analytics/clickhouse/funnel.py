"""Ordered funnels computed inside ClickHouse, with exactly the rule of analytics.funnel.

ClickHouse's ``windowFunnel`` counts how far a unit got, but it gives no step times, lets
one event fill a step listed twice, and starts its window at a unit's first step-1 event
rather than trying every one; so the rule of docs/analytics.md is written out instead:

1. ``ranked`` (a Memory table for the query's life): the funnel's events with the unit, the
   time in µs, step flags ``m0..``, exclusion flag ``x``, breakdown value ``b``; ``pos`` is
   the event's rank in its unit by (time, position in the log, event id), and ``tie`` the
   rank of the first event of its unit with the same time;
2. every step-1 event starts an attempt; step k is an ASOF join to the step-k events of the
   unit: the first with ``pos >= tie`` of step k-1's event (the same time counts as in
   order; among events of one time, the first in the log). When step k could match an event
   an earlier step used (same name, overlapping conditions), a further ASOF join takes the
   next one, as often as there are such earlier steps. An attempt stops at the first step
   not found, or found later than ``window`` after its start;
3. exclusions: the first exclusion event strictly after the start (another ASOF join)
   voids the attempt when it is strictly before the last step reached;
4. per unit: the furthest attempt, then the latest (``argMax`` on (steps reached, start
   position)); first touch is the breakdown value of the unit's first step-1 event;
5. per breakdown value and step: units entered, and the median and 90th percentile of
   the seconds from the previous step (``quantileExactInclusive``: linear interpolation
   between ranks, as polars' "linear").

The small per-step table is finished (conversions, drop-off, ordering) by the same polars
code the polars engine ends with, so the two give the same numbers.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable
from datetime import datetime

import polars as pl

from ..funnel import (ALL, NO_VALUE, RESULT_SCHEMA, UNIT_COLUMNS, Funnel, Step, _as_text,
                      _conversions, _may_share_events, _sort_breakdowns)
from ..schema import EVENT_SCHEMA, InputError, SITE_CHANNEL
from .store import sql_string

log = logging.getLogger(__name__)
SENTINEL = 2**62  # a rank no event has: joins on it find nothing
# events a computation holds at once (about 2.3 GB of chdb's memory for 10M events)
BUCKET_EVENTS = 8_000_000
# an ASOF join that finds nothing gives NULLs, not zeros
JOIN_NULLS = "\nSETTINGS join_use_nulls = 1"
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def quote(value: str) -> str:
    """A ClickHouse string literal."""
    return sql_string(str(value))


def _when(value: datetime) -> str:
    return f"toDateTime64({quote(value.strftime('%Y-%m-%d %H:%M:%S.%f'))}, 6, 'UTC')"


def step_sql(step: Step) -> str:
    """The SQL twin of analytics.funnel.step_matches."""
    parts = [f"name = {quote(step.event)}"]
    for key, wanted in step.where.items():
        if key in EVENT_SCHEMA:
            have = f"toString({key})"
            if EVENT_SCHEMA[key] == pl.Boolean:
                have = f"lower({have})"
        elif _KEY.match(key):
            have = f"if(JSONHas(properties, {quote(key)}), " \
                   f"JSON_VALUE(properties, {quote('$.' + key)}), NULL)"
        else:
            raise InputError(f"property {key!r}: the ClickHouse engine takes keys made of "
                             "letters, digits and _")
        values = wanted if isinstance(wanted, (list, tuple, set)) else [wanted]
        parts.append(f"ifNull({have} IN ({', '.join(quote(_as_text(v)) for v in values)}), 0)")
    return "(" + " AND ".join(parts) + ")"


def _breakdown_sql(breakdown: str | None) -> str:
    if breakdown is None:
        return quote(ALL)
    if breakdown == "chat":
        return "if(conversation_id IS NOT NULL, 'chat', 'no chat')"
    if breakdown not in EVENT_SCHEMA:
        raise InputError(f"cannot break down by {breakdown!r}")
    return f"ifNull(toString({breakdown}), {quote(NO_VALUE)})"


def filters_sql(start: datetime | None = None, end: datetime | None = None,
                channels: Iterable[str] | None = None) -> list[str]:
    out = []
    if start is not None:
        out.append(f"ts >= {_when(start)}")
    if end is not None:
        out.append(f"ts < {_when(end)}")
    channels = [c for c in channels or [] if c]
    if channels:
        out.append(f"ifNull(channel, {quote(SITE_CHANNEL)}) IN "
                   f"({', '.join(quote(c) for c in channels)})")
    return out


def funnel_events_sql(funnel: Funnel, filters: list[str]) -> str:
    """The WHERE of the events a funnel reads: a unit, a step's or an exclusion's name, and
    the filters."""
    names = sorted({s.event for s in funnel.steps + funnel.exclusions})
    return " AND ".join([f"{UNIT_COLUMNS[funnel.unit]} IS NOT NULL",
                         f"name IN ({', '.join(quote(n) for n in names)})", *filters])


def ranked_sql(funnel: Funnel, source: str, filters: list[str]) -> str:
    unit = UNIT_COLUMNS[funnel.unit]
    flags = [f"{step_sql(s)} AS m{k}" for k, s in enumerate(funnel.steps)]
    excluded = " OR ".join(step_sql(s) for s in funnel.exclusions) or "0"
    where = funnel_events_sql(funnel, filters)
    return f"""SELECT unit, t, b, {', '.join(f'm{k}' for k in range(len(funnel.steps)))}, x,
       pos, toUInt64(pos - in_tie + 1) AS tie
FROM (
    SELECT {unit} AS unit, toUnixTimestamp64Micro(ts) AS t, {', '.join(flags)},
           toUInt8({excluded}) AS x, {_breakdown_sql(funnel.breakdown)} AS b,
           row_number() OVER (PARTITION BY unit ORDER BY t, seq, event_id) AS pos,
           row_number() OVER (PARTITION BY unit, t ORDER BY seq, event_id) AS in_tie
    FROM {source}
    WHERE {where}
)"""


def _step_events(ranked: str, k: int) -> str:
    return f"(SELECT unit AS ru, pos AS rp, t AS rt, tie AS rtie FROM {ranked} WHERE m{k})"


def attempts_sql(funnel: Funnel, ranked: str) -> str:
    """One row per attempt: unit, start position p0, b, steps reached, times t0.."""
    n = len(funnel.steps)
    window = int(funnel.window.total_seconds() * 1_000_000)
    current = f"SELECT unit, b, pos AS p0, t AS t0, toUInt64(tie) AS key1, toUInt8(1) AS a0 " \
              f"FROM {ranked} WHERE m0"
    for k in range(1, n):
        right = _step_events(ranked, k)
        current = f"""SELECT l.*, r.rp AS q{k}, r.rt AS qt{k}, r.rtie AS qtie{k}
FROM ({current}) AS l ASOF LEFT JOIN {right} AS r ON l.unit = r.ru AND l.key{k} <= r.rp"""
        sharing = [j for j in range(k) if _may_share_events(funnel.steps[j], funnel.steps[k])]
        for _ in sharing:  # skip an event this attempt already used for an earlier step
            used = " OR ".join(f"ifNull(q{k} = p{j}, 0)" for j in sharing)
            current = f"""SELECT l.* EXCEPT (q{k}, qt{k}, qtie{k}, u, rk),
       if(l.u, r.rp, l.q{k}) AS q{k}, if(l.u, r.rt, l.qt{k}) AS qt{k},
       if(l.u, r.rtie, l.qtie{k}) AS qtie{k}
FROM (SELECT *, toUInt8({used}) AS u,
             if(u, assumeNotNull(q{k}) + 1, toUInt64({SENTINEL})) AS rk
      FROM ({current})) AS l
ASOF LEFT JOIN {right} AS r ON l.unit = r.ru AND l.rk <= r.rp"""
        alive = f"toUInt8(ifNull(a{k - 1} AND q{k} IS NOT NULL AND qt{k} - t0 <= {window}, 0))"
        current = f"""SELECT * EXCEPT (q{k}, qt{k}, qtie{k}), {alive} AS a{k},
       if(a{k}, q{k}, NULL) AS p{k}, if(a{k}, qt{k}, NULL) AS t{k},
       if(a{k}, assumeNotNull(qtie{k}), toUInt64({SENTINEL})) AS key{k + 1}
FROM ({current})"""
    reached = " + ".join(f"a{k}" for k in range(n))
    last = "coalesce(" + ", ".join(f"t{k}" for k in reversed(range(n))) + ")"
    current = f"SELECT *, toUInt32({reached}) AS reached, {last} AS t_last FROM ({current})"
    if funnel.exclusions:
        current = f"""SELECT l.* EXCEPT (reached),
       if(r.xt IS NOT NULL AND r.xt < l.t_last, toUInt32(0), l.reached) AS reached
FROM ({current}) AS l
ASOF LEFT JOIN (SELECT unit AS xu, t AS xt FROM {ranked} WHERE x) AS r
    ON l.unit = r.xu AND l.t0 < r.xt"""
    return current


def units_sql(funnel: Funnel, ranked: str) -> str:
    """One row per unit that entered: its first-touch value b, the furthest step reached
    (best) and the seconds between the steps of its chosen attempt (dts)."""
    n = len(funnel.steps)
    deltas = ", ".join(f"toFloat64(t{k} - t{k - 1}) / 1e6" for k in range(1, n)) or "0"
    return f"""SELECT argMin(b, p0) AS b, max(reached) AS best,
       argMax(tuple({deltas}, 0), tuple(reached, p0)) AS dts
FROM ({attempts_sql(funnel, ranked)})
GROUP BY unit
HAVING best > 0"""


def totals_sql(funnel: Funnel, units: str) -> str:
    """Per breakdown value: e1..en (units entered), med2.., p90_2.. (seconds)."""
    n = len(funnel.steps)
    columns = [f"countIf(best >= {k}) AS e{k}" for k in range(1, n + 1)]
    for k in range(2, n + 1):
        dt = f"tupleElement(dts, {k - 1})"
        columns.append(f"quantileExactInclusiveIf(0.5)({dt}, best >= {k}) AS med{k}")
        columns.append(f"quantileExactInclusiveIf(0.9)({dt}, best >= {k}) AS p90_{k}")
    return f"SELECT b, {', '.join(columns)} FROM {units} GROUP BY b"


def funnel_sql(funnel: Funnel, ranked: str) -> str:
    """The whole funnel in one query (units_sql then totals_sql)."""
    return totals_sql(funnel, f"({units_sql(funnel, ranked)})") + JOIN_NULLS


def unit_ranges(store, funnel: Funnel, table: str, filters: list[str],
                bucket_events: int) -> list[list[str]]:
    """Conditions that split the funnel's units into ranges of about ``bucket_events``
    events each, so that a computation holds one range's events in memory whatever the
    shop's size. A unit lies in one range only (ranges are on the unit's value, cut at
    the quantiles of a sample of the events), so per-unit results simply add up. One range
    (no condition) when the events fit."""
    unit = UNIT_COLUMNS[funnel.unit]
    where = funnel_events_sql(funnel, filters)
    # without FINAL: a redelivered copy not yet merged only nudges a boundary
    counted = int(store.query(f"SELECT count() AS n FROM {table} WHERE {where}")["n"][0])
    buckets = -(-counted // max(1, bucket_events))
    if buckets <= 1:
        return [[]]
    sample = store.query(
        f"SELECT arraySort(groupArraySample({buckets * 500}, 42)(assumeNotNull({unit}))) "
        f"AS s FROM {table} WHERE {where}")["s"][0]
    cuts = sorted({sample[len(sample) * i // buckets] for i in range(1, buckets)})
    bounds = [None, *cuts, None]
    # as the sorting key writes the user (ifNull): the key's index then skips other ranges
    key = f"ifNull({unit}, '')"
    return [[c for c in ((f"{key} >= {quote(low)}" if low is not None else None),
                         (f"{key} < {quote(high)}" if high is not None else None)) if c]
            for low, high in zip(bounds, bounds[1:])]


def _long_table(wide: pl.DataFrame, funnel: Funnel) -> pl.DataFrame:
    n = len(funnel.steps)
    rows = []
    for row in wide.iter_rows(named=True):
        for k in range(1, n + 1):
            entered = int(row[f"e{k}"])
            med = row.get(f"med{k}") if k > 1 else None
            p90 = row.get(f"p90_{k}") if k > 1 else None
            if not entered or med != med:  # no unit: no time (NaN from an empty quantile)
                med = p90 = None
            rows.append((row["b"], k, entered, med, p90))
    return pl.DataFrame(rows, schema={"breakdown": pl.Utf8, "step_index": pl.Int64,
                                      "entered": pl.Int64,
                                      "median_seconds_to_convert": pl.Float64,
                                      "p90_seconds_to_convert": pl.Float64}, orient="row")


def _drop(store, *tables: str) -> None:
    """Drop the computation's scratch tables; a failure here (the server gone) must neither
    keep the others nor hide the error that ended the computation."""
    for table in tables:
        try:
            store.execute(f"DROP TABLE IF EXISTS {table}")
        except Exception as error:  # noqa: BLE001 - Memory tables also go with a restart
            log.warning("could not drop the scratch table %s: %s", table, error)


def compute_funnel(store, funnel: Funnel, *, start: datetime | None = None,
                   end: datetime | None = None, channels: Iterable[str] | None = None,
                   table: str = "events", bucket_events: int = BUCKET_EVENTS,
                   progress=None) -> pl.DataFrame:
    """The funnel over ``table`` in ``store`` (analytics.clickhouse.store), in the polars
    engine's result schema. Units are taken a range at a time (``unit_ranges``) when the
    funnel's events exceed ``bucket_events``; ``progress(done, total)`` is told after each."""
    if funnel.order != "ordered":
        raise InputError(f"the ClickHouse engine computes ordered funnels; a {funnel.order} "
                         "funnel needs the polars engine (python -m analytics funnel)")
    name = f"funnel_{uuid.uuid4().hex[:12]}"
    ranked, units = f"{name}_ranked", f"{name}_units"
    filters = filters_sql(start, end, channels)
    ranges = unit_ranges(store, funnel, table, filters, bucket_events)
    try:
        for done, in_range in enumerate(ranges):
            store.execute(f"CREATE TABLE {ranked} ENGINE = Memory AS "
                          + ranked_sql(funnel, f"{table} FINAL", filters + in_range))
            if len(ranges) == 1:
                wide = store.query(funnel_sql(funnel, ranked))
            else:
                store.execute((f"INSERT INTO {units} " if done else
                               f"CREATE TABLE {units} ENGINE = Memory AS ")
                              + units_sql(funnel, ranked) + JOIN_NULLS)
                store.execute(f"DROP TABLE {ranked}")
            if progress is not None:
                progress(done + 1, len(ranges))
        if len(ranges) > 1:
            wide = store.query(totals_sql(funnel, units))
    finally:
        _drop(store, ranked, units)
    if wide.height == 0:
        return pl.DataFrame(schema=RESULT_SCHEMA)
    return _sort_breakdowns(_conversions(_long_table(wide, funnel), funnel))
