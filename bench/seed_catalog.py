"""How long seeding the demo catalog takes, on a fresh SQLite file and a fresh PostgreSQL database.

    python bench/seed_catalog.py [--products 100000] [--seed 42] [--only sqlite|postgresql]

Each run migrates an empty database, then times ``seed_catalog`` end to end (rows written,
then the search index built) and prints one JSON line per database on stdout: seconds in
total and per phase, rows written (products, variants, images, attributes) and rows/s.
Progress goes to stderr. The PostgreSQL database is created here and dropped afterwards
(server: AISLE_TEST_POSTGRES_URL, default postgres@127.0.0.1:5432); it is skipped, with a
message, when the server is unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storefront_api.catalog.demo_catalog import seed_catalog  # noqa: E402
from storefront_api.db import Database  # noqa: E402
from storefront_api.migrations import upgrade  # noqa: E402

POSTGRES_URL = os.environ.get(
    "AISLE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
RESULTS = ROOT / "bench" / "results"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def timed_seed(url: str, products: int, seed: int) -> dict:
    db = Database(url)
    marks: dict[str, float] = {}
    started = time.perf_counter()

    def progress(message: str) -> None:
        now = time.perf_counter() - started
        if message.startswith(f"seeded {products:,}/"):
            marks["written"] = now
        log(f"  {now:6.1f} s  {message}")

    try:
        counts = await seed_catalog(db, products, seed=seed, progress=progress)
    finally:
        await db.dispose()
    total = time.perf_counter() - started
    rows = sum(counts[k] for k in ("products", "variants", "images", "attributes"))
    written = marks.get("written", total)
    return {"products": counts["products"], "variants": counts["variants"], "rows": rows,
            "seconds": round(total, 2), "write_seconds": round(written, 2),
            "index_seconds": round(total - written, 2),
            "rows_per_second": round(rows / total), "write_rows_per_second": round(rows / written)}


def run(database: str, url: str, products: int, seed: int) -> dict:
    log(f"{database}: migrating an empty database")
    upgrade(url)
    log(f"{database}: seeding {products:,} products")
    result = {"database": database, **asyncio.run(timed_seed(url, products, seed))}
    print(json.dumps(result), flush=True)
    return result


def bench_sqlite(products: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="aisle-seed-") as directory:
        return run("sqlite", f"sqlite+aiosqlite:///{directory}/shop.db", products, seed)


async def _admin(sql: str) -> None:
    import asyncpg
    admin = make_url(POSTGRES_URL).set(drivername="postgresql")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def bench_postgresql(products: int, seed: int) -> dict | None:
    name = f"aisle_seedbench_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncio.TimeoutError) as exc:
        log(f"postgresql: skipped, the server at {POSTGRES_URL} is unreachable ({exc})")
        return None
    try:
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        return run("postgresql", url, products, seed)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    results = []
    if args.only in (None, "sqlite"):
        results.append(bench_sqlite(args.products, args.seed))
    if args.only in (None, "postgresql"):
        result = bench_postgresql(args.products, args.seed)
        if result:
            results.append(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "seed_catalog.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
