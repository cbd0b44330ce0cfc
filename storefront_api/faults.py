"""Crash points for the fault tests: AISLE_CRASH_AT=<name> kills the process at that point,
as a power cut would (no cleanup, no rollback message). Unset, they do nothing."""

from __future__ import annotations

import os


def crash_point(name: str) -> None:
    if os.environ.get("AISLE_CRASH_AT") == name:
        os._exit(70)
