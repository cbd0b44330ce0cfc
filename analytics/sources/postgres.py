"""PostgreSQL's events table read column-wise through ADBC (Arrow over libpq's COPY BINARY).

``analytics.loaders`` builds the query; this module only connects, binds and fetches. The
rows never become Python objects: ADBC hands Arrow record batches to polars. The
SQLAlchemy URL (any driver: asyncpg, psycopg) becomes the libpq URI ADBC wants.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import polars as pl

from ..schema import InputError

T = TypeVar("T")


def libpq_uri(url: str) -> str:
    """postgresql+asyncpg://u:p@h:5432/db?x=y -> postgresql://u:p@h:5432/db?x=y"""
    from sqlalchemy.engine import make_url
    parsed = make_url(url)
    if not parsed.drivername.startswith(("postgresql", "postgres")):
        raise InputError(f"{parsed.drivername} is not a PostgreSQL URL")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def read_arrow(url: str, query: str, params: Sequence = ()) -> pl.DataFrame:
    """Run ``query`` ($1, $2... placeholders bound to ``params``) and return its rows.
    Without parameters the driver reads with COPY, in batches; with them libpq holds the
    whole answer as text first (analytics.loaders inlines its literals for that reason)."""
    adbc, AdbcError = _driver()
    try:
        with adbc.connect(libpq_uri(url)) as conn, conn.cursor() as cursor:
            cursor.execute(query, list(params) if params else None)
            reader = cursor.fetch_record_batch()
            # batch by batch: each Arrow batch is let go once polars holds its columns
            parts = [pl.from_arrow(batch, rechunk=False) for batch in reader]
            if not parts:
                return pl.from_arrow(reader.schema.empty_table())
    except AdbcError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"could not read from {_safe(url)}: {first}") from None
    return pl.concat(parts, rechunk=False) if len(parts) > 1 else parts[0]


def read_arrow_batches(url: str, query: str, reduce: Callable[[pl.DataFrame], T],
                       settings: Sequence[str] = ()) -> list[T]:
    """``reduce`` of each record batch of ``query`` (no parameters: COPY), in order. The
    reductions run in a second thread while the next batch is fetched (polars and the
    driver let go of the GIL); at most two batches wait, so memory stays bounded.
    ``settings`` (``SET ...`` statements) run first, on the same connection."""
    adbc, AdbcError = _driver()
    pending: deque[Future] = deque()
    results: list[T] = []
    try:
        with (adbc.connect(libpq_uri(url)) as conn, conn.cursor() as cursor,
              ThreadPoolExecutor(max_workers=1) as pool):
            for statement in settings:
                cursor.execute(statement)
            cursor.execute(query)
            for batch in cursor.fetch_record_batch():
                if len(pending) >= 2:
                    results.append(pending.popleft().result())
                pending.append(pool.submit(lambda b=batch: reduce(pl.from_arrow(b))))
            results.extend(f.result() for f in pending)
    except AdbcError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"could not read from {_safe(url)}: {first}") from None
    return results


def _driver():
    try:
        import adbc_driver_postgresql.dbapi as adbc
    except ModuleNotFoundError:
        raise InputError("the ADBC driver is missing: pip install adbc-driver-postgresql") \
            from None
    from adbc_driver_manager import Error as AdbcError
    return adbc, AdbcError


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)
