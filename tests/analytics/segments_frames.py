"""Small hand-made event logs for the abandonment, segment and chat tests."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import polars as pl

from analytics.schema import conform

T0 = datetime(2026, 10, 1, 12, 0)


def at(**delta) -> datetime:
    return T0 + timedelta(**delta)


def events(*rows: dict) -> pl.LazyFrame:
    """Rows with at least ts and name; properties as a dict; the rest as in EVENT_SCHEMA."""
    prepared = []
    for i, row in enumerate(rows):
        row = dict(row)
        row.setdefault("event_id", f"e{i}")
        row["properties"] = json.dumps(row.get("properties") or {})
        prepared.append(row)
    columns = sorted({k for row in prepared for k in row})
    frame = pl.DataFrame([{c: row.get(c) for c in columns} for row in prepared],
                         schema_overrides={"value": pl.Int64, "ts": pl.Datetime("us"),
                                           "consent": pl.Boolean}, infer_schema_length=None)
    return conform(frame.lazy())
