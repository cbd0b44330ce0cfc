"""What bot/rasa_server.py installs, seen in a process of its own (its installers patch Rasa
for the whole process): the module of what an expression names after the set-up, with one
environment setting given or removed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]


def module_after_rasa_server(imports: str, expression: str, variable: str,
                             choice: Optional[str]) -> str:
    """``expression``'s ``__module__`` once bot.rasa_server's main has set Rasa up (Rasa's
    own main replaced by the report), with ``variable`` set to ``choice`` (None: unset)."""
    code = ("import rasa.__main__ as rasa_main, bot.rasa_server as server\n"
            "def report():\n"
            f"    {imports}\n"
            f"    print({expression}.__module__)\n"
            "rasa_main.main = report\n"
            "server.main()\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RASA_JWT_SECRET": "test-secret"}
    env.pop(variable, None)
    if choice:
        env[variable] = choice
    done = subprocess.run([sys.executable, "-c", code, "--enable-api"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]
