"""``synthesize``: synthetic shop traffic into Parquet, or into a shop database's events table
(months of history for the dashboard right after ``make run``).

Synthetic events have ids starting with ``syn``; loading into a database that already holds
them does nothing (``--replace`` swaps them for a new set), so the demo set-up can run it
every time. Into a database, the synthetic shoppers' advertising decisions go into its
``consents`` table too (analytics.consent.synthetic_decisions), so the audience export has
members to export.

Rows go into the table in one of three physical orders (``--layout``), the same events in
each: ``time`` (the default) appends them in time order, as a live shop's table fills, so a
period's events sit in a contiguous run of pages; ``chunks`` is how it wrote before, one
time-sorted run per million events, each run spanning the whole history; ``shuffled`` is the
worst case for a reader that skips pages, every page holding events of any day. The last two
are staged through temporary Parquet files and read back a bucket at a time, so memory stays
that of about a million events.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl
from storefront_api.progress import CommandProgress, count

from .consent import synthetic_decisions
from .loaders import _engine, _safe, default_events_source, is_database_url, sql_types
from .schema import STORED_COLUMNS, InputError
from .synthetic import DEFAULT_START, iter_chunks, write_parquet

SYNTHETIC_PREFIX = "syn"
LAYOUTS = ("time", "chunks", "shuffled")
EVENTS_PER_BUCKET = 1_000_000  # rows sorted (or shuffled) in memory at once


def _count_synthetic(conn) -> int:
    from sqlalchemy import text
    return conn.execute(text("SELECT count(*) FROM events WHERE event_id LIKE :p"),
                        {"p": SYNTHETIC_PREFIX + "%"}).scalar_one()


def append_to_database(url: str, n_events: int, *, seed: int = 0, start: datetime,
                       days: int, replace: bool = False, layout: str = "time",
                       progress=None) -> dict:
    """Insert synthetic events into the ``events`` table at ``url`` (created by the shop's
    migrations) in the physical order ``layout`` names (module docstring); one transaction,
    so a failure leaves the table as it was."""
    if layout not in LAYOUTS:
        raise InputError(f"--layout is one of {', '.join(LAYOUTS)}, not {layout!r}")
    from sqlalchemy import column, insert, table, text
    from sqlalchemy.exc import SQLAlchemyError
    events = table("events", *[column(c, t) for c, t in sql_types().items()])
    engine, started, inserted = _engine(url), time.perf_counter(), 0
    try:
        with engine.begin() as conn:
            present = _count_synthetic(conn)
            if present and not replace:
                return {"database": _safe(url), "inserted": 0, "already_present": present,
                        "note": "synthetic history is already there (--replace to renew it)"}
            conn.execute(text("DELETE FROM events WHERE event_id LIKE :p"),
                         {"p": SYNTHETIC_PREFIX + "%"})
            contacts = []  # (email, ts) of the events carrying an address
            # the shop's own currency, and nothing later than now: the demo agrees with
            # the shop it is added to
            chunks = iter_chunks(n_events, seed=seed, start=start, days=days,
                                 currency=_shop_currency(conn), until=_now())
            with tempfile.TemporaryDirectory(prefix="aisle-synthesize-") as staging:
                for chunk in in_layout(chunks, layout, seed=seed, staging=Path(staging)):
                    contacts.append(chunk.filter(pl.col("email").is_not_null())
                                    .select("email", "ts"))
                    for i in range(0, chunk.height, 20_000):
                        part = chunk.slice(i, 20_000).select(STORED_COLUMNS)
                        if conn.dialect.name == "postgresql":
                            _copy_into_postgres(conn, part)
                        else:
                            rows = part.to_dicts()
                            for row in rows:  # the column is JSON: the driver encodes it
                                row["properties"] = json.loads(row["properties"])
                            conn.execute(insert(events), rows)
                        inserted += part.height
                        count(progress, "events", inserted, n_events)
            if contacts:
                _append_consents(conn, synthetic_decisions(pl.concat(contacts)))
            _compact_visits(conn)
    except SQLAlchemyError as exc:
        raise InputError(f"could not write to {_safe(url)}: {str(exc).splitlines()[0]}; "
                         "is it a migrated shop database (python -m storefront_api "
                         "migrate)?") from None
    finally:
        engine.dispose()
    return {"database": _safe(url), "inserted": inserted, "replaced": present if replace else 0,
            "seconds": round(time.perf_counter() - started, 1)}


def _compact_visits(conn) -> None:
    """Fold the Overview's daily visits the triggers appended for these events (migration
    0012; the API does it every few minutes): the demo's Overview reads them compact."""
    from sqlalchemy import text
    if conn.dialect.name == "postgresql" and conn.execute(
            text("SELECT to_regproc('compact_event_visits')")).scalar() is not None:
        conn.execute(text("SELECT compact_event_visits()"))


