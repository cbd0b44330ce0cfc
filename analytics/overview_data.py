"""What the Overview reads, without holding the events (issue 18).

The Overview's numbers need every event of a period only for counts: events, distinct
sessions, conversations and carts started. The rest comes from a few rows: the purchases,
and the cart events that decide which carts were abandoned. So ``OverviewWindow`` reads the
window's events once, five narrow columns (time, name, session, conversation, cart) plus
the channel, batch by batch, and keeps of each batch only

- ``visits``: one row per (day, channel, session, conversation, cart started) with its
  number of events: distinct counts of any run of whole days and any channels come from it;
- ``cart_steps``: the cart events (``abandonment.STEP_RANK``): time, name, cart, channel;

and reads the purchase events (every column the KPIs use) with a second, indexed query.
Peak memory is set by those, not by the events. A refresh (``ttl``) drops the last day held
and reads again from its midnight: only the newest events travel.

``period(start, end, channels)`` gives a ``PeriodEvents`` for whole days of the window;
``analytics.overview.kpis_of`` turns it into ``Kpis`` with the same numbers as
``overview.kpis`` and ``abandonment.abandoned_carts`` on the loaded events
(tests/analytics/test_overview_data.py checks it on SQLite, PostgreSQL and Parquet).

Not seen by a refresh, as with ``EventCache``: events written with a time before the last
day held (a backfill) and deletions; ``reload()`` reads the window again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

import polars as pl

from .abandonment import STEP_RANK, abandoned_count, departures
from .loaders import _is_postgres, _pg_literal, is_database_url, load_events
from .overview import PURCHASE, Kpis, currency_of, kpis_of
from .schema import SITE_CHANNEL

SCAN_COLUMNS = ["ts", "name", "session_id", "conversation_id", "cart_id", "channel"]
PURCHASE_COLUMNS = ["ts", "event_id", "order_number", "session_id", "cart_id", "value",
                    "currency", "channel"]


@dataclass(frozen=True)
class PeriodEvents:
    """One period's events as the Overview needs them."""

    start: datetime
    end: datetime
    events: int  # every event of the period (0: nothing to show)
    sessions: int  # distinct session ids
    carts: int  # distinct cart ids of add_to_cart events
    conversation_ids: pl.Series  # distinct conversation ids
    purchases: pl.DataFrame  # the purchase events, in time order (PURCHASE_COLUMNS, name)
    departures: pl.DataFrame  # per cart with activity: abandoned_at, purchased_at


@dataclass(frozen=True)
class _Held:
    visits: pl.DataFrame  # distinct (day, channel, session, conversation, cart started)
    counts: pl.DataFrame  # events per day and channel
    cart_steps: pl.DataFrame
    purchases: pl.DataFrame
    last: datetime | None  # the newest event read


