"""Every custom action the domain names is served by the action server.

Rasa asks the action server for an action by its name; a name the server does not know
answers 404 and the turn fails at run time, never at training. The server registers what
``ActionExecutor.register_package("bot.actions")`` finds (rasa_sdk's endpoint, as
``python -m bot.action_server --actions bot.actions`` and docker-compose start it), so the
check runs that in a fresh interpreter: this test session has imported more than the
server would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]

SERVED = """
import inspect, json, pkgutil, sys
from rasa_sdk import Action, utils
from rasa_sdk.executor import ActionExecutor
import bot.actions
package = [f"bot.actions.{module.name}" for module in pkgutil.iter_modules(bot.actions.__path__)]
not_imported = sorted(name for name in package if name not in sys.modules)
executor = ActionExecutor()
executor.register_package("bot.actions")
classes = [cls for cls in utils.all_subclasses(Action)
           if cls.__module__.startswith("bot.actions.") and not inspect.isabstract(cls)]
print(json.dumps({"registered": sorted(executor.actions), "not_imported": not_imported,
                  "classes": [[cls().name(), f"{cls.__module__}.{cls.__qualname__}"]
                              for cls in classes]}))
"""


def domain_actions() -> set[str]:
    """The custom actions listed under ``actions:`` in bot/domain/*.yml (a name, or a name
    with its settings such as ``send_domain``)."""
    names: set[str] = set()
    for path in sorted((REPO_ROOT / "bot" / "domain").glob("*.yml")):
        for entry in (yaml.safe_load(path.read_text()) or {}).get("actions") or []:
            names.update(entry if isinstance(entry, dict) else [entry])
    return {name for name in names if not name.startswith("utter_")}


@pytest.fixture(scope="module")
def served() -> dict:
    """What the action server registers, and what importing the package imports."""
    answer = subprocess.run([sys.executable, "-c", SERVED], cwd=REPO_ROOT, check=True,
                            capture_output=True, text=True, timeout=120)
    return json.loads(answer.stdout.strip().splitlines()[-1])


def test_every_custom_action_in_the_domain_is_registered_by_the_action_server(served):
    wanted = domain_actions()
    assert {name for name in wanted if name.startswith("action_")}, "no actions read"
    assert sorted(wanted - set(served["registered"])) == []


def test_importing_the_package_imports_every_skill_module(served):
    """bot/actions/__init__.py lists every module, so importing the package (tests, tools)
    sees the same actions as the server's walk over the package."""
    assert served["not_imported"] == []


def test_no_two_actions_share_a_name(served):
    """The executor keeps the last class registered under a name, silently: a class copied
    into a second module while splitting one would shadow the other."""
    owners: dict[str, list[str]] = {}
    for name, owner in served["classes"]:
        owners.setdefault(name, []).append(owner)
    assert {name: found for name, found in owners.items() if len(found) > 1} == {}
