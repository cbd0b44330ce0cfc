"""Filling the ClickHouse store: a backfill of events, and files of Rasa's events.

    python -m analytics store-load [--events SOURCE] [--rasa-events FILE.jsonl]
                                   [--store clickhouse://host:8123/db | chdb:PATH]

- events: any source ``load_events`` reads (the shop's PostgreSQL, a Parquet directory
  written by ``export``), a month at a time, so memory stays bounded by one month;
- Rasa's events: one JSON event per line, as Rasa's event broker publishes them (what the
  consumer of analytics/rasa_events.py receives from RabbitMQ), converted by the consumer's
  own ``row_of``; lines that are not Rasa events are counted and skipped.

Loading the same events again changes nothing that is read: rows are keyed on the event id
(Rasa's event key) in ReplacingMergeTree tables, and every query reads FINAL.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from ..export import _next_month, months_between
from ..loaders import default_events_source, event_bounds, load_events
from ..rasa_events import NotAnEvent, row_of
from ..schema import InputError
from .store import default_store_url, open_store

RASA_COLUMNS = {"event_key": pl.Utf8, "conversation_id": pl.Utf8, "ts": pl.Datetime("us"),
                "type": pl.Utf8, "intent": pl.Utf8, "action": pl.Utf8,
                "confidence": pl.Float64, "input_channel": pl.Utf8, "policy": pl.Utf8,
                "slot": pl.Utf8, "slot_value": pl.Utf8, "received_at": pl.Datetime("us")}


def load_events_into(store, source: str, *, table: str = "events") -> dict:
    """Every event of ``source``, a month at a time; ``seq`` follows the source's order."""
    started, rows = time.perf_counter(), 0
    first, last = event_bounds(source)
    for month in months_between(first, last) if first is not None else []:
        frame = load_events(source, start=month, end=_next_month(month)).collect()
        rows += store.insert_events(frame, table, seq_from=rows)
    seconds = time.perf_counter() - started
    return {"events": rows, "seconds": round(seconds, 2),
            "events_per_second": round(rows / seconds) if seconds else None}


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


def _command(args) -> dict:
    url = args.store or default_store_url()
    if not url:
        raise InputError("no analytics store: set ANALYTICS_STORE or pass --store")
    if args.start or args.channel:
        raise InputError("store-load copies every event: no --from or --channel")
    store = open_store(url)
    store.create_tables()
    out = {"events": load_events_into(store, args.events or default_events_source())}
    if args.rasa_events:
        out["rasa_events"] = ingest_rasa_file(store, Path(args.rasa_events))
    return out


def register(subparsers) -> None:
    parser = subparsers.add_parser("store-load", help="copy events (and a file of Rasa's "
                                   "events) into the ClickHouse analytics store")
    parser.add_argument("--store", metavar="URL", help="clickhouse://host:8123/db or "
                        "chdb:PATH (default: $ANALYTICS_STORE)")
    parser.add_argument("--rasa-events", metavar="FILE.jsonl",
                        help="Rasa events, one JSON object per line")
    parser.set_defaults(handler=_command)
