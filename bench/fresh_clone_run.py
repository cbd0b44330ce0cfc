"""How long a new user waits: a fresh clone, `make run`, until the chat first answers.

    python3 bench/fresh_clone_run.py [--source .] [--keep]

Clones the repository's committed HEAD into a temporary directory (nothing of this checkout
comes along: no virtualenvs, no model, no var/), runs `make run` there as the README says, on
ports of its own, and times each step `make` announces ("==> ..." lines: the two
virtualenvs, seeding the demo shop, training the model) up to "Aisle is running"; then sends
"hi" to the new Rasa's REST channel and times the first answer. Stops everything with
Ctrl-C's signal, as a user would, and removes the clone unless --keep.

Pip's download cache (~/.cache/pip) is this machine's: a machine that never installed these
packages also downloads them, which depends on its network more than on Aisle. Runs with
the system Python (it only drives `make`). Results in bench/results/fresh_clone_run.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "tests"))
from local_processes import free_port  # noqa: E402  (standard library only)


def first_answer(rasa_url: str, timeout: float = 120) -> tuple[float, list]:
    """Seconds until Rasa's REST channel answers "hi" with at least one message."""
    started = time.monotonic()
    body = json.dumps({"sender": "fresh-clone-bench", "message": "hi"}).encode()
    while True:
        request = urllib.request.Request(f"{rasa_url}/webhooks/rest/webhook", data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = json.loads(response.read() or b"[]")
            if answer:
                return time.monotonic() - started, answer
        except OSError:
            pass
        if time.monotonic() - started > timeout:
            raise RuntimeError("Rasa gave no answer to 'hi'")
        time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(ROOT))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="aisle-fresh-"))
    clone = workdir / "aisle"
    subprocess.run(["git", "clone", "--quiet", args.source, str(clone)], check=True)
    ports = {name: str(free_port()) for name in ("PORT", "RASA_PORT", "ACTIONS_PORT",
                                                 "DASHBOARD_PORT")}
    env = {**os.environ, **ports}
    for name in ("VIRTUAL_ENV", "PYTHONPATH"):  # the clone's own, nothing of this one's
        env.pop(name, None)
    started = time.monotonic()
    steps: list[tuple[str, float]] = [("git clone done", 0.0)]
    ready = threading.Event()
    output: list[str] = []
    make = subprocess.Popen(["make", "run"], cwd=clone, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def read() -> None:
        for line in make.stdout:  # type: ignore[union-attr]
            output.append(line)
            if line.startswith("==> ") or line.startswith("starting "):
                steps.append((line.strip()[:90], time.monotonic() - started))
                print(f"{time.monotonic() - started:7.1f} s  {line.strip()[:100]}",
                      file=sys.stderr, flush=True)
            if "Aisle is running" in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    result: dict = {"ports": ports}
    try:
        while not ready.wait(5):
            if make.poll() is not None:
                raise RuntimeError("make run stopped:\n" + "".join(output[-40:]))
            if time.monotonic() - started > args.timeout:
                raise RuntimeError("make run did not finish in time")
        running = time.monotonic() - started
        answer_seconds, answer = first_answer(f"http://127.0.0.1:{ports['RASA_PORT']}")
        result.update({
            "make_run_to_running_s": round(running, 1),
            "first_answer_s": round(answer_seconds, 2),
            "clone_to_first_answer_s": round(time.monotonic() - started, 1),
            "steps": [{"step": s, "at_s": round(t, 1)} for s, t in steps],
            "first_answer": [m.get("text") for m in answer][:2],
        })
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGINT)  # Ctrl-C: scripts/run.py stops its processes
            try:
                make.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(make.pid, signal.SIGKILL)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fresh_clone_run.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
