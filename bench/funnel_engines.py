"""The same 4-step funnel over the same Parquet file in three engines: analytics (polars),
idiomatic pandas and DuckDB SQL; then analytics, streaming, over 100M events.

    python bench/funnel_engines.py [--quick]

The funnel: view_item -> add_to_cart -> begin_checkout -> purchase, ordered, 24 h window,
unit user, breakdown by channel (first touch); the counted attempt is the unit's furthest,
latest among equals (docs/analytics.md). Each engine runs in its own process, so its peak
memory (ru_maxrss) is its own; times are medians of 3 rounds, each reading the file. The
synthetic files are cached under var/bench/.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
STEPS = ["view_item", "add_to_cart", "begin_checkout", "purchase"]
WINDOW_S = 24 * 3600
CACHE = ROOT / "var" / "bench"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the three engines: each returns rows (breakdown, step, entered, median_s, p90_s) --------

def run_polars(path: str, streaming: bool = False) -> list[tuple]:
    from analytics.funnel import Funnel, Step, compute_funnel
    from analytics.loaders import load_events
    funnel = Funnel([Step(s) for s in STEPS], breakdown="channel")
    table = compute_funnel(load_events(path), funnel,
                           engine="streaming" if streaming else "auto")
    return [tuple(r) for r in table.select(
        "breakdown", "step_index", "entered", "median_seconds_to_convert",
        "p90_seconds_to_convert").sort("breakdown", "step_index").iter_rows()]


def run_pandas(path: str) -> list[tuple]:
    import pandas as pd
    events = pd.read_parquet(path, columns=["user_id", "ts", "name", "channel"])
    events = events[events["name"].isin(STEPS)].sort_values("ts", kind="stable")
    events["ts"] = events["ts"].astype("datetime64[ns]")  # NaT-filled columns come back as ns
    starts = events[events["name"] == STEPS[0]]
    first_touch = starts.groupby("user_id", sort=False)["channel"].first()
    walks = starts[["user_id", "ts"]].rename(columns={"ts": "t0"}).assign(t_prev=lambda d: d.t0)
    window = pd.Timedelta(seconds=WINDOW_S)
    for k, step in enumerate(STEPS[1:], 1):
        right = events.loc[events["name"] == step, ["user_id", "ts"]] \
            .rename(columns={"ts": f"t{k}"})
        walks["t_prev"] = walks["t_prev"].astype("datetime64[ns]")
        alive = walks[walks["t_prev"].notna()].sort_values("t_prev", kind="stable")
        dead = walks[walks["t_prev"].isna()]
        alive = pd.merge_asof(alive, right, left_on="t_prev", right_on=f"t{k}", by="user_id",
                              direction="forward", allow_exact_matches=True)
        alive.loc[alive[f"t{k}"] - alive["t0"] > window, f"t{k}"] = pd.NaT
        walks = pd.concat([alive, dead.assign(**{f"t{k}": pd.NaT})])
        walks["t_prev"] = walks[f"t{k}"]
    times = [f"t{k}" for k in range(len(STEPS))]
    walks["reached"] = walks[times].notna().sum(axis=1)
    best = walks.sort_values(["user_id", "reached", "t0"], kind="stable") \
        .drop_duplicates("user_id", keep="last").set_index("user_id")
    best["breakdown"] = first_touch.reindex(best.index).fillna("(none)")
    rows = []
    for value, group in best.groupby("breakdown"):
        for k in range(1, len(STEPS) + 1):
            done = group[group["reached"] >= k]
            wait = (done[f"t{k - 1}"] - done[f"t{k - 2}"]).dt.total_seconds() if k > 1 else None
            rows.append((value, k, len(done),
                         None if wait is None else float(wait.median()),
                         None if wait is None else float(wait.quantile(0.9))))
    return sorted(rows)


def run_duckdb(path: str) -> list[tuple]:
    import duckdb
    names = ", ".join(f"'{s}'" for s in STEPS)
    chain = ["s0 AS (SELECT user_id, ts AS t0, rn, ts AS t_prev FROM ev "
             f"WHERE name = '{STEPS[0]}')"]
    for k, step in enumerate(STEPS[1:], 1):
        prev = f"s{k - 1}"
        cols = ", ".join(f"a.t{j}" for j in range(1, k))
        chain.append(
            f"j{k} AS (SELECT a.user_id, a.t0, a.rn{', ' + cols if cols else ''}, b.ts AS tk "
            f"FROM {prev} a ASOF LEFT JOIN (SELECT user_id, ts FROM ev WHERE name = '{step}') b "
            f"ON a.user_id = b.user_id AND b.ts >= a.t_prev)")
        kept = "".join(f", t{j}" for j in range(1, k))
        chain.append(
            f"s{k} AS (SELECT user_id, t0, rn{kept}, "
            f"CASE WHEN tk - t0 <= INTERVAL {WINDOW_S} SECOND THEN tk END AS t{k}, "
            f"CASE WHEN tk - t0 <= INTERVAL {WINDOW_S} SECOND THEN tk END AS t_prev FROM j{k})")
    last = f"s{len(STEPS) - 1}"
    reached = " + ".join(["1"] + [f"(t{k} IS NOT NULL)::INT" for k in range(1, len(STEPS))])
    waits = []
    for k in range(1, len(STEPS) + 1):
        wait = f"epoch(t{k - 1}) - epoch(t{k - 2})" if k > 1 else "NULL::DOUBLE"
        waits.append(
            f"SELECT breakdown, {k} AS step, count(*) FILTER (WHERE reached >= {k}) AS entered, "
            f"quantile_cont({wait}, 0.5) FILTER (WHERE reached >= {k}) AS median_s, "
            f"quantile_cont({wait}, 0.9) FILTER (WHERE reached >= {k}) AS p90_s "
            f"FROM best GROUP BY breakdown")
    sql = f"""
    WITH ev AS (SELECT user_id, ts, name, channel, file_row_number AS rn
                FROM read_parquet('{path}', file_row_number = true)
                WHERE name IN ({names}) AND user_id IS NOT NULL),
    {', '.join(chain)},
    touch AS (SELECT user_id, first(coalesce(channel, '(none)') ORDER BY ts, rn) AS breakdown
              FROM ev WHERE name = '{STEPS[0]}' GROUP BY user_id),
    ranked AS (SELECT *, {reached} AS reached,
                      row_number() OVER (PARTITION BY user_id ORDER BY {reached} DESC,
                                         t0 DESC, rn DESC) AS pick FROM {last}),
    best AS (SELECT r.*, t.breakdown FROM ranked r JOIN touch t USING (user_id)
             WHERE pick = 1)
    {' UNION ALL '.join(waits)}
    ORDER BY breakdown, step"""
    con = duckdb.connect()
    return [tuple(r) for r in con.execute(sql).fetchall()]


ENGINES = {"polars": run_polars, "pandas": run_pandas, "duckdb": run_duckdb,
           "polars-streaming": lambda p: run_polars(p, streaming=True)}


def measure(engine: str, path: str, rounds: int) -> None:
    """In a child process: run `rounds` times, print times, peak RSS and the result."""
    seconds, cpu, result = [], [], None
    for _ in range(rounds):
        started, used = time.perf_counter(), _cpu()
        result = ENGINES[engine](path)
        seconds.append(time.perf_counter() - started)
        cpu.append(_cpu() - used)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": round(peak_mb),
                      "rows": result}))


def _cpu() -> float:
    """CPU time of all this process's threads: on a shared machine it says more than wall
    time about how much work an engine does."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def in_child(engine: str, path: str, rounds: int) -> dict:
    log(f"  {engine}: {rounds} round(s) on {path}")
    out = subprocess.run([sys.executable, __file__, "--child", engine, "--path", path,
                          "--rounds", str(rounds)], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(f"{engine} failed:\n{out.stderr[-3000:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    data["median_seconds"] = round(sorted(data["seconds"])[len(data["seconds"]) // 2], 2)
    data["median_cpu_seconds"] = round(sorted(data["cpu_seconds"])[len(data["seconds"]) // 2], 2)
    data["seconds"] = [round(s, 2) for s in data["seconds"]]
    data["cpu_seconds"] = [round(s, 2) for s in data["cpu_seconds"]]
    log(f"    median {data['median_seconds']} s (cpu {data['median_cpu_seconds']} s), "
        f"peak {data['peak_rss_mb']} MB")
    return data


def same_rows(a: list, b: list) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if list(x[:3]) != list(y[:3]):
            return False
        for u, v in zip(x[3:], y[3:]):
            if (u is None) != (v is None) or (u is not None and abs(u - v) > 1e-3):
                return False
    return True


def ensure_data(path: Path, n_events: int, files: int = 1) -> Path:
    from analytics.synthetic import write_parquet

    from storefront_api.progress import CommandProgress
    if not (path.exists() if files == 1 else (path / f"part-{files - 1:04d}.parquet").exists()):
        log(f"generating {n_events:,} synthetic events into {path} (cached)")
        with CommandProgress() as progress:
            write_parquet(path, n_events, seed=42, files=files, progress=progress)
    return path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1M and 5M events, 1 round")
    parser.add_argument("--child")
    parser.add_argument("--path")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-big", action="store_true", help="no 100M-event run")
    args = parser.parse_args()
    if args.child:
        measure(args.child, args.path, args.rounds)
        return 0
    size, big = (1_000_000, 5_000_000) if args.quick else (10_000_000, 100_000_000)
    rounds = 1 if args.quick else args.rounds
    path = ensure_data(CACHE / f"events_{size // 1_000_000}m.parquet", size)
    runs = {e: in_child(e, str(path), rounds) for e in ("polars", "pandas", "duckdb")}
    reference = runs["polars"]["rows"]
    agree = {e: same_rows(r["rows"], reference) for e, r in runs.items()}
    if not all(agree.values()):
        log(f"results differ: {agree}")
        for e, r in runs.items():
            log(f"{e}: {r['rows'][:6]}")
        return 1
    result = {"events": size, "funnel": STEPS, "window_hours": 24, "breakdown": "channel",
              "unit": "user", "results_equal": True, "rows": reference,
              "engines": {e: {k: r[k] for k in ("median_seconds", "seconds",
                                                "median_cpu_seconds", "cpu_seconds",
                                                "peak_rss_mb")}
                          for e, r in runs.items()}}
    p, pd_, dd = (runs[e]["median_seconds"] for e in ("polars", "pandas", "duckdb"))
    result["speedup_vs_pandas"] = round(pd_ / p, 2)
    result["speedup_vs_duckdb"] = round(dd / p, 2)
    cpu = {e: runs[e]["median_cpu_seconds"] for e in runs}
    result["cpu_ratio_pandas_to_polars"] = round(cpu["pandas"] / cpu["polars"], 2)
    result["cpu_ratio_duckdb_to_polars"] = round(cpu["duckdb"] / cpu["polars"], 2)
    if not args.skip_big:
        folder = ensure_data(CACHE / f"events_{big // 1_000_000}m", big, files=10)
        streamed = in_child("polars-streaming", str(folder), 1)
        result["streaming"] = {"events": big, "seconds": streamed["median_seconds"],
                               "cpu_seconds": streamed["median_cpu_seconds"],
                               "peak_rss_mb": streamed["peak_rss_mb"]}
    from harness import write_result
    write_result("funnel_engines", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
