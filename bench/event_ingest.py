"""What the Overview's daily visits cost the writers of events (migration 0012), same run.

    python bench/event_ingest.py [--events 2000] [--copy-events 200000] [--rounds 3]

On a fresh PostgreSQL database (migrated, dropped at the end), events are written with the
trigger that appends to ``event_visits`` switched on and off in turn (``ALTER TABLE events
DISABLE TRIGGER``), ``--rounds`` times each:

- the API's path: ``record_rows`` of one event per write transaction, as a shopper's
  request records it (``--events`` of them, one after the other);
- the synthesizer's path: ``append_to_database`` of ``--copy-events`` (COPY, 20,000 rows a
  statement), with the compaction at its end.

Reports the median time per event of each and the ratio on/off; then the compaction of the
API path's appended rows (``compact_event_visits()``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

START = datetime(2026, 6, 1)


def _switch(url: str, on: bool) -> None:
    from sqlalchemy import create_engine, text

    from analytics.loaders import sync_url
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE events "
                              f"{'ENABLE' if on else 'DISABLE'} TRIGGER event_visits_on_insert"))
    finally:
        engine.dispose()


async def _api_path(url: str, n: int, tag: str) -> float:
    """Seconds per event, one event per write transaction."""
    from storefront_api.db import Database
    from storefront_api.events.service import EventContext, event_row, record_rows
    db = Database(url)
    try:
        started = time.perf_counter()
        for i in range(n):
            ctx = EventContext(session_id=f"{tag}-s{i // 5}", channel=("web", "site")[i % 2])
            row = event_row(("page_view", "view_item", "add_to_cart")[i % 3], ctx,
                            cart_id=f"{tag}-c{i // 5}")
            row["ts"] = START + timedelta(seconds=i)
            async with db.write() as session:
                await record_rows(session, [row])
        return (time.perf_counter() - started) / n
    finally:
        await db.dispose()


def _copy_path(url: str, n: int, seed: int) -> float:
    """Seconds per event of the synthesizer's write (the previous round's synthetic events
    deleted first, outside the timing)."""
    from sqlalchemy import create_engine, text

    from analytics.loaders import sync_url
    from analytics.synthesize import append_to_database
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM events WHERE event_id LIKE 'syn%'"))
    finally:
        engine.dispose()
    started = time.perf_counter()
    append_to_database(url, n, seed=seed, start=START, days=30)
    return (time.perf_counter() - started) / n


def _compact(url: str) -> tuple[int, float]:
    from sqlalchemy import create_engine, text

    from analytics.loaders import sync_url
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            appended = conn.execute(text(
                "SELECT count(*) FROM event_visits WHERE NOT compact")).scalar_one()
            started = time.perf_counter()
            conn.execute(text("SELECT compact_event_visits()"))
            return appended, time.perf_counter() - started
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--copy-events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from databases import create_postgres_database, drop_postgres_database
    from harness import log, write_result
    from storefront_api.migrations import upgrade
    url = create_postgres_database("aisle_bench_ingest")
    try:
        upgrade(url)
        api = {True: [], False: []}
        copy = {True: [], False: []}
        for round_ in range(args.rounds):
            for on in (False, True) if round_ % 2 == 0 else (True, False):
                _switch(url, on)
                api[on].append(asyncio.run(_api_path(url, args.events, f"r{round_}{on}")))
                copy[on].append(_copy_path(url, args.copy_events, seed=round_))
                log(f"round {round_ + 1}, trigger {'on' if on else 'off'}: API "
                    f"{api[on][-1] * 1e3:.3f} ms/event, COPY {copy[on][-1] * 1e6:.2f} µs/event")
        _switch(url, True)
        asyncio.run(_api_path(url, args.events, "compaction"))
        appended, seconds = _compact(url)
        result = {
            "api_ms_per_event": {"off": round(statistics.median(api[False]) * 1e3, 3),
                                 "on": round(statistics.median(api[True]) * 1e3, 3)},
            "api_ratio_on_off": round(statistics.median(api[True])
                                      / statistics.median(api[False]), 3),
            "copy_us_per_event": {"off": round(statistics.median(copy[False]) * 1e6, 2),
                                  "on": round(statistics.median(copy[True]) * 1e6, 2)},
            "copy_ratio_on_off": round(statistics.median(copy[True])
                                       / statistics.median(copy[False]), 3),
            "compaction": {"appended_rows": appended, "seconds": round(seconds, 3)},
            "runs": {"api": api, "copy": copy}, "rounds": args.rounds,
            "events": args.events, "copy_events": args.copy_events,
        }
        log(f"API path: {result['api_ms_per_event']} ms/event, ratio "
            f"{result['api_ratio_on_off']}; COPY: {result['copy_us_per_event']} µs/event, "
            f"ratio {result['copy_ratio_on_off']}; compaction of {appended} rows: "
            f"{seconds:.3f} s")
        write_result("event_ingest", {k: v for k, v in result.items() if k != "runs"}
                     | {"runs": {k: {str(on): v for on, v in d.items()}
                                 for k, d in result["runs"].items()}})
    finally:
        drop_postgres_database(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
