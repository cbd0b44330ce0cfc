"""The 4-step funnel inside ClickHouse (chdb) against the polars engine, same events, same
run; and how fast the ClickHouse store takes events in.

    python bench/clickhouse_funnel.py [--events 10000000] [--big 100000000]
                                      [--rasa-events 1000000] [--rounds 3] [--quick]

The events are bench/funnel_engines.py's synthetic Parquet file (cached in var/bench/).
They are loaded into a chdb store under var/bench/ (the load's events per second is the
backfill rate: polars reads and conforms a million events at a time, chdb inserts). Each
engine then computes view_item -> add_to_cart -> begin_checkout -> purchase (24 h, unit
user, breakdown channel) in its own process, so its peak memory (ru_maxrss) is its own; the
tables must be equal. ``--big`` repeats the comparison at a second size when given (100M
events: about 20 minutes, 10 GB of disk for the Parquet and chdb copies, 8 GB of memory
for polars; the default is not to). Rasa's events: a JSON-lines file of
synthetic conversations (user, bot, action and slot events, as Rasa's broker publishes
them) is ingested through the consumer's own conversion.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
CACHE = ROOT / "var" / "bench"
STEPS = ["view_item", "add_to_cart", "begin_checkout", "purchase"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def the_funnel():
    from analytics.funnel import Funnel, Step
    return Funnel([Step(s) for s in STEPS], breakdown="channel")


def rows_of(table) -> list[tuple]:
    return [tuple(r) for r in table.select(
        "breakdown", "step_index", "entered", "median_seconds_to_convert",
        "p90_seconds_to_convert").sort("breakdown", "step_index").iter_rows()]


# --- children ----------------------------------------------------------------------------------

def child(kind: str, path: str, store_dir: str, rounds: int) -> dict:
    from analytics.clickhouse.funnel import compute_funnel as clickhouse_funnel
    from analytics.clickhouse.ingest import ingest_rasa_file, load_events_into
    from analytics.clickhouse.store import ChdbStore
    from analytics.funnel import compute_funnel
    from analytics.loaders import load_events
    if kind == "load":
        shutil.rmtree(store_dir, ignore_errors=True)
        store = ChdbStore(store_dir)
        store.create_tables()
        done = load_events_into(store, path)
        return {**done, "peak_rss_mb": rss_mb()}
    if kind == "rasa":
        store = ChdbStore(store_dir)
        store.create_tables()
        done = ingest_rasa_file(store, Path(path))
        counted = store.query("SELECT count() AS n FROM rasa_events FINAL")["n"][0]
        return {**done, "distinct_in_store": int(counted), "peak_rss_mb": rss_mb()}
    funnel, times, cpu, table = the_funnel(), [], [], None
    store = ChdbStore(store_dir) if kind == "chdb" else None
    for _ in range(rounds):
        started, cpu0 = time.perf_counter(), time.process_time()
        if kind == "chdb":
            table = clickhouse_funnel(store, funnel, progress=lambda done, total: log(
                f"    units range {done}/{total}") if total > 1 else None)
        else:
            table = compute_funnel(load_events(path), funnel)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu0)
    # chdb's own threads count in process_time (one process)
    return {"median_seconds": round(statistics.median(times), 2),
            "seconds": [round(t, 2) for t in times],
            "median_cpu_seconds": round(statistics.median(cpu), 2),
            "peak_rss_mb": rss_mb(), "rows": rows_of(table)}


def in_child(kind: str, path: str, store_dir: str, rounds: int = 1) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, "--path", path,
                           "--store-dir", store_dir, "--rounds", str(rounds)],
                          cwd=ROOT, stdout=subprocess.PIPE, text=True)  # progress shows
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} failed (exit {proc.returncode}; its messages are above)")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- data ---------------------------------------------------------------------------------------

def rasa_file(path: Path, n: int, seed: int = 7) -> Path:
    """n Rasa events in conversations of 8-30 events, one JSON object per line."""
    if path.exists() and sum(1 for _ in path.open("rb")) == n:
        return path
    rng = random.Random(seed)
    intents = ["greet", "search_products", "add_to_cart", "order_status", "nlu_fallback",
               "human_handoff", "goodbye"]
    t, written, conversation = 1_788_000_000.0, 0, 0
    with path.open("w") as out:
        while written < n:
            conversation += 1
            sender = f"c{conversation:08d}"
            for _ in range(min(rng.randint(8, 30), n - written)):
                t += rng.random() * 3
                kind = rng.choice(["user", "bot", "action", "action", "slot"])
                body = {"event": kind, "timestamp": t, "sender_id": sender,
                        "aisle_event_id": written + 1, "input_channel": "socketio"}
                if kind == "user":
                    body |= {"text": "do you have it in blue?", "parse_data": {
                        "intent": {"name": rng.choice(intents),
                                   "confidence": round(rng.random(), 4)}}}
                elif kind == "bot":
                    body |= {"text": "Here is what I found."}
                elif kind == "action":
                    body |= {"name": rng.choice(["action_listen", "action_search"]),
                             "policy": "RulePolicy"}
                else:
                    body |= {"name": "product_color", "value": "blue"}
                out.write(json.dumps(body) + "\n")
                written += 1
    return path


def compare(size: int, rounds: int) -> dict:
    name = f"events_{size // 1_000_000}m" if size % 1_000_000 == 0 else f"events_{size}"
    path = CACHE / f"{name}.parquet" if size < 50_000_000 else CACHE / name
    # in a process of its own: Linux carries a process's peak RSS (ru_maxrss) over fork
    # and exec, so a parent that generated the data would set every child's floor
    subprocess.run([sys.executable, "-c", f"import sys; sys.path[:0] = {[str(ROOT), str(ROOT / 'bench')]!r}; "
                    f"from funnel_engines import ensure_data; from pathlib import Path; "
                    f"ensure_data(Path({str(path)!r}), {size}, files={1 if size < 50_000_000 else 10})"],
                   cwd=ROOT, check=True)
    store_dir = str(CACHE / f"chdb_{size}")
    log(f"{size:,} events: loading into chdb")
    loaded = in_child("load", str(path), store_dir)
    log(f"  {loaded}")
    runs = {}
    for kind in ("polars", "chdb"):
        log(f"  funnel in {kind}")
        runs[kind] = in_child(kind, str(path), store_dir, rounds)
        log(f"  {kind}: {runs[kind]['median_seconds']} s, {runs[kind]['peak_rss_mb']} MB")
    equal = runs["polars"]["rows"] == runs["chdb"]["rows"]
    if not equal:  # floats may differ in the last bit: compare with a tolerance
        equal = all(a[:3] == b[:3] and all(
            (x is None and y is None) or abs(x - y) <= 1e-9 * max(1, abs(y))
            for x, y in zip(a[3:], b[3:]))
            for a, b in zip(runs["polars"]["rows"], runs["chdb"]["rows"]))
    shutil.rmtree(store_dir, ignore_errors=True)
    return {"events": size, "load_into_chdb": loaded, "results_equal": equal,
            "engines": {k: {f: v[f] for f in ("median_seconds", "seconds",
                                               "median_cpu_seconds", "peak_rss_mb")}
                        for k, v in runs.items()},
            "rows": runs["polars"]["rows"]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--big", type=int)
    parser.add_argument("--rasa-events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1M events, 100k Rasa events")
    parser.add_argument("--child")
    parser.add_argument("--path")
    parser.add_argument("--store-dir")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.path, args.store_dir, args.rounds)))
        return 0
    from harness import write_result
    sizes = [1_000_000] if args.quick else [args.events] + ([args.big] if args.big else [])
    rounds = 1 if args.quick else args.rounds
    result = {"funnel": STEPS, "window_hours": 24, "breakdown": "channel", "unit": "user",
              "sizes": [compare(n, rounds) for n in sizes]}
    n_rasa = 100_000 if args.quick else args.rasa_events
    CACHE.mkdir(parents=True, exist_ok=True)
    source = rasa_file(CACHE / f"rasa_events_{n_rasa}.jsonl", n_rasa)
    store_dir = str(CACHE / "chdb_rasa")
    shutil.rmtree(store_dir, ignore_errors=True)
    log(f"ingesting {n_rasa:,} Rasa events")
    first = in_child("rasa", str(source), store_dir)
    again = in_child("rasa", str(source), store_dir)  # redelivered: stays n distinct
    shutil.rmtree(store_dir, ignore_errors=True)
    result["rasa_ingest"] = {"file_events": n_rasa, "first": first, "again": again}
    if not all(s["results_equal"] for s in result["sizes"]):
        log("the engines disagree")
        write_result("clickhouse_funnel" + ("_quick" if args.quick else ""), result)
        return 1
    write_result("clickhouse_funnel" + ("_quick" if args.quick else ""), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
