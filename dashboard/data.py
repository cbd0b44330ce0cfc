"""Where every page gets its events, conversations and filters from.

The Overview (and the sidebar's list of channels) read one
``analytics.overview_data.OverviewWindow`` per source: the window's events reduced as they
arrive to what the KPIs count (visits, cart steps, purchases), never the events
themselves; it refreshes every ``EVENTS_TTL`` seconds by reading its last day again. The
other pages hold events in an ``analytics.event_cache.EventCache`` per source: the first
page reads the window it shows (the period and the one before it, which the KPIs compare
with), a page asking for earlier days reads only those, and every ``EVENTS_TTL`` seconds
only the events recorded since the last one are added, so new shop events show up within
half a minute without reading everything again. The pages that read the JSON properties (funnel
filters, handoff reasons) use a second cache that holds them; the others never fetch them.
The sidebar (date range, channels) is drawn by ``app.py`` on every run; pages read the
chosen ``Filters`` from ``st.session_state``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import streamlit as st

from analytics.event_cache import LIGHT_COLUMNS, EventCache
from analytics.filters import apply_filters
from analytics.loaders import (default_conversations_source, default_events_source,
                               event_bounds, is_database_url, load_conversations)
from analytics.overview_data import OverviewWindow
from analytics.schema import InputError

EVENTS_TTL = 30  # seconds: short enough that a merchant sees today's orders come in
DEFAULT_DAYS = 30
FILTERS_KEY = "filters"


@dataclass(frozen=True)
class Filters:
    """The date range (both days inclusive, UTC) and channels every page shows."""

    first_day: date
    last_day: date
    channels: tuple[str, ...] = ()  # empty: every channel

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, datetime.min.time())

    @property
    def end(self) -> datetime:  # exclusive, as analytics.filters wants it
        return datetime.combine(self.last_day + timedelta(days=1), datetime.min.time())

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def previous(self) -> Filters:
        """The period of the same length just before, for period-over-period change."""
        return Filters(self.first_day - timedelta(days=self.days),
                       self.first_day - timedelta(days=1), self.channels)

    def label(self) -> str:
        channels = ", ".join(self.channels) if self.channels else "all channels"
        return f"{self.first_day:%d %b %Y} – {self.last_day:%d %b %Y} · {channels}"


def events_source() -> str:
    return default_events_source()


@st.cache_resource(show_spinner=False)
def event_cache(source: str, properties: bool = False) -> EventCache:
    """The process's copy of ``source``'s events (with the JSON properties or without)."""
    return EventCache(source, columns=None if properties else LIGHT_COLUMNS, ttl=EVENTS_TTL)


@st.cache_resource(show_spinner=False)
def _overview_windows() -> dict:
    return {"lock": threading.Lock()}


def overview_window(source: str, start: datetime) -> OverviewWindow:
    """The process's Overview reduction of ``source`` from ``start`` on: one per source, read
    again from an earlier start when a page asks for one."""
    windows = _overview_windows()
    with windows["lock"]:
        window = windows.get(source)
        if window is None or (window.start is not None and start < window.start):
            window = windows[source] = OverviewWindow(source, start, ttl=EVENTS_TTL)
    return window


def window_channels(source: str, start: datetime) -> list[str]:
    """The channels of the events from ``start`` on (what the sidebar offers)."""
    with st.spinner("Loading events…"):
        return overview_window(source, start).channels()


@st.cache_data(ttl=EVENTS_TTL, show_spinner=False)
def bounds(source: str) -> tuple[datetime | None, datetime | None]:
    """The first and last event's time; raises InputError when the source cannot be read."""
    return event_bounds(source)


def events_since(source: str, start: datetime | None, *,
                 properties: bool = False) -> pl.DataFrame:
    """The held events from ``start`` on (the frame may begin earlier)."""
    with st.spinner("Loading events…"):
        return event_cache(source, properties).events(start)


def _tracker_readable(url: str) -> bool:
    if not is_database_url(url) or not url.startswith("sqlite"):
        return is_database_url(url)
    from sqlalchemy.engine import make_url
    database = make_url(url).database
    return bool(database) and Path(database).exists()


