"""The ClickHouse tables of the analytics store (deploy/clickhouse/schema.sql is this DDL,
applied by the ``clickhouse`` service of docker-compose at its first start).

``events`` holds conformed events (analytics.schema.EVENT_SCHEMA, the derived ``user_id``,
``category`` and ``email`` included, so queries need not parse JSON) and ``seq``: the
event's position in its source, which orders events of the same microsecond as the log did
(0 when unknown; then the event id decides). It is a ReplacingMergeTree whose sorting key
ends with the event id: a redelivered event (the same id, unit and time) is merged into
one row, and queries read ``FINAL`` so that they never count it twice even before the
merge. One partition per month, ordered by unit and time: a funnel reads its units' events
in order, and dropping a month is dropping a partition.

``rasa_events`` is the consumer's table (analytics/rasa_events.py) in ClickHouse, keyed on
Rasa's event key in the same way.
"""

from __future__ import annotations

import polars as pl

from ..schema import EVENT_SCHEMA

_TYPES = {pl.Utf8: "Nullable(String)", pl.Int64: "Nullable(Int64)", pl.Boolean: "Bool",
          pl.Float64: "Nullable(Float64)"}


def _column_type(name: str, dtype) -> str:
    if name == "event_id":
        return "String"
    if name == "ts":
        return "DateTime64(6, 'UTC')"
    return _TYPES[dtype]


def events_ddl(table: str = "events") -> str:
    columns = ",\n    ".join(f"{name} {_column_type(name, dtype)}"
                             for name, dtype in EVENT_SCHEMA.items())
    return f"""CREATE TABLE IF NOT EXISTS {table} (
    {columns},
    seq UInt64 DEFAULT 0
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (ifNull(user_id, ''), ts, event_id)"""


def rasa_events_ddl(table: str = "rasa_events") -> str:
    return f"""CREATE TABLE IF NOT EXISTS {table} (
    event_key String,
    conversation_id String,
    ts DateTime64(6, 'UTC'),
    type LowCardinality(String),
    intent Nullable(String),
    action Nullable(String),
    confidence Nullable(Float64),
    input_channel Nullable(String),
    policy Nullable(String),
    slot Nullable(String),
    slot_value Nullable(String),
    received_at DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (conversation_id, ts, event_key)"""


def schema_sql(database: str = "aisle") -> str:
    """Every table, as one script (deploy/clickhouse/schema.sql): the server's start-up
    scripts run in its default database, so the names are qualified."""
    return ";\n\n".join([f"CREATE DATABASE IF NOT EXISTS {database}",
                          events_ddl(f"{database}.events"),
                          rasa_events_ddl(f"{database}.rasa_events")]) + ";\n"
