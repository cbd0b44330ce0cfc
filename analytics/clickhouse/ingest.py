"""Filling the ClickHouse store: a backfill of events, files of Rasa's events, and the
shop's new events as they come.

    python -m analytics store-load [--events SOURCE] [--rasa-events FILE.jsonl | URL]
                                   [--store clickhouse://host:8123/db | chdb:PATH]
    python -m analytics store-load --follow [--every 10] [--overlap 120] [--batch 50000]

- events: any source ``load_events`` reads (the shop's PostgreSQL, a Parquet directory
  written by ``export``), a day of a database or a million events of files at a time, so
  memory stays bounded by one piece;
- Rasa's events: one JSON event per line, as Rasa's event broker publishes them (what the
  consumer of analytics/rasa_events.py receives from RabbitMQ), converted by the consumer's
  own ``row_of``; lines that are not Rasa events are counted and skipped. Or a database URL:
  the ``rasa_events`` table the PostgreSQL consumer fills, copied as it is in pages of
  ``batch`` rows (the conversations from before the ClickHouse consumer's queue existed).

Loading the same events again changes nothing that is read: rows are keyed on the event id
(Rasa's event key) in ReplacingMergeTree tables, and every query reads FINAL.

``--follow`` copies the source's new events every ``--every`` seconds until SIGTERM or
SIGINT (it finishes the window it is writing, then stops). Its watermark is the store's own
latest event time minus ``--overlap`` seconds, read again at every round: a follower
stopped or killed anywhere resumes where the store is, and an event committed late (its
time set before a slow transaction committed, or by a replica whose clock is behind) is
picked up if it arrives within the overlap. Events of the overlap already in the store
(by event id) are not written again; a crash between a write and the next round writes at
most a window again, which the ReplacingMergeTree merges. The source is read in windows of
time that never straddle a month (one INSERT per partition) and adapt to hold about
``--batch`` events (memory stays bounded by a window). Events without an id (outside logs)
cannot be followed: they are skipped with a warning (load them with ``store-load``).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl

from ..export import _next_month, months_between
from ..loaders import default_events_source, event_bounds, is_database_url, load_events
from ..rasa_events import TABLE as TABLE_RASA
from ..rasa_events import NotAnEvent, row_of
from ..schema import InputError
from .store import StoreUnreachable, default_store_url, open_store

log = logging.getLogger("analytics.store_follow")

RASA_COLUMNS = {"event_key": pl.Utf8, "conversation_id": pl.Utf8, "ts": pl.Datetime("us"),
                "type": pl.Utf8, "intent": pl.Utf8, "action": pl.Utf8,
                "confidence": pl.Float64, "input_channel": pl.Utf8, "policy": pl.Utf8,
                "slot": pl.Utf8, "slot_value": pl.Utf8, "received_at": pl.Datetime("us")}


BACKFILL_SLICE = timedelta(days=1)  # what one INSERT of a backfill from a database holds
BACKFILL_ROWS = 1_000_000  # and from files


def load_events_into(store, source: str, *, table: str = "events",
                     slice_: timedelta = BACKFILL_SLICE, rows: int = BACKFILL_ROWS) -> dict:
    """Every event of ``source``, in pieces, so memory stays that of one piece whatever the
    shop's size (the whole of a month, 100M events over four months did not fit in this
    machine's memory): a database a day at a time (``slice_``; slices never straddle a
    month, so an INSERT writes one partition, and the database answers from its index on
    time), files ``rows`` events at a time in their own order (a file is not indexed on
    time: reading it a day at a time scanned all of it for each day, 33 s a day at 100M
    events). ``seq`` follows the source's order."""
    started, stored = time.perf_counter(), 0
    for frame in _pieces(source, slice_, rows):
        if frame.height:
            stored += store.insert_events(frame, table, seq_from=stored)
    seconds = time.perf_counter() - started
    return {"events": stored, "seconds": round(seconds, 2),
            "events_per_second": round(stored / seconds) if seconds else None}


def _pieces(source: str, slice_: timedelta, rows: int):
    if not is_database_url(source):
        events, rows = load_events(source), max(1, rows)
        total, read = events.select(pl.len()).collect().item(), 0
        for offset in range(0, total, rows):
            piece = events.slice(offset, rows).collect()
            read += piece.height
            yield piece
        if read != total or events.select(pl.len()).collect().item() != total:
            raise InputError(f"{source} changed while it was loaded ({total:,} events at the "
                             f"start, {read:,} read): load it again once it is written")
        return
    first, last = event_bounds(source)
    for month in months_between(first, last) if first is not None else []:
        low, month_end = month, _next_month(month)
        while low < month_end:
            high = min(low + slice_, month_end)
            yield load_events(source, start=low, end=high).collect()
            low = high