@st.cache_data(ttl=EVENTS_TTL, show_spinner=False)
def conversations(url: str) -> pl.DataFrame | None:
    """Rasa tracker events, or None when there is no tracker store to read (the chat
    metrics then come from the shop's own chat events)."""
    if not _tracker_readable(url):
        return None
    try:
        return load_conversations(url)
    except InputError:
        return None


def tracker_url() -> str:
    """Where the chat outcomes' conversations come from: CONVERSATIONS_URL (production: the
    analytics store the consumer of Rasa's events writes), else Rasa's tracker store."""
    return default_conversations_source()


def try_bounds() -> tuple[tuple[date, date] | None, str | None]:
    """((first day, last day) of the data, None), (None, None) without events, or
    (None, why) when the source cannot be read."""
    try:
        first, last = bounds(events_source())
    except InputError as exc:
        return None, str(exc)
    if first is None:
        return None, None
    return (first.date(), last.date()), None


def default_filters(first: date, last: date, today: date | None = None) -> Filters:
    """The last DEFAULT_DAYS days that have data, ending today at the latest (refunds of
    demo orders can lie in the future)."""
    today = today or datetime.utcnow().date()
    if first <= today < last:
        last = today
    return Filters(max(first, last - timedelta(days=DEFAULT_DAYS - 1)), last)


def window_start(filters: Filters) -> datetime:
    """The first instant a page with these filters reads: the period before them too."""
    return filters.previous().start


def read_at(properties: bool = False) -> datetime | None:
    """When the events on screen were read from the source (UTC): the latest read of the
    page's events or of the Overview's window."""
    source = events_source()
    times = [event_cache(source, properties).read_at,
             getattr(_overview_windows().get(source), "read_at", None)]
    return max((t for t in times if t is not None), default=None)


def current_filters() -> Filters | None:
    return st.session_state.get(FILTERS_KEY)


def filtered(events: pl.DataFrame, filters: Filters) -> pl.LazyFrame:
    return apply_filters(events.lazy(), start=filters.start, end=filters.end,
                         channels=list(filters.channels) or None)


def as_of(events: pl.DataFrame, filters: Filters) -> datetime:
    """The moment the period is looked at: its end, or the last event when the period
    reaches into the present. Deterministic for a given log (a static outside log is not
    judged against today's clock)."""
    last = events.select(pl.col("ts").max()).item()
    return min(filters.end, last)


@dataclass(frozen=True)
class PageData:
    """What a page works on: the events held from the period before the filters' on (for
    the comparison and the as-of time: the frame reaches the last event), the filters, and
    the events they select."""

    everything: pl.DataFrame
    filters: Filters
    events: pl.LazyFrame

    @property
    def as_of(self) -> datetime:
        return as_of(self.everything, self.filters)


def page_data(*, properties: bool = False) -> PageData:
    """The page's events (with the JSON properties when the page reads them), or a friendly
    empty state and the end of the page run."""
    filters = _filters_or_stop()
    try:
        everything = events_since(events_source(), window_start(filters),
                                  properties=properties)
    except InputError as exc:
        no_data(f"The dashboard cannot read events yet: {exc}.", "Check `ANALYTICS_EVENTS_URL`.")
    if everything.is_empty():
        no_data(NO_EVENTS, NO_EVENTS_HINT)
    events = filtered(everything, filters)
    if events.select(pl.len()).collect().item() == 0:
        no_period_events(filters)
    return PageData(everything, filters, events)


def overview_page_window() -> tuple[OverviewWindow, Filters]:
    """The Overview's window for the chosen filters (read when needed), or a friendly empty
    state and the end of the page run, as ``page_data``."""
    filters = _filters_or_stop()
    try:
        with st.spinner("Loading events…"):
            window = overview_window(events_source(), window_start(filters))
            last = window.last
    except InputError as exc:
        no_data(f"The dashboard cannot read events yet: {exc}.", "Check `ANALYTICS_EVENTS_URL`.")
    if last is None:
        no_data(NO_EVENTS, NO_EVENTS_HINT)
    return window, filters


NO_EVENTS = "There are no events yet."
NO_EVENTS_HINT = "Events appear here as shoppers browse, chat and buy in the shop."


