"""Loading the Overview page's data from PostgreSQL: before and after issue 18, same run.

    python bench/analytics_load.py [--events 2000000 --events 10000000] [--days 120]
                                   [--view-days 30] [--quick]

For each size, a PostgreSQL database ``aisle_bench_load_<N>`` is created, migrated and
filled by ``python -m analytics synthesize --events N --days D --into URL`` (kept between
runs: a database already holding N synthetic events is reused, and its synthesis time is
the one recorded when it was made). Then each reader runs in its own process, so that its
peak memory (ru_maxrss, the resident high-water mark) is its own:

- before: what the dashboard did for every page, ``load_events(url).collect()`` of every
  event, every column, fetched row by row through SQLAlchemy (``load_events_by_rows``);
- after: what the Overview reads now, the dashboard's ``EventCache`` for a ``--view-days``
  view and the period before it (its comparison), every column but the JSON properties,
  through ADBC, plus the bounds query (first and last event); then one incremental refresh;
- after, every event: the columnar reader on the whole table, for reference.

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

def measure(kind: str, url: str, view_days: int) -> dict:
    import polars as pl  # noqa: F401  - imported before the baseline is taken

    from analytics.event_cache import LIGHT_COLUMNS, EventCache
    from analytics.loaders import event_bounds, load_events, load_events_by_rows
    import adbc_driver_postgresql.dbapi  # noqa: F401
    baseline = rss_mb()
    started = time.perf_counter()
    extra = {}
    if kind == "before":
        frame = load_events_by_rows(url).collect()
    elif kind == "after_all":
        frame = load_events(url).collect()
    else:
        # the dashboard's default view: the last view_days days with data and the same
        # number of days before them (the Overview's comparison period)
        _, last = event_bounds(url)
        first_day = last.date() - timedelta(days=view_days - 1)
        window = datetime.combine(first_day - timedelta(days=view_days), datetime.min.time())
        cache = EventCache(url, columns=LIGHT_COLUMNS, ttl=0)
        frame = cache.events(window)
        loaded = time.perf_counter() - started
        refresh_started = time.perf_counter()
        cache.events(window)  # ttl 0: refresh, reading only what came after the last event
        extra = {"window_start": window.isoformat(), "incremental_refresh_s":
                 round(time.perf_counter() - refresh_started, 3),
                 "refresh_rows_read": cache.reads[-1]["rows"]}
        return {"seconds": round(loaded, 2), "peak_rss_mb": rss_mb(),
                "baseline_rss_mb": baseline, "rows": frame.height,
                "columns": len(frame.columns), **extra}
    return {"seconds": round(time.perf_counter() - started, 2), "peak_rss_mb": rss_mb(),
            "baseline_rss_mb": baseline, "rows": frame.height, "columns": len(frame.columns)}


def run_measure(kind: str, url: str, view_days: int, cap_gb: float) -> dict:
    def limit():
        cap = int(cap_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))

    proc = subprocess.run([sys.executable, __file__, "--measure", kind, "--url", url,
                           "--view-days", str(view_days)], cwd=ROOT, capture_output=True,
                          text=True, preexec_fn=limit)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no message)"]
        return {"failed": f"exit {proc.returncode}: {tail[0][:200]}",
                "note": f"memory capped at {cap_gb} GB (RLIMIT_DATA)"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- the databases ---------------------------------------------------------------------------

def bench_database(n: int, days: int) -> tuple[str, dict]:
    """The database for n events, made (and synthesized into) when missing."""
    import asyncio

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from analytics.loaders import sync_url
    from databases import POSTGRES_URL, _admin
    from harness import log
    from storefront_api.migrations import upgrade
    name = f"aisle_bench_load_{n}"
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
        if have == made.get("events") and made.get("days") == days:
            log(f"reusing {name} ({have} events, synthesized in {made['synthesis_s']} s)")
            return url, made
    log(f"creating {name} and synthesizing {n} events over {days} days")
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    upgrade(url)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "analytics", "synthesize", "--events", str(n),
                    "--days", str(days), "--into", url], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE events"))
        have = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
    engine.dispose()
    made = {"events": have, "days": days,
            "synthesis_s": round(time.perf_counter() - started, 1),
            "made_at": datetime.utcnow().isoformat(timespec="seconds")}
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(made))
    return url, made


def adopt(n: int, url: str, days: int, synthesis_s: float) -> None:
    """Record a database synthesized by hand (same command) so the bench reuses it."""
    from sqlalchemy import create_engine, text

    from analytics.loaders import sync_url
    engine = create_engine(sync_url(url))
    with engine.connect() as conn:
        have = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
    engine.dispose()
    marker = ROOT / "var" / "bench" / f"aisle_bench_load_{n}.json"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"events": have, "days": days, "synthesis_s": synthesis_s,
                                  "made_at": datetime.utcnow().isoformat(timespec="seconds")}))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, action="append")
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--view-days", type=int, default=30)
    parser.add_argument("--memory-cap-gb", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="200,000 events")
    parser.add_argument("--measure", choices=["before", "after", "after_all"])
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.url, args.view_days)))
        return 0
    from harness import log, write_result
    sizes = args.events or ([200_000] if args.quick else [2_000_000])
    results = {}
    for n in sizes:
        url, made = bench_database(n, args.days)
        row = {"database": made}
        for kind in ("before", "after", "after_all"):
            log(f"{n} events: {kind}")
            row[kind] = run_measure(kind, url, args.view_days, args.memory_cap_gb)
            log(f"  {row[kind]}")
        results[str(n)] = row
    write_result("analytics_load" + ("_quick" if args.quick else ""),
                 {"view_days": args.view_days, "days": args.days, "sizes": results,
                  "machine": f"{os.cpu_count()} cores"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
