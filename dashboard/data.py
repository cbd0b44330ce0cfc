"""Where every page gets its events, conversations and filters from.

Events are read once through ``analytics.loaders`` and kept for ``EVENTS_TTL`` seconds, so
a page switch or a filter change costs no database read and new shop events still show up
within half a minute. The sidebar (date range, channels) is drawn by ``app.py`` on every
run; pages read the chosen ``Filters`` from ``st.session_state``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import streamlit as st

from analytics.filters import apply_filters
from analytics.loaders import (default_conversations_source, default_events_source,
                               is_database_url, load_conversations, load_events)
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


@st.cache_data(ttl=EVENTS_TTL, show_spinner="Loading events…")
def all_events(source: str) -> pl.DataFrame:
    """Every event of ``source`` (conformed). Raises InputError when it cannot be read."""
    return load_events(source).collect()


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


def try_all_events() -> tuple[pl.DataFrame | None, str | None]:
    """(events, None), or (None, why) when the source cannot be read."""
    try:
        return all_events(events_source()), None
    except InputError as exc:
        return None, str(exc)


def default_filters(events: pl.DataFrame, today: date | None = None) -> Filters:
    """The last DEFAULT_DAYS days that have data, ending today at the latest (refunds of
    demo orders can lie in the future)."""
    first, last = data_days(events)
    today = today or datetime.utcnow().date()
    if first <= today < last:
        last = today
    return Filters(max(first, last - timedelta(days=DEFAULT_DAYS - 1)), last)


def data_days(events: pl.DataFrame) -> tuple[date, date]:
    bounds = events.select(pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"))
    return bounds["first"][0].date(), bounds["last"][0].date()


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
    """What a page works on: every event (for the previous period and as-of time), the
    filters, and the events they select."""

    everything: pl.DataFrame
    filters: Filters
    events: pl.LazyFrame

    @property
    def as_of(self) -> datetime:
        return as_of(self.everything, self.filters)


def page_data() -> PageData:
    """The page's events, or a friendly empty state and the end of the page run."""
    error = st.session_state.get("events_error")
    filters = current_filters()
    if error:
        no_data(f"The dashboard cannot read events yet: {error}.",
                "Start the shop with `make run`, or point `ANALYTICS_EVENTS_URL` at a "
                "database URL or a Parquet/CSV file of events.")
    everything, _ = try_all_events()
    if filters is None or everything is None or everything.is_empty():
        no_data("There are no events yet.",
                "Events appear here as shoppers browse, chat and buy in the shop.")
    events = filtered(everything, filters)
    if events.select(pl.len()).collect().item() == 0:
        no_data(f"No events for {filters.label()}.",
                "Widen the date range or clear the channel filter in the sidebar.")
    return PageData(everything, filters, events)


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
    tracker = conversations(tracker_url())
    if tracker is None:
        return None
    f = page.filters
    rows = tracker.filter(pl.col("ts") >= f.start, pl.col("ts") < f.end)
    if f.channels:
        ids = (page.events.select(pl.col("conversation_id").drop_nulls().unique())
               .collect().to_series())
        channel = (pl.col("input_channel").drop_nulls().first().over("conversation_id")
                   .replace_strict(RASA_CHANNELS, default=None))
        rows = rows.filter(pl.col("conversation_id").is_in(ids.implode())
                           | channel.is_in(list(f.channels)))
    return rows