def _filters_or_stop() -> Filters:
    error = st.session_state.get("events_error")
    filters = current_filters()
    if error:
        no_data(f"The dashboard cannot read events yet: {error}.",
                "Start the shop with `make run`, or point `ANALYTICS_EVENTS_URL` at a "
                "database URL or a Parquet/CSV file of events.")
    if filters is None:
        no_data(NO_EVENTS, NO_EVENTS_HINT)
    return filters


def no_period_events(filters: Filters) -> None:
    no_data(f"No events for {filters.label()}.",
            "Widen the date range or clear the channel filter in the sidebar.")


def no_data(message: str, hint: str) -> None:
    st.info(f"{message}\n\n{hint}", icon=":material/info:")
    st.stop()


# Rasa's input channel names -> the shop's channel names (events.channel)
RASA_CHANNELS = {"socketio": "web", "rest": "web", "callback": "web", "facebook": "messenger",
                 "twilio": "whatsapp", "whatsapp": "whatsapp", "telegram": "telegram",
                 "slack": "slack"}


def filtered_conversations(page: PageData) -> pl.DataFrame | None:
    """The tracker events of the page's period; with a channel filter, those of the
    conversations on those channels (known from the shop's events or Rasa's channel)."""
    return tracker_rows(page.filters, lambda: page.events.select(
        pl.col("conversation_id").drop_nulls().unique()).collect().to_series())


def tracker_rows(f: Filters, event_conversations) -> pl.DataFrame | None:
    """``filtered_conversations`` for the filters ``f``; ``event_conversations()`` gives
    the conversation ids of the period's events (asked only with a channel filter)."""
    tracker = conversations(tracker_url())
    if tracker is None:
        return None
    rows = tracker.filter(pl.col("ts") >= f.start, pl.col("ts") < f.end)
    if f.channels:
        ids = event_conversations()
        channel = (pl.col("input_channel").drop_nulls().first().over("conversation_id")
                   .replace_strict(RASA_CHANNELS, default=None))
        rows = rows.filter(pl.col("conversation_id").is_in(ids.implode())
                           | channel.is_in(list(f.channels)))
    return rows


# --- the ClickHouse analytics store (ANALYTICS_STORE) ---------------------------------------
# With ANALYTICS_STORE set (clickhouse://... or chdb:PATH) the Funnel page, the Abandonment
# page and the Conversations page's chat outcomes are computed inside ClickHouse by
# analytics.clickhouse (the functions the commands' --store runs) for the sidebar's dates
# and channels: a few rows come back, the events are not loaded into polars for them. The
# sidebar and the Overview still read ANALYTICS_EVENTS_URL.


def store_url() -> str | None:
    from analytics.clickhouse.store import default_store_url
    return default_store_url()


def store_label(url: str) -> str:
    """The store's URL without a password, for the page's caption."""
    from analytics.clickhouse.store import server_label
    return server_label(url)


def store_caption(url: str) -> str:
    return f"Computed in ClickHouse (`{store_label(url)}`)"


@st.cache_resource(show_spinner=False)
def _store(url: str) -> dict:
    """One open store per URL for the process (chdb: one process per path), with a lock:
    Streamlit runs each browser session's script in its own thread."""
    from analytics.clickhouse.store import open_store
    return {"store": open_store(url), "lock": threading.Lock()}


def in_store(url: str, compute, *args, **kwargs):
    """``compute(store, *args, **kwargs)`` on the store at ``url``: in chdb one call at a
    time (one engine in this process); a ClickHouse server takes them side by side (the
    computations' scratch tables have names of their own). Whatever fails is an
    ``InputError`` the page shows as a message, naming no part of the URL."""
    try:
        held = _store(url)
        if not url.startswith("chdb:"):
            return compute(held["store"], *args, **kwargs)
        with held["lock"]:
            return compute(held["store"], *args, **kwargs)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a store's own error: say what failed
        raise InputError(f"the ClickHouse store failed ({type(exc).__name__})") from None


def _query(store, sql: str) -> pl.DataFrame:
    return store.query(sql)


def store_sql(url: str, sql: str) -> pl.DataFrame:
    return in_store(url, _query, sql)


