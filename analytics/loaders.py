"""Where events come from: Aisle's database, Rasa's tracker store, Parquet/CSV files.

Database URLs are SQLAlchemy URLs; the async drivers the shop uses (aiosqlite, asyncpg) are
mapped to their synchronous siblings (sqlite3, psycopg) because analytics reads in one go.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import polars as pl

from .filters import apply_filters
from .imports import import_events  # noqa: F401 - part of the loaders' interface
from .schema import EVENT_SCHEMA, STORED_COLUMNS, InputError, conform

DEFAULT_SHOP_URL = "sqlite+aiosqlite:///var/shop.db"
DEFAULT_TRACKER_URL = "sqlite:///var/rasa_tracker.db"
_SYNC_DRIVERS = {"sqlite+aiosqlite": "sqlite", "postgresql+asyncpg": "postgresql+psycopg",
                 "postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}
_FILE_SUFFIXES = (".parquet", ".csv")


def default_events_source() -> str:
    return (os.environ.get("ANALYTICS_EVENTS_URL") or os.environ.get("DATABASE_URL")
            or DEFAULT_SHOP_URL)


def default_tracker_url() -> str:
    return os.environ.get("TRACKER_STORE_URL") or DEFAULT_TRACKER_URL


def default_conversations_source() -> str:
    """Where chat outcomes read conversations: CONVERSATIONS_URL (production: the analytics
    store, which the consumer of Rasa's events fills), else Rasa's tracker store."""
    return os.environ.get("CONVERSATIONS_URL") or default_tracker_url()


def is_database_url(source: str) -> bool:
    return "://" in source and not source.startswith("file://")


def sync_url(url: str) -> str:
    """The SQLAlchemy URL with a synchronous driver (aiosqlite -> sqlite, asyncpg -> psycopg)."""
    from sqlalchemy.engine import make_url
    parsed = make_url(url)
    driver = _SYNC_DRIVERS.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def _engine(url: str):
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    parsed = make_url(sync_url(url))
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).exists():
            raise InputError(f"there is no SQLite database at {parsed.database}; "
                             "run `make run` (or pass --events with the right URL or file)")
    try:
        return create_engine(parsed)
    except ModuleNotFoundError as exc:
        raise InputError(f"the database driver {exc.name} is missing: "
                         "pip install 'psycopg[binary]' for PostgreSQL") from None


def sql_types() -> dict:
    """SQLAlchemy types of the stored event columns (so SQLite's text dates come back as
    datetimes, and writes store what the shop's own models store)."""
    from sqlalchemy import JSON, BigInteger, Boolean, DateTime, String
    special = {"ts": DateTime(), "value": BigInteger(), "consent": Boolean(),
               "properties": JSON()}
    return {c: special.get(c, String()) for c in STORED_COLUMNS}


def _read_sql(url: str, query: str, params: dict, schema: dict,
              types: dict | None = None) -> pl.DataFrame:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            statement = text(query).columns(**types) if types else text(query)
            rows = conn.execute(statement, params)
            return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0]
        raise InputError(f"could not read from {_safe(url)}: {first}") from None
    finally:
        engine.dispose()


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


def _sql_range(start: datetime | None, end: datetime | None) -> tuple[str, dict]:
    clauses, params = [], {}
    if start is not None:
        clauses.append("ts >= :start")
        params["start"] = start
    if end is not None:
        clauses.append("ts < :end")
        params["end"] = end
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _events_from_database(url: str, start, end) -> pl.LazyFrame:
    from sqlalchemy import Text
    # properties is JSON in both databases; as text it reads the same from SQLite and PG
    columns = ", ".join("CAST(properties AS TEXT) AS properties" if c == "properties" else c
                        for c in STORED_COLUMNS)
    where, params = _sql_range(start, end)
    schema = {c: EVENT_SCHEMA[c] for c in STORED_COLUMNS}
    types = {**sql_types(), "properties": Text()}
    frame = _read_sql(url, f"SELECT {columns} FROM events{where} ORDER BY ts", params, schema,
                      types)
    return frame.lazy()


def _events_from_file(path: Path) -> pl.LazyFrame:
    if path.is_dir():
        files = sorted(path.glob("*.parquet"))
        if not files:
            raise InputError(f"{path} holds no .parquet files")
        return pl.scan_parquet(files)
    if not path.exists():
        raise InputError(f"there is no file {path}; check the path given to --events")
    if path.suffix == ".parquet":
        return pl.scan_parquet(path)
    if path.suffix == ".csv":
        return pl.scan_csv(path, schema_overrides={c: t for c, t in EVENT_SCHEMA.items()
                                                    if t == pl.Utf8})
    raise InputError(f"{path}: events files must be .parquet or .csv (or a directory of "
                     ".parquet files); for other logs use `python -m analytics import-events`")


def load_events(source: str, *, start: datetime | None = None,
                end: datetime | None = None) -> pl.LazyFrame:
    """Conformed events (EVENT_SCHEMA) from a database URL, a .parquet/.csv file or a
    directory of .parquet files, with ``start <= ts < end`` when given."""
    if is_database_url(source):
        lf = _events_from_database(source, start, end)
    else:
        lf = _events_from_file(Path(source.removeprefix("file://")))
    return apply_filters(conform(lf), start=start, end=end)


# --- Rasa's SQL tracker store ------------------------------------------------------------

CONVERSATION_SCHEMA = {
    "conversation_id": pl.Utf8, "ts": pl.Datetime("us"), "type": pl.Utf8, "intent": pl.Utf8,
    "action": pl.Utf8, "confidence": pl.Float64, "text": pl.Utf8, "input_channel": pl.Utf8,
    "policy": pl.Utf8, "slot": pl.Utf8, "slot_value": pl.Utf8,
}


CONVERSATION_EVENTS_TABLE = "rasa_events"  # the analytics store's copy (analytics/rasa_events.py)


def load_conversations(tracker_url: str | None = None) -> pl.DataFrame:
    """One row per Rasa conversation event (user, bot, action, slot, pause, resume, ...),
    from the analytics store's ``rasa_events`` (written by ``consume-rasa-events``) when the
    database has that table, else from Rasa's own tracker store.

    ``type`` is Rasa's event type name; ``pause``/``resume`` mark a handoff to a human and
    back; ``intent``/``confidence`` come from user messages, ``action`` from action events,
    ``text`` from user and bot messages (the tracker store only: the analytics store keeps
    no message text), ``slot``/``slot_value`` from slot events."""
    url = tracker_url or default_conversations_source()
    if _has_table(url, CONVERSATION_EVENTS_TABLE):
        return _conversations_from_analytics(url)
    raw = _read_sql(url, "SELECT sender_id, timestamp, type_name, intent_name, action_name, "
                         "data FROM events ORDER BY id", {},
                    {"sender_id": pl.Utf8, "timestamp": pl.Float64, "type_name": pl.Utf8,
                     "intent_name": pl.Utf8, "action_name": pl.Utf8, "data": pl.Utf8})
    data = pl.col("data")
    return raw.select(
        pl.col("sender_id").alias("conversation_id"),
        (pl.col("timestamp") * 1_000_000).cast(pl.Int64).cast(pl.Datetime("us")).alias("ts"),
        pl.col("type_name").alias("type"),
        pl.col("intent_name").alias("intent"),
        # Rasa's store writes a slot's name in action_name too: actions only
        pl.when(pl.col("type_name") == "action").then(pl.col("action_name")).alias("action"),
        data.str.json_path_match("$.parse_data.intent.confidence").cast(pl.Float64,
                                                                        strict=False)
        .alias("confidence"),
        data.str.json_path_match("$.text").alias("text"),
        data.str.json_path_match("$.input_channel").alias("input_channel"),
        data.str.json_path_match("$.policy").alias("policy"),
        pl.when(pl.col("type_name") == "slot").then(data.str.json_path_match("$.name"))
        .alias("slot"),
        pl.when(pl.col("type_name") == "slot").then(data.str.json_path_match("$.value"))
        .alias("slot_value"),
    )


def _has_table(url: str, table: str) -> bool:
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError
    engine = _engine(url)
    try:
        return inspect(engine).has_table(table)
    except SQLAlchemyError as exc:
        raise InputError(f"could not read from {_safe(url)}: {str(exc).splitlines()[0]}") \
            from None
    finally:
        engine.dispose()


def _conversations_from_analytics(url: str) -> pl.DataFrame:
    """The consumer's copy, in each conversation's order (Rasa's timestamps; the tracker
    store's id, numerically, among events of the same instant)."""
    from sqlalchemy import DateTime
    raw = _read_sql(url, "SELECT conversation_id, ts, type, intent, action, confidence, "
                         "input_channel, policy, slot, slot_value FROM rasa_events "
                         "ORDER BY ts, length(event_key), event_key", {},
                    {"conversation_id": pl.Utf8, "ts": pl.Datetime("us"), "type": pl.Utf8,
                     "intent": pl.Utf8, "action": pl.Utf8, "confidence": pl.Float64,
                     "input_channel": pl.Utf8, "policy": pl.Utf8, "slot": pl.Utf8,
                     "slot_value": pl.Utf8}, {"ts": DateTime()})
    return raw.select(
        "conversation_id", "ts", "type", "intent", "action", "confidence",
        pl.lit(None, dtype=pl.Utf8).alias("text"), "input_channel", "policy", "slot",
        pl.col("slot_value").str.json_path_match("$").alias("slot_value"))
