"""Shared by the policy tests: Aisle's action server, started once for the module."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bot.tests.test_resilience import free_port

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def action_server(tmp_path_factory):
    """Aisle's action server (the session start and the FAQ answers are custom actions);
    the shop it would call is not there, and the conversations below do not need it."""
    folder = tmp_path_factory.mktemp("actions")
    port = free_port()
    env = {**os.environ, "SANIC_HOST": "127.0.0.1",
           "STOREFRONT_URL": f"http://127.0.0.1:{free_port()}"}
    log = open(folder / "actions.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "bot.action_server", "--actions",
                                "bot.actions", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(url + "/health", timeout=2).read()
            break
        except (urllib.error.URLError, ConnectionError):
            assert process.poll() is None and time.monotonic() < deadline, \
                (folder / "actions.log").read_text()[-3000:]
            time.sleep(0.5)
    yield url + "/webhook"
    process.terminate()
    process.wait(timeout=30)
    log.close()
