"""Search and add-to-cart under concurrent HTTP load, on SQLite and PostgreSQL.

    python bench/search_and_cart.py [--products 100000] [--concurrency 8] [--requests 3000]

For each database: seed N products (reused between runs when already there), start
storefront_api in its own process, then from this process send
- searches: a product word plus two filters (colour and a price ceiling, or a size and
  in-stock), varied over the catalog's own types and colours;
- add-to-cart: one cart per simulated shopper, a random in-stock variant, quantity 1;
and the same load against a trivial aiohttp handler. Three rounds each; medians reported,
with requests/s as a ratio of the trivial handler's.
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


def bench_database(label: str, url: str, args) -> dict:
    log(f"[{label}] preparing {args.products:,} products")
    prepare(url, args.products)
    types, colors, sizes, variants = asyncio.run(_vocabulary(url))
    out: dict = {}
    with tempfile.TemporaryDirectory() as var_dir:
        port, srv = storefront_server(url, Path(var_dir))
        with srv:
            base = f"http://127.0.0.1:{port}"
            urls = search_urls(base, types, colors, sizes)
            tport, tsrv = trivial_server()
            with tsrv:
                trivial = f"http://127.0.0.1:{tport}/hello"
                rounds = {"trivial": [], "search": [], "add_to_cart": [], "trivial_post": []}
                for r in range(args.rounds):
                    log(f"[{label}] round {r + 1}/{args.rounds}: trivial, search, add-to-cart")
                    rounds["trivial"].append(run_load(
                        lambda i: ("GET", trivial, None),
                        concurrency=args.concurrency, total=args.requests))
                    rounds["search"].append(run_load(
                        lambda i: ("GET", urls[i % len(urls)], None),
                        concurrency=args.concurrency, total=args.requests))
                    carts = new_carts(base, 200)
                    rng = random.Random(r)
                    picks = [(carts[i % len(carts)], rng.choice(variants))
                             for i in range(args.requests + 100)]
                    rounds["add_to_cart"].append(run_load(
                        lambda i: ("POST", f"{base}/api/carts/{picks[i][0]}/items",
                                   {"variant_id": picks[i][1], "quantity": 1}),
                        concurrency=args.concurrency, total=args.requests, ok_status=(201,)))
                    rounds["trivial_post"].append(run_load(
                        lambda i: ("POST", trivial, {"variant_id": 1, "quantity": 1}),
                        concurrency=args.concurrency, total=args.requests))
    for name, runs in rounds.items():
        out[name] = median_of(runs)
    out["search"]["rps_ratio_to_trivial"] = round(out["search"]["rps"] / out["trivial"]["rps"], 3)
    out["add_to_cart"]["rps_ratio_to_trivial"] = round(
        out["add_to_cart"]["rps"] / out["trivial_post"]["rps"], 3)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
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
               "requests_per_round": args.requests, "rounds": args.rounds}
    for label, url in targets.items():
        if label == "postgresql" and not _ensure_pg_database(url):
            results[label] = {"skipped": "PostgreSQL unreachable on 127.0.0.1:5432"}
            continue
        results[label] = bench_database(label, url, args)
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