def _copy_into_postgres(conn, part: pl.DataFrame) -> None:
    """``part``'s rows appended with COPY (CSV; ``\\N`` is NULL), in the caller's
    transaction: ten times the speed of INSERTs, the same rows."""
    columns = ", ".join(part.columns)
    # the generator's properties are one-key objects of plain strings; stored as the
    # driver's json.dumps would have stored them, so both paths leave the same text
    part = part.with_columns(pl.col("properties").str.replace('":"', '": "', literal=True))
    data = part.write_csv(include_header=False, null_value="\\N").encode()
    with conn.connection.driver_connection.cursor() as cursor, cursor.copy(
            f"COPY events ({columns}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as copy:
        copy.write(data)


def in_layout(chunks: Iterator[pl.DataFrame], layout: str, *, seed: int,
              staging: Path) -> Iterator[pl.DataFrame]:
    """The generator's chunks (each sorted by time, each spanning the whole history) in
    the order ``layout`` writes them: as they come (``chunks``), or staged in ``staging``
    and read back in buckets of about a million events, each a slice of time in time order
    (``time``), or a random share of every day in random order (``shuffled``)."""
    if layout == "chunks":
        yield from chunks
        return
    files, total = [], 0
    for index, chunk in enumerate(chunks):
        rng = np.random.default_rng([seed, index, 7])
        chunk = chunk.with_columns(pl.Series("_draw", rng.random(chunk.height)))
        files.append(staging / f"chunk-{index:05d}.parquet")
        chunk.write_parquet(files[-1], row_group_size=100_000)
        total += chunk.height
    if not total:
        return
    staged = pl.scan_parquet(files)
    buckets = -(-total // EVENTS_PER_BUCKET)
    if layout == "shuffled":
        for bucket in range(buckets):
            share = (pl.col("_draw") * buckets).floor() == bucket
            yield staged.filter(share).sort("_draw").drop("_draw").collect()
        return
    first, last = staged.select(pl.col("ts").min().alias("first"),
                                pl.col("ts").max().alias("last")).collect().row(0)
    edges = [first + (last - first) * i / buckets for i in range(buckets)] + [None]
    for low, high in zip(edges, edges[1:]):
        before_high = pl.col("ts") < high if high is not None else pl.lit(True)
        part = staged.filter(pl.col("ts") >= low, before_high)
        yield part.sort("ts", maintain_order=True).drop("_draw").collect()


def _shop_currency(conn) -> str:
    """The currency most of the shop's products are priced in (SHOP_CURRENCY, else USD, for
    a shop without products yet)."""
    from sqlalchemy import text
    try:
        with conn.begin_nested():  # a failure here must not spoil the caller's transaction
            found = conn.execute(text("SELECT currency FROM products GROUP BY currency "
                                      "ORDER BY count(*) DESC LIMIT 1")).scalar()
    except Exception:  # not a shop database: the caller's error says so
        found = None
    return (found or os.environ.get("SHOP_CURRENCY") or "USD").upper()


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _append_consents(conn, decisions: pl.DataFrame) -> None:
    """The synthetic shoppers' advertising decisions (analytics.consent), replacing any the
    same addresses had, so the demo dashboard has an audience to export."""
    from sqlalchemy import Boolean, DateTime, String, column, delete, insert, table
    consents = table("consents", column("subject", String()), column("purpose", String()),
                     column("granted", Boolean()), column("source", String()),
                     column("recorded_at", DateTime()))
    subjects = decisions["subject"].to_list()
    for i in range(0, len(subjects), 500):
        conn.execute(delete(consents).where(consents.c.subject.in_(subjects[i:i + 500])))
    # as the shop records an address's grant of advertising: confirmed by its owner
    rows = decisions.with_columns(pl.lit("email-confirmation").alias("source")).to_dicts()
    if rows:
        conn.execute(insert(consents), rows)


def _start(args) -> datetime:
    if args.start:
        from .cli import parse_when
        return parse_when(args.start)
    if args.into:  # demo history ends today, so "last 30 days" shows data
        today = datetime.combine(datetime.utcnow().date(), datetime.min.time())
        return today - timedelta(days=args.days)
    return DEFAULT_START


def _run(args) -> dict:
    if args.count < 0 or args.days < 1 or args.files < 1:
        raise InputError("--events must be >= 0, --days and --files >= 1")
    if args.into == "":
        args.into = default_events_source()
    start = _start(args)
    if args.into:
        if not is_database_url(args.into):
            raise InputError(f"--into takes a database URL (sqlite:///var/shop.db), "
                             f"not {args.into!r}; use --output for a Parquet file")
        with CommandProgress() as progress:
            return append_to_database(args.into, args.count, seed=args.seed, start=start,
                                      days=args.days, replace=args.replace,
                                      layout=args.layout, progress=progress)
    if not args.output:
        raise InputError("say where the events go: --output FILE.parquet (or a directory "
                         "with --files N) or --into DATABASE_URL")
    started = time.perf_counter()
    with CommandProgress() as progress:
        files = write_parquet(Path(args.output), args.count, seed=args.seed, start=start,
                              days=args.days, files=args.files, progress=progress)
    return {"files": [str(f) for f in files], "events": args.count, "seed": args.seed,
            "start": start, "days": args.days,
            "seconds": round(time.perf_counter() - started, 1)}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "synthesize", help="synthetic shop traffic into Parquet or a shop database",
        description="Deterministic by --seed. Example: synthesize --events 10000000 "
                    "--output var/synthetic.parquet")
    parser.add_argument("--events", dest="count", type=int, default=200_000, metavar="N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--days", type=int, default=90, help="length of the history")
    parser.add_argument("--start", metavar="DATE",
                        help="first day (default 2026-09-01; with --into: --days ago)")
    parser.add_argument("--output", metavar="PATH", help="Parquet file (or directory)")
    parser.add_argument("--files", type=int, default=1, help="split into N Parquet files")
    parser.add_argument("--into", nargs="?", const="", metavar="DATABASE_URL",
                        help="append to a shop database's events table (no value: "
                             "$ANALYTICS_EVENTS_URL / $DATABASE_URL / var/shop.db)")
    parser.add_argument("--replace", action="store_true",
                        help="with --into: replace synthetic events already there")
    parser.add_argument("--layout", choices=LAYOUTS, default="time",
                        help="with --into: the table's physical order; time (as a live "
                             "shop appends, the default), chunks (one time-sorted run per "
                             "million events, as before) or shuffled (the worst case)")
    parser.set_defaults(handler=_run)
