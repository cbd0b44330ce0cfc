"""The filters every computation and dashboard page share: a date range and channels."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time

import polars as pl


def _as_datetime(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # events are naive UTC
            from datetime import timezone
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value
    return datetime.combine(value, time())


def apply_filters(lf: pl.LazyFrame, *, start: date | datetime | None = None,
                  end: date | datetime | None = None,
                  channels: Iterable[str] | None = None) -> pl.LazyFrame:
    """Events with ``start <= ts < end`` (either may be None) on one of ``channels``.

    ``end`` is exclusive, so consecutive periods never count an event twice; a ``date``
    means midnight UTC at the start of that day (the CLI turns ``--to 2026-09-30`` into the
    end of that day)."""
    if start is not None:
        lf = lf.filter(pl.col("ts") >= _as_datetime(start))
    if end is not None:
        lf = lf.filter(pl.col("ts") < _as_datetime(end))
    if channels:
        lf = lf.filter(pl.col("channel").is_in(list(channels)))
    return lf
