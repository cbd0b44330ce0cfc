"""An in-memory copy of a window of events that refreshes incrementally (the dashboard's).

The first read loads the events of the window asked for (only ``columns``); later reads
extend it backwards when an earlier day is asked for, and, once ``ttl`` seconds have
passed, add only the events recorded since: those with ``ts`` at or after the last event
seen minus ``overlap``, less the event ids already held. The shop records an event with
the time it happened, so an event that commits late (a transaction still open when the last
refresh ran) lands within ``overlap`` of the newest one. The events table's ids are
UUIDs, not a sequence, which is why the watermark is a time and not an id.

What the incremental refresh does not see: events written with an older time than
``last - overlap`` (a backfill, ``synthesize --replace``) and deleted events. ``reload()``
starts over (a new dashboard process does too).

Files (Parquet/CSV) do not change under a running dashboard: they are read once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone

import polars as pl

from .loaders import event_bounds, is_database_url, load_events
from .schema import EVENT_SCHEMA

# Every column but the JSON properties and the category drawn from them: what the
# Overview, Abandonment and Segments pages read.
LIGHT_COLUMNS = [c for c in EVENT_SCHEMA if c not in ("properties", "category")]
DEFAULT_OVERLAP = timedelta(minutes=5)


class EventCache:
    def __init__(self, source: str, *, columns: Iterable[str] | None = None,
                 ttl: float = 30.0, overlap: timedelta = DEFAULT_OVERLAP,
                 clock: Callable[[], float] = time.monotonic):
        self.source = source
        self.columns = list(columns) if columns is not None else list(EVENT_SCHEMA)
        if "event_id" not in self.columns or "ts" not in self.columns:
            raise ValueError("the cache needs event_id and ts to refresh incrementally")
        self.ttl, self.overlap, self._clock = ttl, overlap, clock
        self._lock = threading.Lock()
        self.frame: pl.DataFrame | None = None
        self.loaded_from: datetime | None = None  # the window's first instant (None: all)
        self.first: datetime | None = None  # the source's first event
        self.read_at: datetime | None = None  # wall clock (UTC) of the last read
        self._read_tick = 0.0
        self.reads: list[dict] = []  # what each read fetched, newest last (for tests, logs)

    # --- what callers use -------------------------------------------------------------

    def events(self, start: datetime | None = None) -> pl.DataFrame:
        """Every held event from ``start`` (None: the whole source) on, refreshed if the
        copy is older than ``ttl``. The frame may begin before ``start``."""
        with self._lock:
            if self.frame is None:
                self._load_all_from(start)
            else:
                if self._before_window(start):
                    self._extend_back(start)
                if self._clock() - self._read_tick >= self.ttl:
                    self._refresh()
            return self.frame

    def reload(self) -> None:
        with self._lock:
            start, self.frame = self.loaded_from, None
            self._load_all_from(start)

    # --- the reads ----------------------------------------------------------------------

    def _load(self, **window) -> pl.DataFrame:
        frame = load_events(self.source, columns=self.columns, **window).collect()
        self.reads.append({**window, "rows": frame.height})
        return frame

    def _mark_read(self) -> None:
        self._read_tick = self._clock()
        self.read_at = datetime.now(timezone.utc).replace(tzinfo=None)

    def _load_all_from(self, start: datetime | None) -> None:
        self.first, _ = event_bounds(self.source)
        self.frame = self._load(start=start)
        self.loaded_from = start
        self._mark_read()

    def _before_window(self, start: datetime | None) -> bool:
        if self.loaded_from is None:
            return False
        return start is None or start < self.loaded_from

    def _extend_back(self, start: datetime | None) -> None:
        older = self._load(start=start, end=self.loaded_from)
        self.frame = pl.concat([older, self.frame], how="vertical_relaxed")
        self.loaded_from = start

    def _refresh(self) -> None:
        if not is_database_url(self.source):
            self._mark_read()  # a file does not change under us
            return
        last = self.frame.select(pl.col("ts").max()).item()
        if last is None:  # nothing held yet: read the window again
            self._load_all_from(self.loaded_from)
            return
        since = max(last - self.overlap, self.loaded_from or last - self.overlap)
        fresh = self._load(start=since)
        held = self.frame.filter(pl.col("ts") >= since).get_column("event_id")
        new = fresh.filter(~pl.col("event_id").is_in(held.implode()))
        if new.height:
            self.frame = pl.concat([self.frame, new], how="vertical_relaxed")
            if new["ts"].min() < last:  # a late commit: keep the frame in time order
                self.frame = self.frame.sort("ts", maintain_order=True)
        self.first, _ = event_bounds(self.source)
        self._mark_read()
