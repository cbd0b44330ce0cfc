"""`make run`: start every Aisle process, wait until each answers, print the URLs.

Ctrl-C stops them all. A process that dies takes the others down with it and its last log
lines are shown, so a broken start never looks like a running shop. Logs go to var/log/.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "var" / "log"
PY = str(ROOT / ".venv" / "bin" / "python")


@dataclass
class Service:
    name: str
    command: list[str]
    health_url: str
    urls: dict[str, str]
    timeout: float = 60.0


def services() -> list[Service]:
    port = os.environ.get("PORT", "8080")
    base = f"http://127.0.0.1:{port}"
    return [
        Service("storefront_api", [PY, "-m", "storefront_api", "serve", "--port", port],
                f"{base}/healthz",
                {"Storefront API": f"{base}/api/products?q=hoodie",
                 "API docs": f"{base}/api/docs", "Health": f"{base}/healthz"}),
    ]


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def main() -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    running: list[tuple[Service, subprocess.Popen, Path]] = []

    def stop_all(*_):
        for _svc, proc, _log in running:
            if proc.poll() is None:
                proc.terminate()
        for _svc, proc, _log in running:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    signal.signal(signal.SIGTERM, lambda *_: (stop_all(), sys.exit(0)))
    try:
        for svc in services():
            log = LOGS / f"{svc.name}.log"
            print(f"starting {svc.name} (log: {log.relative_to(ROOT)})", flush=True)
            proc = subprocess.Popen(svc.command, cwd=ROOT, stdout=log.open("ab"),
                                    stderr=subprocess.STDOUT)
            running.append((svc, proc, log))
            deadline = time.monotonic() + svc.timeout
            while not _up(svc.health_url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    print(f"\n{svc.name} did not start. Last lines of {log}:\n{_tail(log)}")
                    stop_all()
                    return 1
                time.sleep(0.3)
        print("\nAisle is running:")
        for svc, _proc, _log in running:
            for label, url in svc.urls.items():
                print(f"  {label:<16} {url}")
        print("\nCtrl-C stops everything.", flush=True)
        while all(proc.poll() is None for _s, proc, _l in running):
            time.sleep(1)
        dead = next(s for s, p, _l in running if p.poll() is not None)
        print(f"{dead.name} stopped unexpectedly; stopping the rest. See var/log/{dead.name}.log")
        stop_all()
        return 1
    except KeyboardInterrupt:
        print("\nstopping...")
        stop_all()
        return 0


if __name__ == "__main__":
    sys.exit(main())