def ingest_rasa_file(store, path: Path, *, batch: int = 50_000,
                     table: str = "rasa_events") -> dict:
    if not path.is_file():
        raise InputError(f"there is no file {path}")
    started, stored, skipped = time.perf_counter(), 0, 0
    received = datetime.now(timezone.utc).replace(tzinfo=None)
    rows: list[dict] = []

    def flush() -> None:
        nonlocal stored, rows
        if rows:
            frame = pl.DataFrame(rows, schema=RASA_COLUMNS, orient="row")
            store.insert_frame(frame, table)
            stored += len(rows)
            rows = []

    with path.open("rb") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                rows.append(row_of(line, received))
            except NotAnEvent:
                skipped += 1
                continue
            if len(rows) >= batch:
                flush()
    flush()
    seconds = time.perf_counter() - started
    return {"rasa_events": stored, "skipped": skipped, "seconds": round(seconds, 2),
            "events_per_second": round(stored / seconds) if seconds else None}


def copy_rasa_table(store, url: str, *, batch: int = 50_000,
                    table: str = "rasa_events") -> dict:
    """Every row of the ``rasa_events`` table at ``url`` (the PostgreSQL consumer's), in
    pages ordered by event key (keyset: each page one indexed query)."""
    import sqlalchemy as sa
    from ..loaders import sync_url
    engine = sa.create_engine(sync_url(url))
    try:
        source = sa.Table(TABLE_RASA, sa.MetaData(), autoload_with=engine)
    except sa.exc.NoSuchTableError:
        raise InputError(f"{url.split('@')[-1]} has no {TABLE_RASA} table") from None
    except sa.exc.OperationalError as error:
        raise InputError(f"cannot read Rasa's events: {str(error).splitlines()[0]}") from None
    started, stored, after = time.perf_counter(), 0, None
    query = sa.select(*[source.c[name] for name in RASA_COLUMNS]) \
        .order_by(source.c.event_key).limit(batch)
    try:
        while True:
            page = query if after is None else query.where(source.c.event_key > after)
            with engine.connect() as connection:
                rows = [dict(r._mapping) for r in connection.execute(page)]
            if not rows:
                break
            store.insert_frame(pl.DataFrame(rows, schema=RASA_COLUMNS, orient="row"), table)
            stored += len(rows)
            after = rows[-1]["event_key"]
    finally:
        engine.dispose()
    seconds = time.perf_counter() - started
    return {"rasa_events": stored, "skipped": 0, "seconds": round(seconds, 2),
            "events_per_second": round(stored / seconds) if seconds else None}


def _ts_literal(when: datetime) -> str:
    return f"toDateTime64('{when.isoformat(sep=' ', timespec='microseconds')}', 6, 'UTC')"


@dataclass
class Follower:
    """Copies ``source``'s events past the store's watermark into ``table``, a window of
    time at a time (see the module's docstring)."""

    store: Any
    source: str
    overlap: timedelta = timedelta(seconds=120)
    batch: int = 50_000
    table: str = "events"
    window: timedelta = timedelta(hours=1)
    stop: threading.Event = field(default_factory=threading.Event)
    copied: int = 0
    skipped: int = 0

    MIN_WINDOW = timedelta(seconds=1)
    MAX_WINDOW = timedelta(days=31)

    def stored_until(self) -> datetime | None:
        """The latest event time in the store (None when it has no events)."""
        row = self.store.query(f"SELECT count() AS n, max(ts) AS last FROM {self.table}").row(0)
        return row[1].replace(tzinfo=None) if row[0] else None

    def round(self) -> int:
        """One pass up to the source's latest event; the number of events written."""
        stored = self.stored_until()
        first, last = event_bounds(self.source)
        if last is None:
            return 0
        start = max(first, stored - self.overlap) if stored is not None else first
        written = 0
        while start <= last and not self.stop.is_set():
            month = datetime(start.year, start.month, 1)
            end = min(start + self.window, _next_month(month))
            written += self._copy(start, end, stored)
            start = end
        self.copied += written
        return written

    def _copy(self, start: datetime, end: datetime, stored: datetime | None) -> int:
        frame = load_events(self.source, start=start, end=end).collect()
        read = frame.height
        if frame["event_id"].null_count():
            missing = frame["event_id"].null_count()
            self.skipped += missing
            log.warning("%d events between %s and %s have no id and cannot be followed: "
                        "skipped (load them with store-load)", missing, start, end)
            frame = frame.filter(pl.col("event_id").is_not_null())
        if stored is not None and start <= stored and frame.height:  # the overlap
            known = self.store.query(
                f"SELECT DISTINCT event_id FROM {self.table} WHERE ts >= {_ts_literal(start)} "
                f"AND ts < {_ts_literal(end)}")["event_id"]
            frame = frame.filter(~pl.col("event_id").is_in(known.implode()))
        if frame.height:
            self.store.insert_events(frame, self.table)
            log.info("copied %d new events of %d read, %s to %s", frame.height, read,
                     start.isoformat(), min(end, frame["ts"].max()).isoformat())
        # about `batch` events a window: memory stays bounded, queries stay few
        if read > self.batch:
            self.window = max(self.window / 2, self.MIN_WINDOW)
        elif read < self.batch / 4:
            self.window = min(self.window * 2, self.MAX_WINDOW)
        return frame.height

    def run(self, every: float, *, rounds: int | None = None) -> int:
        """Rounds every ``every`` seconds until ``stop`` is set (or ``rounds`` done); a
        store that cannot be reached is tried again at the next round."""
        done = 0
        while not self.stop.is_set():
            try:
                self.round()
            except StoreUnreachable as error:
                log.warning("%s; trying again in %.0f s", error, every)
            done += 1
            if rounds is not None and done >= rounds:
                break
            self.stop.wait(every)
        return self.copied