class OverviewWindow:
    """The Overview's reduction of ``source``'s events from ``start`` (a midnight) on."""

    def __init__(self, source: str, start: datetime | None, *, ttl: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        if start is not None and start != _midnight(start):
            raise ValueError("an Overview window starts at midnight")
        self.source, self.start, self.ttl, self._clock = source, start, ttl, clock
        self._lock = threading.Lock()
        self._held: _Held | None = None
        self._periods: tuple[_Held | None, dict] = (None, {})  # period()'s answers per read
        self._read_tick = 0.0
        self.read_at: datetime | None = None  # wall clock (UTC) of the last read
        self.reads: list[dict] = []  # what each read fetched (for tests and logs)

    @property
    def last(self) -> datetime | None:
        """The newest event held (None: none)."""
        return self._current().last

    def channels(self) -> list[str]:
        """The channels of the window's events (``site``: the shop's own pages)."""
        return sorted(self._current().visits.get_column("channel").unique().to_list())

    def period(self, start: datetime, end: datetime,
               channels: Iterable[str] | None = None) -> PeriodEvents:
        """The events with ``start <= ts < end`` (midnights within the window) on
        ``channels`` (None or empty: all)."""
        if start != _midnight(start) or end != _midnight(end):
            raise ValueError("Overview periods are whole days")
        if self.start is not None and start < self.start:
            raise ValueError(f"the window starts at {self.start}, after {start}")
        held = self._current()
        wanted = [c for c in channels or [] if c]
        key = (start, end, tuple(sorted(set(wanted))))
        if self._periods[0] is not held:  # a new read: what was worked out is stale
            self._periods = (held, {})
        if key not in self._periods[1]:  # the page asks for the same period twice or more
            self._periods[1][key] = self._period(held, start, end, wanted)
        return self._periods[1][key]

    def _period(self, held: _Held, start: datetime, end: datetime,
                wanted: list[str]) -> PeriodEvents:
        on = pl.col("channel").is_in(wanted) if wanted else pl.lit(True)
        in_days = (pl.col("day") >= start.date()) & (pl.col("day") < end.date())
        in_time = (pl.col("ts") >= start) & (pl.col("ts") < end)
        visits = held.visits.filter(in_days, on)
        purchases = held.purchases.filter(in_time, on)
        steps = held.cart_steps.filter(in_time, on)
        counts = visits.select(
            pl.col("session_id").drop_nulls().n_unique().alias("sessions"),
            pl.col("cart_started").drop_nulls().n_unique().alias("carts")).row(0, named=True)
        events = held.counts.filter(in_days, on).get_column("events").sum()
        purchases = purchases.with_columns(pl.lit(PURCHASE).alias("name"))
        cart_events = pl.concat([steps, purchases.select(steps.columns)],
                                how="vertical_relaxed")
        return PeriodEvents(
            start, end, int(events or 0), counts["sessions"], counts["carts"],
            visits.get_column("conversation_id").drop_nulls().unique(), purchases,
            departures(cart_events.lazy()).collect())

    def main_currency(self, start: datetime, end: datetime,
                      channels: Iterable[str] | None = None) -> str | None:
        """The Overview's currency: ``overview.main_currency`` of the period's events, else
        of the whole window's (every channel, to the last event)."""
        held = self._current()
        wanted = [c for c in channels or [] if c]
        for first, last, on in ((start, end, wanted), (self.start, None, [])):
            rows = held.purchases.filter(
                pl.col("ts") >= first if first is not None else pl.lit(True),
                pl.col("ts") < last if last is not None else pl.lit(True),
                pl.col("channel").is_in(on) if on else pl.lit(True),
                pl.col("currency").is_not_null())
            if rows.height:  # the purchases decide
                return currency_of(rows.group_by("currency").agg(
                    pl.len().alias("purchases"), pl.len().alias("events")))
            currency = currency_of(self.currency_counts(first, last, on))
            if currency:
                return currency
        return None

    def currency_counts(self, start: datetime, end: datetime | None = None,
                        channels: Iterable[str] | None = None) -> pl.DataFrame:
        """Events with a currency and purchases per currency (``overview.currency_of``),
        read from the source: the held rows know the purchases' currencies only."""
        wanted = [c for c in channels or [] if c] or None
        events = (load_events(self.source, start=start, end=end, channels=wanted,
                              columns=["name", "currency"])
                  .filter(pl.col("currency").is_not_null()))
        return (events.group_by("currency")
                .agg(pl.len().cast(pl.Int64).alias("events"),
                     (pl.col("name") == PURCHASE).sum().cast(pl.Int64).alias("purchases"))
                .collect())

    def reload(self) -> None:
        with self._lock:
            self._held = None
        self._current()

    # --- the reads ----------------------------------------------------------------------

    def _current(self) -> _Held:
        with self._lock:
            if self._held is None:
                self._held = self._read(self.start)
                self._mark_read()
            elif self._clock() - self._read_tick >= self.ttl:
                self._refresh()
            return self._held

    def _mark_read(self) -> None:
        self._read_tick = self._clock()
        self.read_at = datetime.now(timezone.utc).replace(tzinfo=None)

    def _refresh(self) -> None:
        """Read the last day held (and anything after it) again."""
        held = self._held
        if not is_database_url(self.source):  # a file does not change under us
            self._mark_read()
            return
        if held.last is None:
            self._held = self._read(self.start)
        else:
            day = _midnight(held.last)
            fresh = self._read(day)
            keep_day, keep_ts = pl.col("day") < day.date(), pl.col("ts") < day
            self._held = _Held(
                pl.concat([held.visits.filter(keep_day), fresh.visits]),
                pl.concat([held.counts.filter(keep_day), fresh.counts]),
                pl.concat([held.cart_steps.filter(keep_ts), fresh.cart_steps]),
                pl.concat([held.purchases.filter(keep_ts), fresh.purchases]),
                fresh.last or held.last)
        self._mark_read()

    def _read(self, start: datetime | None) -> _Held:
        from concurrent.futures import ThreadPoolExecutor
        plan = None
        with ThreadPoolExecutor(max_workers=1) as pool:  # the purchases meanwhile: the
            # server finds them through the (name, ts) index while the scan is decoded
            purchases = pool.submit(lambda: load_events(
                self.source, start=start, names=[PURCHASE], columns=PURCHASE_COLUMNS).collect())
            if is_database_url(self.source) and _is_postgres(self.source):
                visits, counts, steps, last, plan = _read_postgres(self.source, start)
            else:
                visits, counts, steps, last = _reduce(load_events(
                    self.source, start=start, columns=SCAN_COLUMNS).collect())
            purchases = purchases.result()
        self.reads.append({"start": start, "visits": visits.height, "cart_steps": steps.height,
                           "purchases": purchases.height, "plan": plan})
        return _Held(visits, counts, steps, purchases, last)


def period_kpis(period: PeriodEvents, *, currency: str | None, now: datetime,
                tracker_ids: pl.Series | None = None) -> Kpis:
    """``overview.kpis`` of the period, with its abandoned carts as of ``now`` and the
    conversations of the events and of Rasa's tracker (``tracker_ids``) counted once."""
    ids = period.conversation_ids
    if tracker_ids is not None:
        ids = pl.concat([ids, tracker_ids.drop_nulls().cast(pl.Utf8)]).unique()
    return kpis_of(period.sessions, period.carts, period.purchases.lazy(),
                   abandoned_carts=abandoned_count(period.departures, now=now),
                   currency=currency, conversations=ids.len())


def _midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.date(), datetime.min.time())


