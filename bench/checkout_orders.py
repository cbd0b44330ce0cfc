"""Checkout-to-order throughput with the built-in test gateway, on SQLite and PostgreSQL.

    python bench/checkout_orders.py [--orders 300] [--concurrency 4,8]

Each simulated shopper, from this process: creates a cart, adds an in-stock variant, checks
out (address, standard shipping: the payment link), then pays on the test payment page with
the 4242 card, which makes the server deliver the signed ``checkout.session.completed``
webhook to itself and create the order. A purchase counts when the order exists (the
checkout reports its order number). Reported: completed orders per second and the latency of
the whole purchase (p50/p95), the median of three rounds, next to a trivial aiohttp handler's
requests per second measured in the same run (a purchase is six HTTP requests).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from harness import log, median_of, run_load, storefront_server, trivial_server, write_result

from storefront_api.db import Database

ADDRESS = {"name": "Bench Shopper", "line1": "1 Main St", "city": "Arlington", "region": "VA",
           "postal_code": "22201", "country": "US"}


async def _prepare(url: str, products: int) -> list[int]:
    from sqlalchemy import text

    from search_and_cart import prepare
    await asyncio.to_thread(prepare, url, products)
    db = Database(url)
    try:
        async with db.write() as s:  # plenty of stock: the bench measures speed, not sell-outs
            await s.execute(text("UPDATE variants SET stock = 100000 WHERE id IN "
                                 "(SELECT id FROM variants ORDER BY id LIMIT 500)"))
            ids = [r[0] for r in await s.execute(text(
                "SELECT v.id FROM variants v JOIN products p ON p.id = v.product_id "
                "WHERE v.stock >= 100000 AND p.status = 'active' ORDER BY v.id"))]
            from storefront_api.catalog.search import reindex_products
            pids = [r[0] for r in await s.execute(text(
                "SELECT DISTINCT product_id FROM variants WHERE stock >= 100000"))]
            await reindex_products(s, pids, text_changed=False)
        return ids
    finally:
        await db.dispose()


async def _purchase(http: aiohttp.ClientSession, base: str, variant_id: int, n: int) -> float:
    started = time.perf_counter()
    async with http.post(f"{base}/api/carts", json={}) as r:
        token = (await r.json())["token"]
    async with http.post(f"{base}/api/carts/{token}/items",
                         json={"variant_id": variant_id, "quantity": 1}) as r:
        assert r.status == 201, await r.text()
    async with http.post(f"{base}/api/carts/{token}/checkout", json={
            "email": f"bench{n}@example.com", "shipping_address": ADDRESS,
            "shipping_method": "standard"}) as r:
        checkout = await r.json()
        assert r.status == 201, checkout
    session_id = checkout["payment_url"].rstrip("/").rsplit("/", 1)[-1]
    async with http.post(f"{base}/pay/{session_id}", data={
            "number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123",
            "name": "Bench Shopper"}) as r:
        await r.read()
    async with http.get(f"{base}/api/checkouts/{checkout['token']}") as r:
        status = await r.json()
        assert status["order_number"], status
    return (time.perf_counter() - started) * 1000


async def _round(base: str, variants: list[int], orders: int, concurrency: int,
                 seed: int) -> dict:
    rng = random.Random(seed)
    picks = [rng.choice(variants) for _ in range(orders)]
    counter = iter(range(orders))
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        async def shopper():
            for n in counter:
                latencies.append(await _purchase(http, base, picks[n], n + seed * orders))
        started = time.perf_counter()
        await asyncio.gather(*(shopper() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {"orders": orders, "orders_per_s": round(orders / elapsed, 1),
            "purchase_p50_ms": round(statistics.median(ordered), 1),
            "purchase_p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1)}


def bench_database(label: str, url: str, args, workers: int) -> dict:
    log(f"[{label}] preparing")
    variants = asyncio.run(_prepare(url, args.products))
    out = {}
    with tempfile.TemporaryDirectory() as var_dir:
        port, srv = storefront_server(url, Path(var_dir), workers=workers)
        tport, tsrv = trivial_server(workers=workers)
        with srv, tsrv:
            base = f"http://127.0.0.1:{port}"
            asyncio.run(_round(base, variants, 20, 2, 99))  # warm-up
            for concurrency in args.concurrency:
                rounds = [asyncio.run(_round(base, variants, args.orders, concurrency, r))
                          for r in range(args.rounds)]
                for r in rounds:
                    log(f"[{label}] c={concurrency}: {r['orders_per_s']} orders/s, "
                        f"purchase p95 {r['purchase_p95_ms']} ms")
                best = sorted(rounds, key=lambda r: r["orders_per_s"])[len(rounds) // 2]
                trivial = median_of([run_load(
                    lambda i: ("GET", f"http://127.0.0.1:{tport}/hello", None),
                    concurrency=concurrency, total=2000) for _ in range(args.rounds)])
                out[f"concurrency_{concurrency}"] = {
                    **best, "orders_per_s_all": [r["orders_per_s"] for r in rounds],
                    "trivial_rps": trivial["rps"],
                    "http_requests_per_s": round(best["orders_per_s"] * 6, 1),
                    "ratio_to_trivial": round(best["orders_per_s"] * 6 / trivial["rps"], 4)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--orders", type=int, default=300, help="purchases per round")
    parser.add_argument("--concurrency", type=lambda v: [int(c) for c in v.split(",")],
                        default=[4, 8])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sqlite-workers", type=int, default=2)
    parser.add_argument("--pg-workers", type=int, default=2)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    from sqlalchemy.engine import make_url

    from databases import POSTGRES_URL
    from search_and_cart import BENCH_DIR, _ensure_pg_database
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    targets = {
        "sqlite": f"sqlite+aiosqlite:///{BENCH_DIR / f'checkout-{args.products}.db'}",
        "postgresql": make_url(POSTGRES_URL).set(database="aisle_bench_checkout")
                                            .render_as_string(hide_password=False),
    }
    if args.only:
        targets = {args.only: targets[args.only]}
    results: dict = {"products": args.products, "orders_per_round": args.orders,
                     "rounds": args.rounds, "gateway": "test (4242 card, webhook to itself)",
                     "server_workers": {"sqlite": args.sqlite_workers,
                                        "postgresql": args.pg_workers}}
    for label, url in targets.items():
        if label == "postgresql" and not _ensure_pg_database(url):
            results[label] = {"skipped": "PostgreSQL unreachable on 127.0.0.1:5432"}
            continue
        workers = args.sqlite_workers if label == "sqlite" else args.pg_workers
        results[label] = bench_database(label, url, args, workers)
    write_result("checkout_orders", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
