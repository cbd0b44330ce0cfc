"""Where events come from: Aisle's database, Rasa's tracker store, Parquet/CSV files.

Database URLs are SQLAlchemy URLs; the async drivers the shop uses (aiosqlite, asyncpg) are
mapped to their synchronous siblings (sqlite3, psycopg) because analytics reads in one go.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import polars as pl

from .filters import apply_filters
from .imports import import_events  # noqa: F401 - part of the loaders' interface
from .schema import EVENT_SCHEMA, SITE_CHANNEL, STORED_COLUMNS, InputError, conform

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


# What each derived column is made of (analytics.schema.conform derives them)
_DERIVED_FROM = {"user_id": ("customer_id", "session_id", "conversation_id"),
                 "category": ("properties",), "email": ("properties",)}
# PostgreSQL derives category and email itself, so the JSON text need not travel; the
# LIKE (a substring scan of the stored JSON text) spares parsing the rows without the key
_PG_DERIVED = {
    "category": "CASE WHEN CAST(properties AS text) LIKE '%category\"%' THEN "
                "COALESCE(CAST(properties AS json)->>'item_category', "
                "CAST(properties AS json)->>'category') END",
    "email": "CASE WHEN CAST(properties AS text) LIKE '%\"email\"%' THEN "
             "CAST(properties AS json)->>'email' END",
}


def _wanted(columns: Iterable[str] | None) -> list[str]:
    if columns is None:
        return list(EVENT_SCHEMA)
    wanted = list(dict.fromkeys(columns))
    unknown = [c for c in wanted if c not in EVENT_SCHEMA]
    if unknown:
        raise InputError(f"events have no column {', '.join(unknown)}; "
                         f"they have {', '.join(EVENT_SCHEMA)}")
    return wanted


def _stored_needed(wanted: list[str], derive_in_sql: bool) -> tuple[list[str], list[str]]:
    """(stored columns to read, derived columns the database computes) for ``wanted``."""
    stored, in_sql = [], []
    for column in wanted:
        if column in _DERIVED_FROM:
            if derive_in_sql and column in _PG_DERIVED:
                in_sql.append(column)
            else:
                stored.extend(_DERIVED_FROM[column])
        else:
            stored.append(column)
    return [c for c in STORED_COLUMNS if c in stored], in_sql


def _channel_clause(channels: list[str] | None, placeholder) -> tuple[str, list]:
    if not channels:
        return "", []
    marks = ", ".join(placeholder(i) for i in range(len(channels)))
    return f"COALESCE(channel, '{SITE_CHANNEL}') IN ({marks})", list(channels)


def _events_from_database(url: str, start, end, channels: list[str] | None,
                          wanted: list[str], names: list[str] | None = None) -> pl.LazyFrame:
    if _is_postgres(url):
        return _events_from_postgres(url, start, end, channels, wanted, names)
    return _events_from_sqlalchemy(url, start, end, channels, wanted, names)


def _events_from_sqlalchemy(url: str, start, end, channels: list[str] | None,
                            wanted: list[str], names: list[str] | None = None) -> pl.LazyFrame:
    from sqlalchemy import Text
    stored, _ = _stored_needed(wanted, derive_in_sql=False)
    # properties is JSON in both databases; as text it reads the same from SQLite and PG
    columns = ", ".join("CAST(properties AS TEXT) AS properties" if c == "properties" else c
                        for c in stored) or "ts"
    where, params = _sql_range(start, end)
    clause, values = _channel_clause(channels, lambda i: f":channel{i}")
    if clause:
        where = f"{where} AND {clause}" if where else f" WHERE {clause}"
        params.update({f"channel{i}": v for i, v in enumerate(values)})
    if names:
        marks = ", ".join(f":name{i}" for i in range(len(names)))
        where = f"{where} AND name IN ({marks})" if where else f" WHERE name IN ({marks})"
        params.update({f"name{i}": v for i, v in enumerate(names)})
    schema = {c: EVENT_SCHEMA[c] for c in stored} or {"ts": EVENT_SCHEMA["ts"]}
    types = {**{c: t for c, t in sql_types().items() if c in schema}}
    if "properties" in types:
        types["properties"] = Text()
    frame = _read_sql(url, f"SELECT {columns} FROM events{where} ORDER BY ts", params, schema,
                      types)
    return frame.lazy()


def _is_postgres(url: str) -> bool:
    from sqlalchemy.engine import make_url
    return make_url(url).drivername.startswith(("postgresql", "postgres"))


def _pg_literal(value) -> str:
    """A PostgreSQL literal of a datetime or a string (standard_conforming_strings, the
    default since 9.1: only the quote is special). Bound parameters would cost the columnar
    path its COPY: libpq would hold the whole answer as text first."""
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    text = str(value)
    if "\x00" in text:
        raise InputError("a channel name cannot contain a NUL character")
    return "'" + text.replace("'", "''") + "'"


def _events_from_postgres(url: str, start, end, channels, wanted, names=None) -> pl.LazyFrame:
    """The columnar path: only the wanted columns and rows, as Arrow (analytics.sources),
    through COPY; sorted by time here (an index scan in ts order costs PostgreSQL more)."""
    from .sources.postgres import read_arrow
    stored, in_sql = _stored_needed(wanted, derive_in_sql=True)
    select = [("CAST(properties AS TEXT) AS properties" if c == "properties" else c)
              for c in stored] + [f"{_PG_DERIVED[c]} AS {c}" for c in in_sql]
    clauses = [f"ts {op} {_pg_literal(bound)}"
               for bound, op in ((start, ">="), (end, "<")) if bound is not None]
    clause, values = _channel_clause(channels, lambda i: "{%d}" % i)
    if clause:
        clauses.append(clause.format(*[_pg_literal(v) for v in values]))
    if names:
        clauses.append(f"name IN ({', '.join(_pg_literal(n) for n in names)})")
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    frame = read_arrow(url, f"SELECT {', '.join(select or ['ts'])} FROM events{where}")
    # an empty answer may come back typeless: give it the schema
    frame = frame.cast({c: EVENT_SCHEMA[c] for c in frame.columns}, strict=False)
    if not frame["ts"].is_sorted():  # rows mostly come in the order they were written
        frame = frame.sort("ts", maintain_order=True)
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
                end: datetime | None = None, channels: Iterable[str] | None = None,
                columns: Iterable[str] | None = None,
                names: Iterable[str] | None = None) -> pl.LazyFrame:
    """Conformed events (EVENT_SCHEMA) from a database URL, a .parquet/.csv file or a
    directory of .parquet files, with ``start <= ts < end``, on ``channels`` and named one of
    ``names`` when given (a database answers with an index on name and time).

    ``columns`` (default: all of EVENT_SCHEMA) are the only ones returned, and a database
    is asked only for them and for the rows in range: the JSON properties travel only when
    ``properties`` is wanted (PostgreSQL derives ``category`` and ``email`` itself; SQLite
    reads properties for them). PostgreSQL is read column-wise (ADBC, Arrow), SQLite through
    SQLAlchemy; files are scanned lazily, so polars pushes the same filters into the scan."""
    wanted = _wanted(columns)
    channels = [c for c in channels or [] if c] or None
    names = list(names) if names is not None else None
    # conform needs ts and name, and the filters below re-check ts and channel
    read = list(dict.fromkeys(["ts", "name", *(["channel"] if channels else []), *wanted]))
    if is_database_url(source):
        lf = _events_from_database(source, start, end, channels, read, names)
    else:
        lf = _events_from_file(Path(source.removeprefix("file://")))
    lf = apply_filters(conform(lf), start=start, end=end, channels=channels)
    if names is not None:
        lf = lf.filter(pl.col("name").is_in(names))
    return lf if columns is None else lf.select(wanted)


def event_bounds(source: str) -> tuple[datetime | None, datetime | None]:
    """The first and last event's time (None, None without events); one indexed query."""
    if is_database_url(source) and _is_postgres(source):  # through ADBC, as the events
        from .sources.postgres import read_arrow
        row = read_arrow(source, "SELECT min(ts) AS first, max(ts) AS last FROM events")
    elif is_database_url(source):
        from sqlalchemy import DateTime
        row = _read_sql(source, "SELECT min(ts) AS first, max(ts) AS last FROM events", {},
                        {"first": pl.Datetime("us"), "last": pl.Datetime("us")},
                        {"first": DateTime(), "last": DateTime()})
    else:
        row = (load_events(source, columns=["ts"])
               .select(pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"))
               .collect())
    return row["first"][0], row["last"][0]


def load_events_by_rows(source: str, *, start: datetime | None = None,
                        end: datetime | None = None) -> pl.LazyFrame:
    """Every column, fetched row by row through SQLAlchemy: how every database was read
    before the columnar reader. Kept as the reference the tests and bench/analytics_load.py
    compare the columnar path with."""
    if not is_database_url(source):
        return load_events(source, start=start, end=end)
    lf = _events_from_sqlalchemy(source, start, end, None, list(EVENT_SCHEMA))
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
