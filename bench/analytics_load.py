"""Loading the Overview page's data from PostgreSQL: before and after issue 18, same run.

    python bench/analytics_load.py [--events 2000000 --events 10000000] [--days 120]
                                   [--view-days 30] [--readers before,cache,after]
                                   [--layouts time,shuffled] [--build-only] [--quick]

For each size and layout, a PostgreSQL database ``aisle_bench_load_<N>_<layout>`` (with
``_<D>d`` after it when ``--days`` is not 120) is created, migrated and filled by
``python -m analytics synthesize --events N --days D --layout L --into URL`` (kept between
runs: a database already holding N synthetic events is reused, and its synthesis time is
the one recorded when it was made; ``--build-only`` makes the databases and measures
nothing; ``--drop`` drops them). The layouts hold the same events in different physical
orders: ``time`` as a live shop appends them, ``shuffled`` the worst case for a reader
that skips pages, ``chunks`` the order the synthesizer wrote before. Then each reader runs
in its own process, so that its
peak memory (ru_maxrss, the resident high-water mark) is its own, and works out the
Overview's numbers for the dashboard's default view (the last ``--view-days`` days with
data, compared with as many days before them):

- before: what the dashboard did for every page before issue 18, ``load_events(url)`` of
  every event, every column, fetched row by row through SQLAlchemy
  (``load_events_by_rows``), then the KPIs from those events;
- cache: the first step of issue 18, the dashboard's ``EventCache`` for the view and its
  comparison period, every column but the JSON properties, through ADBC, then the KPIs;
- after: what the Overview reads now, ``analytics.overview_data.OverviewWindow``: the
  daily visits PostgreSQL keeps (migration 0012, ``event_visits``), the cart steps and the
  purchases; the sidebar's channels and the KPIs of both periods and the sales per day; then
  one incremental refresh. The window has the dashboard's ttl (``--ttl``, 30 s): one read
  for the page, as the dashboard does;
- after_scan: the same reading the events themselves instead of the daily visits (six
  narrow columns reduced batch by batch, ``VISITS = "scan"``), as before migration 0012;
- after_pages: the scan as before the time-ordered reads: every page of the table in two
  ctid ranges, whatever the layout (``SCAN_PLAN = "pages"``);
- after_one_scan (when asked): the same with PostgreSQL reading the window through one
  backend instead of two;
- after_all (only when asked): the columnar reader on the whole table, for reference.

Each timing includes the bounds query (first and last event). ``same_kpis`` says whether
the readers got the same numbers as 'after'.
``baseline_rss_mb`` is the process's resident size after imports, before reading. A reader
whose process needs more than ``--memory-cap-gb`` (RLIMIT_DATA) is stopped and reported as
such, so the bench cannot take the shared machine's memory away from other work.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --- the measured readers (each in its own process) ----------------------------------------

def _periods(last: datetime, view_days: int) -> tuple[datetime, datetime, datetime]:
    """(previous start, start, end) of the dashboard's default view: the last view_days
    days with data and as many days before them (the Overview's comparison period)."""
    end = datetime.combine(last.date() + timedelta(days=1), datetime.min.time())
    start = end - timedelta(days=view_days)
    return start - timedelta(days=view_days), start, end


def _kpis_from_events(frame, previous: datetime, start: datetime, end: datetime) -> dict:
    """The Overview's numbers the way the page computed them from loaded events."""
    import polars as pl

    from analytics.abandonment import abandoned_carts
    from analytics.filters import apply_filters
    from analytics.overview import daily_sales, kpis, main_currency
    window = frame.lazy().filter(pl.col("ts") >= previous)
    last = frame["ts"].max()
    now_events = apply_filters(window, start=start, end=end)
    currency = main_currency(now_events) or main_currency(window)
    out = {}
    for label, (a, b) in (("now", (start, end)), ("before", (previous, start))):
        events = apply_filters(window, start=a, end=b)
        out[label] = kpis(events, abandoned_carts=abandoned_carts(events, now=min(b, last))
                          .height, currency=currency).__dict__
    out["daily_revenue"] = int(daily_sales(now_events, currency, start, end)["revenue"].sum())
    return out


def _kpis_from_window(url: str, previous, start, end,
                      ttl: float = 30.0) -> tuple[dict, object]:
    """The Overview's numbers the way the page computes them now (no tracker here), with
    the dashboard's ``ttl`` (``dashboard.data.EVENTS_TTL``): one read, each period worked
    out once. Until 7 Dec 2026 (10:00) the bench used ``ttl=0``, which read the last day
    again and worked the periods out again at each of the page's six calls."""
    from analytics.overview import daily_sales
    from analytics.overview_data import OverviewWindow, period_kpis
    window = OverviewWindow(url, previous, ttl=ttl)
    window.channels()  # the sidebar's list
    currency = window.main_currency(start, end)
    out = {}
    for label, (a, b) in (("now", (start, end)), ("before", (previous, start))):
        out[label] = period_kpis(window.period(a, b), currency=currency,
                                 now=min(b, window.last)).__dict__
    purchases = window.period(start, end).purchases.lazy()
    out["daily_revenue"] = int(daily_sales(purchases, currency, start, end)["revenue"].sum())
    return out, window


def measure(kind: str, url: str, view_days: int, ttl: float = 30.0) -> dict:
    import polars as pl  # noqa: F401  - imported before the baseline is taken

    from analytics.event_cache import LIGHT_COLUMNS, EventCache
    from analytics.loaders import event_bounds, load_events, load_events_by_rows
    import analytics.overview_data  # noqa: F401
    import adbc_driver_postgresql.dbapi  # noqa: F401
    baseline = rss_mb()
    started = time.perf_counter()
    extra = {}
    _, last = event_bounds(url)
    previous, start, end = _periods(last, view_days)
    if kind == "before":
        frame = load_events_by_rows(url).collect()
        extra = {"rows": frame.height, "kpis": _kpis_from_events(frame, previous, start, end)}
    elif kind == "cache":
        cache = EventCache(url, columns=LIGHT_COLUMNS, ttl=0)
        frame = cache.events(previous)
        extra = {"rows": frame.height, "kpis": _kpis_from_events(frame, previous, start, end)}
    elif kind == "after_all":
        frame = load_events(url).collect()
        extra = {"rows": frame.height}
    else:
        import analytics.overview_data as overview_data
        if kind in ("after_scan", "after_pages", "after_one_scan"):  # the events, not
            overview_data.VISITS = "scan"  # the daily visits
        if kind == "after_one_scan":  # the same, PostgreSQL reading with one backend
            overview_data.SCAN_CONNECTIONS = 1
        if kind == "after_pages":  # every page in two ctid ranges, whatever the layout
            overview_data.SCAN_PLAN = "pages"
        figures, window = _kpis_from_window(url, previous, start, end, ttl=ttl)
        loaded = time.perf_counter() - started
        refresh_started = time.perf_counter()
        window.ttl = 0
        window.channels()  # a refresh, reading the last day again
        return {"seconds": round(loaded, 2), "peak_rss_mb": rss_mb(),
                "baseline_rss_mb": baseline, "window_start": previous.isoformat(),
                "held": window.reads[0], "plan": window.reads[0].get("plan"),
                "incremental_refresh_s":
                round(time.perf_counter() - refresh_started, 3),
                "refresh_read": window.reads[-1], "kpis": figures}
    return {"seconds": round(time.perf_counter() - started, 2), "peak_rss_mb": rss_mb(),
            "baseline_rss_mb": baseline, "window_start": previous.isoformat(), **extra}


TTL = 30.0  # the window's ttl in the measuring processes (--ttl)


def run_measure(kind: str, url: str, view_days: int, cap_gb: float) -> dict:
    def limit():
        cap = int(cap_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))

    proc = subprocess.run([sys.executable, __file__, "--measure", kind, "--url", url,
                           "--view-days", str(view_days), "--ttl", str(TTL)], cwd=ROOT,
                          capture_output=True,
                          text=True, preexec_fn=limit)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no message)"]
        return {"failed": f"exit {proc.returncode}: {tail[0][:200]}",
                "note": f"memory capped at {cap_gb} GB (RLIMIT_DATA)"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- the databases ---------------------------------------------------------------------------

def bench_database(n: int, days: int, layout: str) -> tuple[str, dict]:
    """The database for n events in ``layout``, made (and synthesized into) when missing."""
    import asyncio

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from analytics.loaders import sync_url
    from databases import POSTGRES_URL, _admin
    from harness import log
    from storefront_api.migrations import upgrade
    name = f"aisle_bench_load_{n}_{layout}" + (f"_{days}d" if days != 120 else "")
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    marker = ROOT / "var" / "bench" / f"{name}.json"
    if marker.exists():
        made = json.loads(marker.read_text())
        engine = create_engine(sync_url(url))
        try:
            with engine.connect() as conn:
                have = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
        except Exception:  # noqa: BLE001 - gone or broken: make it again
            have = -1
        finally:
            engine.dispose()
        if have == made.get("events") and made.get("days") == days \
                and made.get("layout") == layout:
            log(f"reusing {name} ({have} events, synthesized in {made['synthesis_s']} s)")
            upgrade(url)  # a database made before a migration gets it (0012: its visits)
            return url, made
    log(f"creating {name} and synthesizing {n} events over {days} days ({layout})")
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    upgrade(url)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "analytics", "synthesize", "--events", str(n),
                    "--days", str(days), "--layout", layout, "--into", url], cwd=ROOT,
                   check=True,
                   stdout=subprocess.DEVNULL)
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE events"))
        if conn.execute(text("SELECT to_regclass('event_visits')")).scalar():
            conn.execute(text("ANALYZE event_visits"))
        have = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
    engine.dispose()
    made = {"events": have, "days": days, "layout": layout,
            "synthesis_s": round(time.perf_counter() - started, 1),
            "made_at": datetime.utcnow().isoformat(timespec="seconds")}
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(made))
    return url, made


