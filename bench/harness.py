"""Benchmark plumbing: throwaway databases, server processes, and an HTTP load generator.

The load runs in this process while the servers run in their own, so the server under test
never shares an interpreter with the client. Every figure is reported beside a floor measured
in the same run (a trivial aiohttp handler), because this machine is noisy.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "tests"))

from local_processes import free_port  # noqa: E402  (tests/ is on the path now)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def server(command: list[str], health_url: str, env: dict | None = None, timeout: float = 120):
    proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(health_url, timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
                proc.kill()
                raise RuntimeError(f"{command} did not start:\n{err}")
            time.sleep(0.2)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def trivial_server(workers: int = 1):
    port = free_port()
    return port, server([PY, str(ROOT / "bench" / "trivial_server.py"), str(port), str(workers)],
                        f"http://127.0.0.1:{port}/hello")


def storefront_server(database_url: str, var_dir: Path, workers: int = 1):
    port = free_port()
    # One client address sends thousands of requests: the abuse limits would refuse them
    # (their own cost is measured apart, bench/rate_limiter.py).
    env = {"DATABASE_URL": database_url, "AISLE_VAR_DIR": str(var_dir), "PORT": str(port),
           "RATE_LIMITS": "off"}
    return port, server([PY, "-m", "storefront_api", "serve", "--quiet",
                         "--workers", str(workers)],
                        f"http://127.0.0.1:{port}/healthz", env=env)


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    def summary(self) -> dict:
        return {"requests": self.requests, "errors": self.errors, "rps": round(self.rps, 1),
                "p50_ms": round(self.pct(0.50), 2), "p95_ms": round(self.pct(0.95), 2),
                "p99_ms": round(self.pct(0.99), 2)}


RequestFactory = Callable[[int], tuple[str, str, dict | None]]  # i -> (method, url, json)


async def _load(make_request: RequestFactory, concurrency: int, total: int,
                ok_status: tuple[int, ...]) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as http:
        async def worker():
            nonlocal errors
            for i in counter:
                method, url, body = make_request(i)
                started = time.perf_counter()
                async with http.request(method, url, json=body) as response:
                    await response.read()
                    if response.status not in ok_status:
                        errors += 1
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return LoadResult(total, errors, elapsed, latencies)


def run_load(make_request: RequestFactory, *, concurrency: int, total: int,
             warmup: int = 50, ok_status: tuple[int, ...] = (200,)) -> LoadResult:
    asyncio.run(_load(make_request, concurrency, warmup, ok_status + (409,)))
    return asyncio.run(_load(make_request, concurrency, total, ok_status))


def median_of(runs: list[LoadResult]) -> dict:
    """The median run by throughput, with the spread of the others."""
    ordered = sorted(runs, key=lambda r: r.rps)
    mid = ordered[len(ordered) // 2].summary()
    mid["rps_all"] = [round(r.rps, 1) for r in runs]
    mid["p95_all_ms"] = [round(r.pct(0.95), 2) for r in runs]
    return mid


def write_result(name: str, data: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2))
    print(json.dumps({name: data}, indent=2))


def median(values: list[float]) -> float:
    return statistics.median(values)