_STEP_NAMES = list(STEP_RANK)


def _reduce(events: pl.DataFrame) -> tuple:
    """(visits, events per day and channel, cart steps, newest time) of conformed events
    (SCAN_COLUMNS)."""
    events = events.with_columns(pl.col("ts").dt.date().alias("day"),
                                 pl.col("channel").fill_null(SITE_CHANNEL))
    cart_started = pl.when(pl.col("name") == "add_to_cart").then(pl.col("cart_id"))
    visits = events.select("day", "channel", "session_id", "conversation_id",
                           cart_started.alias("cart_started")).unique()
    counts = events.group_by("day", "channel").agg(pl.len().cast(pl.Int64).alias("events"))
    steps = (events.filter(pl.col("cart_id").is_not_null(), pl.col("name").is_in(_STEP_NAMES))
             .select("ts", "name", "cart_id", "channel",
                     pl.lit(None, dtype=pl.Int64).alias("value")))
    return visits, counts, steps, events.get_column("ts").max()


def _combine(parts: list[tuple]) -> tuple:
    if not parts:
        return _reduce(pl.DataFrame(schema=_SCAN_SCHEMA))
    visits = pl.concat([p[0] for p in parts]).unique()
    counts = (pl.concat([p[1] for p in parts]).group_by("day", "channel")
              .agg(pl.col("events").sum()))
    steps = pl.concat([p[2] for p in parts]).sort("ts", maintain_order=True)
    lasts = [p[3] for p in parts if p[3] is not None]
    return visits, counts, steps, max(lasts) if lasts else None


