"""A PostgreSQL server of a test's own: initdb in a temporary directory, started with pg_ctl
on a free port, so that a test may stop and restart it under load without touching the
machine's server, which every other test uses.

    with PrivatePostgres() as server:
        url = server.database("shop")        # postgresql+asyncpg://postgres@127.0.0.1:PORT/shop
        server.restart()                     # or stop() ... start()

PostgreSQL refuses to run as root: as root, its commands run as the ``postgres`` user
(runuser). Without PostgreSQL's binaries the test skips (or fails with
AISLE_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from local_processes import free_port


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    def __init__(self) -> None:
        self.bin = _binaries()
        if self.bin is None:
            reason = "PostgreSQL's server binaries (initdb, pg_ctl) are not installed"
            if os.environ.get("AISLE_REQUIRE_SERVICES") == "1":
                pytest.fail(reason, pytrace=False)
            pytest.skip(reason)
        # a directory of its own in /tmp: the postgres user cannot enter pytest's (mode 700)
        self.root = Path(tempfile.mkdtemp(prefix="aisle-postgres-"))
        self.data = self.root / "data"
        self.port = free_port()

    def _run(self, *command: str, timeout: float = 60) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=timeout)

    def __enter__(self) -> "PrivatePostgres":
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "-A", "trust", "--no-sync", "-E", "UTF8")
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.root / "server.log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: sessions are ended, as a restart does; ``immediate``: like a crash."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop("fast")
        self.start()

    def database(self, name: str, driver: str = "postgresql+asyncpg") -> str:
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "postgres", name)
        return f"{driver}://postgres@127.0.0.1:{self.port}/{name}"

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while subprocess.run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p",
                              str(self.port)], capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise TimeoutError("the private PostgreSQL did not come back")
            time.sleep(0.1)