def adopt(n: int, url: str, days: int, synthesis_s: float, layout: str = "time") -> None:
    """Record a database synthesized by hand (same command) so the bench reuses it."""
    from sqlalchemy import create_engine, text

    from analytics.loaders import sync_url
    engine = create_engine(sync_url(url))
    with engine.connect() as conn:
        have = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
    engine.dispose()
    marker = ROOT / "var" / "bench" / f"aisle_bench_load_{n}_{layout}.json"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"events": have, "days": days, "synthesis_s": synthesis_s,
                                  "layout": layout,
                                  "made_at": datetime.utcnow().isoformat(timespec="seconds")}))


def drop_databases(sizes: list[int], layouts: list[str], days: int) -> None:
    """Drop the bench databases (about 2 GB for 10M events) and forget them."""
    import asyncio

    from databases import _admin
    for n in sizes:
        for layout in layouts:
            name = f"aisle_bench_load_{n}_{layout}" + (f"_{days}d" if days != 120 else "")
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            (ROOT / "var" / "bench" / f"{name}.json").unlink(missing_ok=True)


def _same_kpis(row: dict) -> dict:
    """Whether each reader that computed the Overview's numbers got the same as 'after'."""
    want = row.get("after", {}).get("kpis")
    return {kind: row[kind]["kpis"] == want
            for kind in ("before", "cache", "after_scan", "after_pages", "after_one_scan")
            if want is not None and "kpis" in row.get(kind, {})}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, action="append")
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--view-days", type=int, default=30)
    parser.add_argument("--memory-cap-gb", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="200,000 events")
    parser.add_argument("--readers", default="before,cache,after",
                        help="comma-separated, in order: before, cache, after, "
                             "after_scan, after_pages, after_one_scan, after_all")
    parser.add_argument("--layouts", default="time,shuffled",
                        help="comma-separated: time, shuffled, chunks")
    parser.add_argument("--build-only", action="store_true",
                        help="make the databases, measure nothing")
    parser.add_argument("--drop", action="store_true",
                        help="drop the bench databases of --events and --layouts")
    parser.add_argument("--measure", choices=["before", "cache", "after", "after_scan",
                                              "after_pages", "after_one_scan", "after_all"])
    parser.add_argument("--url")
    parser.add_argument("--ttl", type=float, default=30.0,
                        help="the Overview window's ttl: 30 as the dashboard (0 as the "
                             "bench did before 7 Dec 2026 10:00: a read at every call)")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.url, args.view_days, args.ttl),
                         default=str))
        return 0
    global TTL
    TTL = args.ttl
    from harness import log, write_result
    sizes = args.events or ([200_000] if args.quick else [2_000_000])
    results = {}
    layouts = args.layouts.split(",")
    if args.drop:
        drop_databases(sizes, layouts, args.days)
        return 0
    for n in sizes:
        for layout in layouts:
            url, made = bench_database(n, args.days, layout)
            if args.build_only:
                continue
            row = {"database": made}
            for kind in args.readers.split(","):
                log(f"{n} events, {layout}: {kind}")
                runs = sum(k.split("#")[0] == kind for k in row)  # a reader asked again
                key = f"{kind}#{runs + 1}" if runs else kind
                row[key] = run_measure(kind, url, args.view_days, args.memory_cap_gb)
                log(f"  {row[key]}")
            row["same_kpis"] = _same_kpis(row)
            log(f"  same KPIs: {row['same_kpis']}")
            results[f"{n} {layout}" + (f" {args.days}d" if args.days != 120 else "")] = row
    if args.build_only:
        return 0
    write_result("analytics_load" + ("_quick" if args.quick else ""),
                 {"view_days": args.view_days, "days": args.days, "ttl": TTL, "sizes": results,
                  "machine": f"{os.cpu_count()} cores",
                  "load_average": [round(x, 2) for x in os.getloadavg()]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