_SCAN_SCHEMA = {"ts": pl.Datetime("us"), "name": pl.Utf8, "session_id": pl.Utf8,
                "conversation_id": pl.Utf8, "cart_id": pl.Utf8, "channel": pl.Utf8}


SCAN_CONNECTIONS = 2  # PostgreSQL reads the window in this many parts at once
SCAN_PLAN = "auto"  # "pages", "time", or "auto": by the table's physical order (below)
TIME_ORDERED = 0.9  # the correlation of ts with the rows' places from which "time" is chosen

# How the events table lies: its pages, how closely the order of its rows follows ts
# (PostgreSQL's own statistic, kept by ANALYZE and autovacuum; NULL before the first) and
# the newest event (from the index on ts).
_TABLE_FACTS = """SELECT
    to_regclass('event_visits') IS NOT NULL AS has_visits,
    (pg_relation_size('events') / current_setting('block_size')::int)::bigint AS pages,
    (SELECT correlation FROM pg_stats WHERE schemaname = current_schema()
        AND tablename = 'events' AND attname = 'ts') AS correlation,
    (SELECT max(ts) FROM events) AS last"""


def _scan_plan(facts: dict, start: datetime | None) -> str:
    """``time`` when the rows lie in time order (a live shop appends them so) and the
    window has a start: each backend reads a slice of time, which the index on ts finds
    in a contiguous run of pages, so pages before the window are never read. Otherwise
    ``pages``: the table split into ranges of pages, each read whole. Either plan is right
    on any layout (a row is in one slice of time and on one page); the order only decides
    which is faster."""
    if SCAN_PLAN != "auto":
        return SCAN_PLAN
    ordered = facts["correlation"] is not None and facts["correlation"] >= TIME_ORDERED
    return "time" if ordered and start is not None and facts["last"] is not None else "pages"