def _period_sql(start: datetime | None, end: datetime | None = None,
                channels: tuple[str, ...] = ()) -> str:
    from analytics.clickhouse.funnel import filters_sql
    where = filters_sql(start, end, channels)
    return f" WHERE {' AND '.join(where)}" if where else ""


@st.cache_data(ttl=EVENTS_TTL, show_spinner=False)
def store_overview(url: str, start: datetime, end: datetime,
                   channels: tuple[str, ...]) -> tuple[datetime | None, int]:
    """(the store's latest event, the period's events)."""
    from analytics.clickhouse.funnel import filters_sql
    period = " AND ".join(filters_sql(start, end, channels))
    row = store_sql(url, f"SELECT max(ts) AS last, countIf({period}) AS n, count() AS total "
                         "FROM events FINAL").row(0, named=True)
    if not row["total"]:
        return None, 0
    last = row["last"]
    return (last.replace(tzinfo=None) if getattr(last, "tzinfo", None) else last), row["n"]


@dataclass(frozen=True)
class StorePage:
    """What a page computed in ClickHouse works on: the store, the filters, and the moment
    the period is looked at (as ``PageData.as_of``: the period's end, or the last event)."""

    url: str
    filters: Filters
    as_of: datetime

    @property
    def selection(self) -> dict:
        return {"start": self.filters.start, "end": self.filters.end,
                "channels": list(self.filters.channels)}


def store_page() -> StorePage | None:
    """The ClickHouse page's store and filters when ANALYTICS_STORE is set (else None), or a
    friendly empty state and the end of the page run, as ``page_data``."""
    url = store_url()
    if not url:
        return None
    filters = _filters_or_stop()
    try:
        with st.spinner("Asking ClickHouse…"):
            last, count = store_overview(url, filters.start, filters.end, filters.channels)
    except InputError as exc:
        no_data(f"The dashboard cannot read the ClickHouse store `{store_label(url)}`: {exc}.",
                "Check `ANALYTICS_STORE`, or unset it to compute from `ANALYTICS_EVENTS_URL`.")
    if last is None:
        no_data(f"There are no events in the ClickHouse store `{store_label(url)}` yet.",
                "Fill it with `python -m analytics store-load --events SOURCE`.")
    if count == 0:
        no_period_events(filters)
    return StorePage(url, filters, min(filters.end, last))


@st.cache_data(ttl=EVENTS_TTL, show_spinner=False)
def store_funnel(url: str, funnel_json: str, start: datetime, end: datetime,
                 channels: tuple[str, ...]) -> pl.DataFrame:
    import json

    from analytics.clickhouse.funnel import compute_funnel
    from analytics.funnel import Funnel
    return in_store(url, compute_funnel, Funnel.from_dict(json.loads(funnel_json)),
                    start=start, end=end, channels=list(channels))


@st.cache_data(ttl=EVENTS_TTL, show_spinner=False)
def store_abandonment(url: str, idle: timedelta, window: timedelta, now: datetime,
                      start: datetime, end: datetime,
                      channels: tuple[str, ...]) -> tuple[pl.DataFrame, dict]:
    """(the abandoned carts, the summary), both computed in ClickHouse."""
    from analytics.clickhouse import abandonment
    kwargs = dict(idle=idle, recovery_window=window, now=now, start=start, end=end,
                  channels=list(channels))
    return (in_store(url, abandonment.abandoned_carts, **kwargs),
            in_store(url, abandonment.abandonment_summary, **kwargs))


@st.cache_data(ttl=EVENTS_TTL, show_spinner=False)
def store_chat(url: str, start: datetime, end: datetime, channels: tuple[str, ...]) -> dict:
    from analytics.clickhouse.chat import chat_metrics
    return in_store(url, chat_metrics, start=start, end=end, channels=list(channels),
                    rasa_channel_names=RASA_CHANNELS)  # Rasa's rows as tracker_rows selects


@st.cache_data(ttl=EVENTS_TTL, show_spinner=False)
def store_has_rasa_events(url: str) -> bool:
    from analytics.clickhouse.abandonment import has_rows
    return in_store(url, has_rows, "rasa_events")


