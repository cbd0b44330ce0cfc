"""The event schema every analytics computation reads (the shop's ``events`` table:
storefront_api/events/models.py).

One row per event, GA4 names. ``conform`` turns any lazy frame that has at least ``ts`` and
``name`` into this schema: missing columns become nulls, types are cast, and three columns
are derived so that every consumer derives them the same way:

- ``user_id``: who did it, ``coalesce(user_id, customer_id, session_id, conversation_id)``
  (an imported log may bring its own user_id);
- ``category``: the ``item_category`` (GA4) or ``category`` property when present;
- ``email``: the ``email`` property when present (only consented events carry it).

Events without a channel happened on the shop's own pages: their channel is ``site``.
"""

from __future__ import annotations

import polars as pl

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.Utf8,
    "ts": pl.Datetime("us"),  # naive, UTC
    "name": pl.Utf8,
    "session_id": pl.Utf8,
    "customer_id": pl.Utf8,
    "cart_id": pl.Utf8,
    "order_number": pl.Utf8,
    "conversation_id": pl.Utf8,
    "channel": pl.Utf8,
    "source": pl.Utf8,
    "device": pl.Utf8,
    "item_id": pl.Utf8,
    "value": pl.Int64,  # minor units
    "currency": pl.Utf8,
    "consent": pl.Boolean,
    "properties": pl.Utf8,  # JSON text
    "user_id": pl.Utf8,
    "category": pl.Utf8,
    "email": pl.Utf8,
}
STORED_COLUMNS = list(EVENT_SCHEMA)[:16]
DERIVED_COLUMNS = ["user_id", "category", "email"]
SITE_CHANNEL = "site"


class InputError(ValueError):
    """Bad input from the user (a file, a column, a duration...): the message says what to do.
    The command line prints it on one line and exits with status 2."""


def _ts_expr(dtype: pl.DataType) -> pl.Expr:
    ts = pl.col("ts")
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            ts = ts.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return ts.dt.cast_time_unit("us")
    if dtype == pl.Date:
        return ts.cast(pl.Datetime("us"))
    if dtype == pl.Utf8:
        # ISO text, with or without an offset; offsets are converted to UTC
        return (ts.str.to_datetime(time_unit="us", time_zone="UTC", strict=False)
                .dt.replace_time_zone(None))
    raise InputError(f"column ts has type {dtype}; it must hold date-times or ISO text")


def _property(key: str) -> pl.Expr:
    return pl.col("properties").str.json_path_match(f"$.{key}")


def conform(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Cast to EVENT_SCHEMA, add missing columns as nulls, derive user_id, category, email."""
    have = lf.collect_schema()
    missing = [c for c in ("ts", "name") if c not in have]
    if missing:
        raise InputError(f"events need the columns {', '.join(missing)}; "
                         f"the data has {', '.join(have) or 'no columns'}")
    columns = []
    for column, dtype in EVENT_SCHEMA.items():
        if column in DERIVED_COLUMNS:
            continue
        if column == "ts":
            columns.append(_ts_expr(have["ts"]).alias("ts"))
        elif column in have:
            columns.append(pl.col(column).cast(dtype))
        else:
            columns.append(pl.lit(None, dtype=dtype).alias(column))
    out = lf.select(columns + [pl.col(c).cast(pl.Utf8) for c in DERIVED_COLUMNS if c in have])
    derived = {
        "user_id": pl.coalesce(([pl.col("user_id")] if "user_id" in have else [])
                               + [pl.col(c) for c in ("customer_id", "session_id",
                                                      "conversation_id")]),
        "category": pl.coalesce(([pl.col("category")] if "category" in have else [])
                                + [_property("item_category"), _property("category")]),
        "email": pl.col("email") if "email" in have else _property("email"),
    }
    return out.with_columns(
        pl.col("channel").fill_null(SITE_CHANNEL),
        pl.col("consent").fill_null(False),
        **derived,
    ).select(list(EVENT_SCHEMA))


def empty_events() -> pl.LazyFrame:
    return pl.LazyFrame(schema=EVENT_SCHEMA)
