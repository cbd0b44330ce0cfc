"""Search and add-to-cart under concurrent HTTP load, on SQLite and PostgreSQL.

    python bench/search_and_cart.py [--products 100000] [--concurrency 1,4,8] [--workers 2]

For each database: seed N products (reused between runs when already there), start
storefront_api in its own process, then from this process send
- searches: a product word plus two filters (colour and a price ceiling, or a size and
  in-stock), varied over the catalog's own types and colours;
- add-to-cart: 200 carts, a random in-stock variant, quantity 1;
and the same load against a trivial aiohttp handler run with as many processes (2: one
per core). For each
client concurrency, three rounds; the median round is reported, with requests/s as a ratio
of the trivial handler's in the same round set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

from harness import (ROOT, log, median_of, run_load, storefront_server, trivial_server,
                     write_result)

from storefront_api.db import Database

BENCH_DIR = ROOT / "var" / "bench"


async def _count_products(url: str) -> int:
    from sqlalchemy import text
    db = Database(url)
    try:
        async with db.read() as s:
            return (await s.execute(text("SELECT count(*) FROM products"))).scalar_one()
    except Exception:
        return -1
    finally:
        await db.dispose()


async def _seed(url: str, products: int) -> None:
    from storefront_api.catalog.demo_catalog import seed_catalog
    from storefront_api.pricing.demo_pricing import seed_pricing
    db = Database(url)
    try:
        await seed_pricing(db)
        await seed_catalog(db, products, seed=42, reset=True,
                           progress=lambda m: log(f"    {m}"))
    finally:
        await db.dispose()


def prepare(url: str, products: int) -> None:
    from storefront_api.migrations import upgrade
    upgrade(url)
    if asyncio.run(_count_products(url)) == products:
        log(f"  reusing the seeded catalog ({products:,} products)")
        return
    started = time.perf_counter()
    asyncio.run(_seed(url, products))
    log(f"  seeded {products:,} products in {time.perf_counter() - started:.1f} s")


async def _vocabulary(url: str) -> tuple[list[str], list[str], list[str], list[int]]:
    from sqlalchemy import text
    db = Database(url)
    try:
        async with db.read() as s:
            types = [r[0] for r in await s.execute(text(
                "SELECT DISTINCT lower(product_type) FROM products WHERE product_type <> ''"))]
            colors = [r[0] for r in await s.execute(text(
                "SELECT DISTINCT lower(color) FROM variants WHERE color IS NOT NULL"))]
            sizes = [r[0] for r in await s.execute(text(
                "SELECT DISTINCT size FROM variants WHERE size IN ('S','M','L','XL')"))]
            variants = [r[0] for r in await s.execute(text(
                "SELECT id FROM variants WHERE stock > 20 ORDER BY id LIMIT 20000"))]
        return types, colors, sizes, variants
    finally:
        await db.dispose()


def search_urls(base: str, types, colors, sizes, n: int = 400) -> list[str]:
    rng = random.Random(1)
    urls = []
    for _ in range(n):
        noun = rng.choice(types)
        if rng.random() < 0.6:
            params = {"q": noun, "color": rng.choice(colors),
                      "max_price": rng.choice([3000, 5000, 8000, 12000])}
        else:
            params = {"q": noun, "size": rng.choice(sizes or ["M"]), "in_stock": "true"}
        urls.append(f"{base}/api/products?{urlencode(params)}")
    return urls


def new_carts(base: str, n: int) -> list[str]:
    tokens = []
    for _ in range(n):
        req = urllib.request.Request(f"{base}/api/carts", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as response:
            tokens.append(json.loads(response.read())["token"])
    return tokens


def _round(label: str, base: str, trivial: str, urls: list[str], variants: list[int],
           concurrency: int, requests: int, seed: int) -> dict:
    """One round at one concurrency: the floor, then search, then add-to-cart."""
    carts = new_carts(base, 200)
    rng = random.Random(seed)
    picks = [(carts[i % len(carts)], rng.choice(variants)) for i in range(requests + 100)]
    out = {
        "trivial_get": run_load(lambda i: ("GET", trivial, None),
                                concurrency=concurrency, total=requests),
        "search": run_load(lambda i: ("GET", urls[(i + seed * 97) % len(urls)], None),
                           concurrency=concurrency, total=requests),
        "trivial_post": run_load(lambda i: ("POST", trivial, {"variant_id": 1, "quantity": 1}),
                                 concurrency=concurrency, total=requests),
        "add_to_cart": run_load(
            lambda i: ("POST", f"{base}/api/carts/{picks[i][0]}/items",
                       {"variant_id": picks[i][1], "quantity": 1}),
            concurrency=concurrency, total=requests, ok_status=(201,)),
    }
    log(f"[{label}] c={concurrency} round {seed + 1}: search p95 "
        f"{out['search'].pct(0.95):.1f} ms, {out['search'].rps:.0f}/s; add-to-cart p95 "
        f"{out['add_to_cart'].pct(0.95):.1f} ms, {out['add_to_cart'].rps:.0f}/s")
    return out


def bench_database(label: str, url: str, args, workers: int) -> dict:
    log(f"[{label}] preparing {args.products:,} products")
    prepare(url, args.products)
    types, colors, sizes, variants = asyncio.run(_vocabulary(url))
    out: dict = {}
    with tempfile.TemporaryDirectory() as var_dir:
        port, srv = storefront_server(url, Path(var_dir), workers=workers)
        tport, tsrv = trivial_server(workers=workers)
        with srv, tsrv:
            base = f"http://127.0.0.1:{port}"
            trivial = f"http://127.0.0.1:{tport}/hello"
            urls = search_urls(base, types, colors, sizes)
            for concurrency in args.concurrency:
                runs: dict[str, list] = {}
                for r in range(args.rounds):
                    for name, result in _round(label, base, trivial, urls, variants,
                                               concurrency, args.requests, r).items():
                        runs.setdefault(name, []).append(result)
                summary = {name: median_of(results) for name, results in runs.items()}
                summary["search"]["rps_ratio_to_trivial"] = round(
                    summary["search"]["rps"] / summary["trivial_get"]["rps"], 3)
                summary["add_to_cart"]["rps_ratio_to_trivial"] = round(
                    summary["add_to_cart"]["rps"] / summary["trivial_post"]["rps"], 3)
                out[f"concurrency_{concurrency}"] = summary
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--concurrency", type=lambda v: [int(c) for c in v.split(",")],
                        default=[1, 4, 8], help="comma-separated client connection counts")
    parser.add_argument("--requests", type=int, default=1500, help="requests per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sqlite-workers", type=int, default=2,
                        help="server processes on SQLite (WAL: readers in parallel, one writer)")
    parser.add_argument("--pg-workers", type=int, default=2,
                        help="server processes on PostgreSQL (one per core)")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    from databases import POSTGRES_URL  # tests/databases.py
    from sqlalchemy.engine import make_url
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    targets = {
        "sqlite": f"sqlite+aiosqlite:///{BENCH_DIR / f'shop-{args.products}.db'}",
        "postgresql": make_url(POSTGRES_URL).set(database=f"aisle_bench_{args.products}")
                                            .render_as_string(hide_password=False),
    }
    if args.only:
        targets = {args.only: targets[args.only]}
    results = {"products": args.products, "concurrency": args.concurrency,
               "requests_per_run": args.requests, "rounds": args.rounds,
               "server_workers": {"sqlite": args.sqlite_workers,
                                  "postgresql": args.pg_workers},
               "search_query": "a product word plus two filters (colour + price ceiling, "
                               "or size + in stock)"}
    for label, url in targets.items():
        if label == "postgresql" and not _ensure_pg_database(url):
            results[label] = {"skipped": "PostgreSQL unreachable on 127.0.0.1:5432"}
            continue
        workers = args.sqlite_workers if label == "sqlite" else args.pg_workers
        results[label] = bench_database(label, url, args, workers)
    write_result("search_and_cart", results)
    return 0


def _ensure_pg_database(url: str) -> bool:
    import asyncpg
    from sqlalchemy.engine import make_url
    from databases import POSTGRES_URL, _asyncpg_dsn
    name = make_url(url).database

    async def ensure():
        conn = await asyncpg.connect(_asyncpg_dsn(make_url(POSTGRES_URL)), timeout=5)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
    try:
        asyncio.run(ensure())
        return True
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