@st.cache_data(ttl=EVENTS_TTL, show_spinner=False)
def store_currency(url: str, start: datetime, end: datetime,
                   channels: tuple[str, ...]) -> str | None:
    """``analytics.overview.main_currency`` of the period's events, else of all of them."""
    from analytics.overview import currency_of
    for where in (_period_sql(start, end, channels), ""):
        counts = store_sql(url, "SELECT currency, count() AS events, countIf(name = "
                                "'purchase') AS purchases FROM events FINAL"
                                + (where + " AND" if where else " WHERE")
                                + " currency IS NOT NULL GROUP BY currency")
        currency = currency_of(counts)
        if currency:
            return currency
    return None


@st.cache_data(ttl=EVENTS_TTL, show_spinner=False)
def store_count(url: str, name: str, start: datetime, end: datetime,
                channels: tuple[str, ...]) -> int:
    """The period's events called ``name``."""
    from analytics.clickhouse.store import sql_string
    where = _period_sql(start, end, channels)
    where = (where + " AND" if where else " WHERE") + f" name = {sql_string(name)}"
    return int(store_sql(url, f"SELECT count() AS n FROM events FINAL{where}")["n"][0])


class StoreChoices:
    """What the funnel builder offers (event names, filter keys and values), asked of the
    store for the events from ``start`` on, as ``funnel_builder`` reads them from a frame."""

    def __init__(self, url: str, start: datetime):
        self.url, self.start = url, start

    def names(self) -> list[str]:
        return _store_names(self.url, self.start)

    def keys(self, event: str) -> list[str]:
        return _store_keys(self.url, self.start, event)

    def values(self, event: str, key: str) -> list[str]:
        return _store_values(self.url, self.start, event, key)


@st.cache_data(ttl=EVENTS_TTL, show_spinner=False)
def _store_names(url: str, start: datetime) -> list[str]:
    from dashboard.funnel_builder import JOURNEY
    present = set(store_sql(url, "SELECT DISTINCT name FROM events FINAL"
                                 + _period_sql(start))["name"].drop_nulls().to_list())
    known = [n for n in JOURNEY if n in present]
    return known + sorted(present - set(known))


@st.cache_data(ttl=EVENTS_TTL, show_spinner=False)
def _store_keys(url: str, start: datetime, event: str) -> list[str]:
    from analytics.clickhouse.store import sql_string
    from analytics.schema import EVENT_SCHEMA
    from dashboard.funnel_builder import FILTER_COLUMNS
    where = _period_sql(start) + f" AND name = {sql_string(event)}"
    counts = store_sql(url, "SELECT " + ", ".join(f"countIf({c} IS NOT NULL) AS {c}"
                                                  for c in FILTER_COLUMNS)
                       + f" FROM events FINAL{where}").row(0, named=True)
    columns = [c for c in FILTER_COLUMNS if counts[c]]
    keys = store_sql(url, "SELECT DISTINCT arrayJoin(JSONExtractKeys(assumeNotNull(properties))) AS k FROM "
                          f"(SELECT properties FROM events FINAL{where} AND properties IS "
                          "NOT NULL LIMIT 5000) ORDER BY k")["k"].to_list()
    hidden = {"email"}  # personal data: not a funnel dimension
    return columns + [k for k in keys if k not in columns and k not in hidden
                      and k not in EVENT_SCHEMA]


@st.cache_data(ttl=EVENTS_TTL, show_spinner=False)
def _store_values(url: str, start: datetime, event: str, key: str) -> list[str]:
    from analytics.clickhouse.store import sql_string
    from analytics.schema import EVENT_SCHEMA
    from dashboard.funnel_builder import MAX_VALUES
    if key in EVENT_SCHEMA:
        value = f"toString({key})"
        if EVENT_SCHEMA[key] == pl.Boolean:
            value = f"lower({value})"
    else:
        value = f"JSON_VALUE(properties, {sql_string('$.' + key)})"
    where = _period_sql(start) + f" AND name = {sql_string(event)}"
    rows = store_sql(url, f"SELECT v, count() AS n FROM (SELECT {value} AS v FROM events "
                          f"FINAL{where}) WHERE v IS NOT NULL AND v != '' GROUP BY v "
                          f"ORDER BY n DESC, v LIMIT {MAX_VALUES}")
    return rows["v"].to_list()
