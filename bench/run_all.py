"""`make bench`: every benchmark, one after the other; results in bench/results/*.json.

    python bench/run_all.py [--quick]

--quick uses 20,000 products and fewer requests (a smoke run, minutes not tens of minutes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(args: list[str], python: str = sys.executable, env: dict | None = None) -> int:
    print(f"\n==> {' '.join(args)}", flush=True)
    started = time.perf_counter()
    code = subprocess.call([python, *args], cwd=HERE.parent,
                           env=None if env is None else {**os.environ, **env})
    print(f"<== {'ok' if code == 0 else f'failed ({code})'} in {time.perf_counter() - started:.0f} s",
          flush=True)
    return code


def main() -> int:
    quick = "--quick" in sys.argv
    products = "20000" if quick else "100000"
    codes = [
        run([str(HERE / "seed_catalog.py"), "--products", products]),
        run([str(HERE / "search_and_cart.py"), "--products", products]
            + (["--requests", "400", "--rounds", "1"] if quick else [])),
        run([str(HERE / "rate_limiter.py")]
            + (["--requests", "400", "--rounds", "3"] if quick else [])),
        run([str(HERE / "checkout_orders.py")]
            + (["--orders", "60", "--rounds", "1", "--concurrency", "4"] if quick else [])),
        run([str(HERE / "funnel_engines.py")] + (["--quick"] if quick else [])),
        run([str(HERE / "analytics_load.py")]
            + (["--quick"] if quick else ["--events", "2000000", "--events", "10000000"])),
        run([str(HERE / "event_ingest.py")]
            + (["--events", "300", "--copy-events", "40000", "--rounds", "2"] if quick else [])),
        run([str(HERE / "clickhouse_funnel.py")] + (["--quick"] if quick else [])),
        run([str(HERE / "train_time.py")]),
        run([str(HERE / "rasa_turn_cpu.py")] + (["--rounds", "1"] if quick else []),
            python=str(HERE.parent / ".venv-bot" / "bin" / "python"),
            env={"PYTHONPATH": str(HERE.parent)}),
        run([str(HERE / "dialogue_state_copies.py")] + (["--calls", "50"] if quick else []),
            python=str(HERE.parent / ".venv-bot" / "bin" / "python"),
            env={"PYTHONPATH": str(HERE.parent)}),
        run([str(HERE / "chat_turns.py")] + (["--quick"] if quick else [])),
        run([str(HERE / "channel_latency.py")] + (["--turns", "4", "--turns-at-20", "2"]
                                                   if quick else [])),
        run([str(HERE / "inbox_latency.py")] + (["--messages", "60"] if quick else [])),
        run([str(HERE / "scale_out.py")] + (["--quick"] if quick else [])),
        run([str(HERE / "fuzz_api.py")] + (["--examples", "10"] if quick else [])),
    ]
    if not quick:  # a fresh clone's `make run`: installs, seeds and trains from nothing
        codes.append(run([str(HERE / "fresh_clone_run.py")]))
    print(f"\nresults in {HERE / 'results'}")
    return 0 if all(code == 0 for code in codes) else 1


if __name__ == "__main__":
    sys.exit(main())
