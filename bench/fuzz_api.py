"""The fuzz run of the whole HTTP API, longer than `make test`'s (tests/fuzz).

    python bench/fuzz_api.py [--examples 50] [--seed 12] [--products 60]

Starts storefront_api on a small seeded SQLite shop with real objects in it (the same shop
as tests/fuzz), then runs schemathesis over every operation of /api/openapi.json: valid and
invalid requests (``--examples`` of each per operation), with the credential each operation
needs and, for the protected ones, without, after every one of schemathesis' boundary
(coverage) cases. Prints the number of operations, the examples
tried and the failures (each one: operation, check, status), with the answers' statuses;
the summary goes to bench/results/fuzz_api.json. Exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from harness import ROOT, log, write_result

sys.path.insert(0, str(ROOT / "tests" / "fuzz"))

from api_fuzzer import Credentials, fuzz_api  # noqa: E402
from fuzz_shop import ADMIN_TOKEN, SERVICE_TOKEN, FuzzShop  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=50,
                        help="examples per operation and generation mode (default 50)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--products", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aisle-fuzz-") as directory:
        started = time.perf_counter()
        with FuzzShop(Path(directory), products=args.products) as shop:
            log(f"shop ready in {time.perf_counter() - started:.1f} s; fuzzing "
                f"{args.examples} examples per operation and mode")
            report = fuzz_api(shop.url, Credentials(ADMIN_TOKEN, SERVICE_TOKEN,
                                                    shop.customer_token),
                              examples=args.examples, seed=args.seed, known=shop.known,
                              coverage=None)  # every boundary case of every operation
            logged = shop.server_errors_logged()
    summary = {**report.summary(), "examples_per_operation": args.examples, "seed": args.seed,
               "server_errors_logged": len(logged),
               "failure_list": [str(failure) for failure in report.failures]}
    print(f"operations: {report.operations}")
    print(f"examples tried: {report.examples}")
    print(f"failures: {len(report.failures)}")
    for failure in report.failures:
        print(f"  - {failure}")
    for line in logged:
        print(f"  server: {line}")
    write_result("fuzz_api", summary)
    return 0 if not report.failures and not logged else 1


if __name__ == "__main__":
    sys.exit(main())