def _page_ranges(pages: int, connections: int) -> list[list[str]]:
    step = -(-int(pages or 0) // connections) if connections > 1 else 0
    if not step:
        return [[]]
    ranges = [[f"ctid >= '({i * step},0)'::tid"] if i else [] for i in range(connections)]
    for i, bounds in enumerate(ranges[:-1]):
        bounds.append(f"ctid < '({(i + 1) * step},0)'::tid")
    return ranges


def _time_ranges(start: datetime, last: datetime, connections: int) -> list[list[str]]:
    """Slices of [start, last] of equal length, the last one open (events written since)."""
    cuts = [start + (last - start) * i / connections for i in range(1, connections)
            if last > start]
    edges = [start, *cuts]
    return [[f"ts >= {_pg_literal(low)}"] + ([f"ts < {_pg_literal(edges[i + 1])}"]
                                             if i + 1 < len(edges) else [])
            for i, low in enumerate(edges)]


VISITS = "auto"  # "table": the daily visits PostgreSQL keeps; "scan": from the events;
# "auto": the table where the shop's migrations made it (PostgreSQL 15 or later)


def _read_postgres(url: str, start: datetime | None):
    """The reduction of the window from PostgreSQL, and how it was read ("visits", or the
    scan's plan)."""
    from .sources.postgres import read_arrow
    facts = read_arrow(url, _TABLE_FACTS).row(0, named=True)
    if VISITS == "table" or (VISITS == "auto" and facts["has_visits"]):
        return (*_read_visits(url, start, facts["last"]), "visits")
    return _scan_postgres(url, start, facts=facts)


def _read_visits(url: str, start: datetime | None, last: datetime | None) -> tuple:
    """The window's visits and events per day from ``event_visits`` (migration 0012: rows
    of visits and their events, kept by triggers as events are written), and its cart
    steps through the index on (name, ts): the rows of the events table the Overview needs
    one by one. Read side by side, each through its own backend."""
    from concurrent.futures import ThreadPoolExecutor

    from .sources.postgres import read_arrow
    since_day = f" WHERE day >= DATE '{start.date().isoformat()}'" if start else ""
    since = [f"ts >= {_pg_literal(start)}"] if start is not None else []
    steps_where = " AND ".join([f"name IN ({', '.join(map(_pg_literal, _STEP_NAMES))})",
                                "cart_id IS NOT NULL", *since])
    queries = [
        "SELECT day, channel, session_id, conversation_id, cart_started, events, compact "
        f"FROM event_visits{since_day}",
        f"SELECT ts, name, cart_id, channel FROM events WHERE {steps_where}"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        rows, steps = pool.map(lambda query: read_arrow(url, query), queries)
    rows = rows.cast(_VISITS_SCHEMA, strict=False)
    counts = rows.group_by("day", "channel").agg(pl.col("events").sum().cast(pl.Int64))
    key = [c for c in rows.columns if c not in ("events", "compact")]
    if rows.get_column("compact").all():  # one row per visit, each with events
        visits = rows.select(key)
    else:  # rows appended since the last compaction: a visit's events are its rows' sum
        # (a deletion appends negative counts), and a visit with none left is gone
        visits = (rows.group_by(key).agg(pl.col("events").sum())
                  .filter(pl.col("events") > 0).select(key))
    steps = (steps.cast({c: _SCAN_SCHEMA[c] for c in steps.columns}, strict=False)
             .with_columns(pl.col("channel").fill_null(SITE_CHANNEL),
                           pl.lit(None, dtype=pl.Int64).alias("value"))
             .sort("ts", maintain_order=True))
    newest = last if last is not None and (start is None or last >= start) else None
    return visits, counts, steps, newest


_VISITS_SCHEMA = {"day": pl.Date, "channel": pl.Utf8, "session_id": pl.Utf8,
                  "conversation_id": pl.Utf8, "cart_started": pl.Utf8, "events": pl.Int64,
                  "compact": pl.Boolean}


def _scan_postgres(url: str, start: datetime | None, connections: int | None = None,
                   facts: dict | None = None):
    """One pass over the window through the columnar reader, reduced batch by batch, in
    ``connections`` parts read side by side (one backend alone is the bottleneck): slices
    of time or ranges of pages (ctid ranges: each backend reads only its own pages), as
    ``_scan_plan`` chooses. Returns the reduction and the plan."""
    from concurrent.futures import ThreadPoolExecutor

    from .sources.postgres import read_arrow, read_arrow_batches
    connections = connections or SCAN_CONNECTIONS
    facts = facts or read_arrow(url, _TABLE_FACTS).row(0, named=True)
    plan = _scan_plan(facts, start)
    settings: list[str] = []
    if plan == "time" and start is not None and facts["last"] is not None:
        ranges = _time_ranges(start, facts["last"], connections)
        # the rows lie in time order: the index finds a slice's pages; a sequential scan
        # (which the planner may cost lower for a wide slice) would read every page
        settings = ["SET enable_seqscan = off"]
    else:
        window = [f"ts >= {_pg_literal(start)}"] if start is not None else []
        ranges = [window + bounds for bounds in _page_ranges(facts["pages"], connections)]

    def scan(clauses: list[str]) -> list[tuple]:
        where = " AND ".join(clauses)
        query = f"SELECT {', '.join(SCAN_COLUMNS)} FROM events" + (f" WHERE {where}"
                                                                   if where else "")
        return read_arrow_batches(url, query, lambda batch: _reduce(
            batch.cast(_SCAN_SCHEMA, strict=False)), settings)

    with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
        parts = [part for found in pool.map(scan, ranges) for part in found]
    return (*_combine(parts), plan)