def follow(store, source: str, *, every: float = 10.0, overlap: float = 120.0,
           batch: int = 50_000) -> dict:
    follower = Follower(store, source, timedelta(seconds=overlap), batch)

    def stop(*_):
        follower.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    started = time.monotonic()
    log.info("following the events of the shop into the ClickHouse store every %s s "
             "(overlap %s s); the store has events until %s", every, overlap,
             follower.stored_until())
    follower.run(every)
    log.info("stopped after copying %d events", follower.copied)
    return {"copied": follower.copied, "skipped": follower.skipped,
            "seconds": round(time.monotonic() - started, 1)}


def _command(args) -> dict:
    url = args.store or default_store_url()
    if not url:
        raise InputError("no analytics store: set ANALYTICS_STORE or pass --store")
    if args.start or args.channel:
        raise InputError("store-load copies every event: no --from or --channel")
    if args.follow:
        if args.rasa_events:
            raise InputError("--follow copies the shop's events; load --rasa-events "
                             "separately (Rasa's events come through consume-rasa-events)")
        if not 0 < args.every <= 3600 or not 0 <= args.overlap <= 86400 or args.batch < 100:
            raise InputError("--every must be 0 to 3600 s, --overlap 0 to 86400 s and "
                             "--batch at least 100")
        from storefront_api.logs import configure_logging
        configure_logging("store-follow")
        store = open_store(url)
        store.create_tables()
        return {"events": follow(store, args.events or default_events_source(),
                                 every=args.every, overlap=args.overlap, batch=args.batch)}
    store = open_store(url)
    store.create_tables()
    out = {"events": load_events_into(store, args.events or default_events_source())}
    if args.rasa_events and is_database_url(args.rasa_events):
        out["rasa_events"] = copy_rasa_table(store, args.rasa_events)
    elif args.rasa_events:
        out["rasa_events"] = ingest_rasa_file(store, Path(args.rasa_events))
    return out


def register(subparsers) -> None:
    parser = subparsers.add_parser("store-load", help="copy events (and a file of Rasa's "
                                   "events) into the ClickHouse analytics store")
    parser.add_argument("--store", metavar="URL", help="clickhouse://host:8123/db or "
                        "chdb:PATH (default: $ANALYTICS_STORE)")
    parser.add_argument("--rasa-events", metavar="FILE.jsonl|URL",
                        help="Rasa events, one JSON object per line, or the database whose "
                        "rasa_events table the PostgreSQL consumer fills")
    parser.add_argument("--follow", action="store_true", help="keep copying the source's new "
                        "events until stopped (SIGTERM), resuming from the store's own latest "
                        "event")
    parser.add_argument("--every", type=float, default=10.0, metavar="SECONDS",
                        help="with --follow: seconds between rounds (default 10)")
    parser.add_argument("--overlap", type=float, default=120.0, metavar="SECONDS",
                        help="with --follow: read again this far behind the store's latest "
                        "event, for events committed late (default 120)")
    parser.add_argument("--batch", type=int, default=50_000, metavar="EVENTS",
                        help="with --follow: about this many events a read (default 50000)")
    parser.set_defaults(handler=_command)
