"""How long training the assistant from scratch takes on this machine.

    python bench/train_time.py [--rounds N]

Runs `rasa train` as `make train` does (NLU and dialogue, the project's config.yml, domain
and data, the generated lookup tables included; data validation is a test of its own) into
an empty directory each round, so nothing is reused
from an earlier model, and reports the wall time per round and the median. The model's
size is reported too. Results in bench/results/train_time.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, log, write_result  # noqa: E402

RASA = ROOT / ".venv-bot" / "bin" / "rasa"


def train_once(out: Path) -> float:
    # An empty training cache too (Rasa reuses featurizers it trained before otherwise).
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false",
           "RASA_CACHE_DIRECTORY": str(out / "cache")}
    started = time.perf_counter()
    subprocess.run([str(RASA), "train", "--config", "config.yml", "--domain", "bot/domain",
                    "--data", "bot/data", "--out", str(out), "--fixed-model-name", "aisle",
                    "--skip-validation"],
                   cwd=ROOT, check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if not (ROOT / "bot" / "data" / "lookups").exists():
        log("bot/data/lookups is missing: run `make bot-lookups` first")
        return 2
    seconds, size = [], 0
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="aisle-train-") as tmp:
            log(f"round {round_ + 1}/{args.rounds}: training from scratch")
            seconds.append(train_once(Path(tmp)))
            size = (Path(tmp) / "aisle.tar.gz").stat().st_size
            log(f"  {seconds[-1]:.1f} s")
    write_result("train_time", {"rounds_s": [round(s, 1) for s in seconds],
                                "median_s": round(statistics.median(seconds), 1),
                                "goal_under_300_s": statistics.median(seconds) < 300,
                                "model_mb": round(size / 1e6, 1)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
