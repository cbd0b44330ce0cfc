"""What the abuse limits cost: search and add-to-cart through the rate limiter counting in
Redis, against the same server with the limits off, in one run.

    python bench/rate_limiter.py [--products 20000] [--concurrency 4] [--rounds 5]

Two storefront_api processes (one worker each) on one seeded PostgreSQL shop: A counts every
request in Redis (REDIS_URL; the limits raised so that nothing is refused: the cost of
counting is what is measured, not the refusals), B runs with RATE_LIMITS=off. The load comes
from this process; rounds alternate A and B so that the machine's noise falls on both. The
median round of each is reported, and A's requests/s as a fraction of B's (goal: the limiter
costs under 10 % at 4 concurrent clients).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
from pathlib import Path

from harness import ROOT, PY, free_port, log, median_of, run_load, server, write_result
from search_and_cart import (_ensure_pg_database, _vocabulary, new_carts, prepare,
                             search_urls)

REDIS_URL = "redis://127.0.0.1:6379/7"
# Nothing may be refused: the limits stay on, every request counted, but this one address
# sends what a hundred shoppers would. The "api" limit keeps its default global cap
# (60,000 a minute) and gets a hundred times its per-client allowance (leases of 2 %, as
# the default's: storefront_api/ratelimit.py Leases).
UNREACHABLE = json.dumps({"api": "120000/minute", "cart": "100000/minute",
                          "cart:overall": "1000000/minute"})


def _storefront(url: str, var_dir: Path, limits: dict[str, str]):
    port = free_port()
    env = {"DATABASE_URL": url, "AISLE_VAR_DIR": str(var_dir), "PORT": str(port), **limits}
    return port, server([PY, "-m", "storefront_api", "serve", "--quiet"],
                        f"http://127.0.0.1:{port}/healthz", env=env)


def _round(base: str, urls: list[str], variants: list[int], concurrency: int,
           requests: int, seed: int) -> dict:
    carts = new_carts(base, 100)
    rng = random.Random(seed)
    picks = [(carts[i % len(carts)], rng.choice(variants)) for i in range(requests + 100)]
    return {
        "search": run_load(lambda i: ("GET", urls[(i + seed * 97) % len(urls)], None),
                           concurrency=concurrency, total=requests),
        "add_to_cart": run_load(
            lambda i: ("POST", f"{base}/api/carts/{picks[i][0]}/items",
                       {"variant_id": picks[i][1], "quantity": 1}),
            concurrency=concurrency, total=requests, ok_status=(201,)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--requests", type=int, default=1500, help="requests per run")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from databases import POSTGRES_URL  # tests/databases.py
    from sqlalchemy.engine import make_url
    url = make_url(POSTGRES_URL).set(database=f"aisle_bench_{args.products}").render_as_string(
        hide_password=False)
    if not _ensure_pg_database(url):
        log("PostgreSQL is unreachable on 127.0.0.1:5432")
        return 1
    prepare(url, args.products)
    types, colors, sizes, variants = asyncio.run(_vocabulary(url))
    runs: dict[str, dict[str, list]] = {"redis": {}, "off": {}}
    with tempfile.TemporaryDirectory() as var_a, tempfile.TemporaryDirectory() as var_b:
        port_a, counted = _storefront(url, Path(var_a), {"REDIS_URL": REDIS_URL,
                                                          "RATE_LIMITS": UNREACHABLE})
        port_b, uncounted = _storefront(url, Path(var_b), {"RATE_LIMITS": "off"})
        with counted, uncounted:
            bases = {"redis": f"http://127.0.0.1:{port_a}", "off": f"http://127.0.0.1:{port_b}"}
            for round_number in range(args.rounds):
                for label in ("redis", "off") if round_number % 2 == 0 else ("off", "redis"):
                    base = bases[label]
                    urls = search_urls(base, types, colors, sizes)
                    for name, result in _round(base, urls, variants, args.concurrency,
                                               args.requests, round_number).items():
                        runs[label].setdefault(name, []).append(result)
                        log(f"[{label}] round {round_number + 1} {name}: {result.rps:.0f}/s, "
                            f"p95 {result.pct(0.95):.1f} ms, errors {result.errors}")
    summary: dict = {"products": args.products, "concurrency": args.concurrency,
                     "requests_per_run": args.requests, "rounds": args.rounds,
                     "database": "postgresql", "server_workers": 1}
    for label, by_name in runs.items():
        summary[f"limits_{label}"] = {name: median_of(results) for name, results in by_name.items()}
    for name in ("search", "add_to_cart"):
        counted_rps = summary["limits_redis"][name]["rps"]
        free_rps = summary["limits_off"][name]["rps"]
        summary[f"{name}_cost_percent"] = round(100 * (1 - counted_rps / free_rps), 1)
    write_result("rate_limiter", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
