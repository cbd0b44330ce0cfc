"""Aisle's action server as a real process for a test module: started, waited for, stopped."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, Optional

from bot.tests.test_resilience import free_port

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def running_action_server(folder: Path, actions: str,
                          env: Optional[Dict[str, str]] = None) -> Iterator[str]:
    """``python -m bot.action_server --actions <actions>`` on a free port, its output in
    ``folder/actions.log``; yields its base URL once ``/health`` answers (90 s at most)."""
    port = free_port()
    log = open(folder / "actions.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "bot.action_server", "--actions",
                                actions, "--port", str(port)], cwd=ROOT,
                               env={**os.environ, "SANIC_HOST": "127.0.0.1", **(env or {})},
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(url + "/health", timeout=2).read()
                break
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None and time.monotonic() < deadline, \
                    (folder / "actions.log").read_text()[-3000:]
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
