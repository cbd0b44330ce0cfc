"""bot/action_server.py, started as docker-compose and tests/assistant_stack.py start it:
each custom action's latency and outcome (ok, shop_unavailable, rejected, error) reach
``GET /metrics``, by the action's name; a name the caller invents is counted as ``unknown``
(one label per invented name would grow without end). With LOG_FORMAT=json, what an
action logs is one JSON object a line carrying the conversation it ran for."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bot.tests.action_server_process import running_action_server

ROOT = Path(__file__).resolve().parents[2]

ACTIONS = '''
import asyncio
import logging
from rasa_sdk import Action
from rasa_sdk.interfaces import ActionExecutionRejection


class Fine(Action):
    def name(self):
        return "action_fine"

    async def run(self, dispatcher, tracker, domain):
        await asyncio.sleep(0.05)
        logging.getLogger("metrics_test_actions").warning("fine action ran")
        dispatcher.utter_message(text="done")
        return []


class ShopAway(Action):
    def name(self):
        return "action_shop_away"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(response="utter_shop_unavailable")
        return []


class Refuses(Action):
    def name(self):
        return "action_refuses"

    async def run(self, dispatcher, tracker, domain):
        raise ActionExecutionRejection("action_refuses", "not now")


class Breaks(Action):
    def name(self):
        return "action_breaks"

    async def run(self, dispatcher, tracker, domain):
        raise RuntimeError("a bug")
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    package = tmp_path_factory.mktemp("actions")
    (package / "metrics_test_actions.py").write_text(ACTIONS)
    env = {"PYTHONPATH": f"{package}{os.pathsep}{ROOT}", "LOG_FORMAT": "json"}
    with running_action_server(package, "metrics_test_actions", env) as url:
        yield url, package / "actions.log"


def call(url: str, action: str) -> int:
    body = {"next_action": action, "sender_id": "conv-metrics", "version": "3.6.0",
            "domain": {}, "tracker": {"sender_id": "conv-metrics", "slots": {},
                                      "latest_message": {}, "events": [], "paused": False,
                                      "followup_action": None, "active_loop": {},
                                      "latest_action_name": None}}
    request = urllib.request.Request(url + "/webhook", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def samples(url: str) -> dict[tuple[str, str], float]:
    text = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
    found = {}
    for name, labels, value in re.findall(r"^(aisle_action_\w+)\{([^}]*)\} (\S+)$", text, re.M):
        found[(name, labels)] = float(value)
    return found


def test_every_action_run_is_timed_and_counted_by_outcome(server):
    server, _ = server
    assert call(server, "action_fine") == 200
    assert call(server, "action_fine") == 200
    assert call(server, "action_shop_away") == 200
    assert call(server, "action_refuses") == 400
    assert call(server, "action_breaks") == 500
    assert call(server, "action_made_up_by_the_caller") == 404
    found = samples(server)
    runs = {labels: value for (name, labels), value in found.items()
            if name == "aisle_action_runs_total"}
    assert runs == {'action="action_fine",outcome="ok"': 2,
                    'action="action_shop_away",outcome="shop_unavailable"': 1,
                    'action="action_refuses",outcome="rejected"': 1,
                    'action="action_breaks",outcome="error"': 1,
                    'action="unknown",outcome="error"': 1}
    assert found[("aisle_action_seconds_count", 'action="action_fine"')] == 2
    # the two runs slept 50 ms each: the histogram holds real durations
    assert 0.1 <= found[("aisle_action_seconds_sum", 'action="action_fine"')] < 2
    assert found[("aisle_action_seconds_bucket", 'action="action_fine",le="0.025"')] == 0


def test_an_actions_log_lines_are_json_with_the_conversation(server):
    url, log = server
    assert call(url, "action_fine") == 200
    deadline = time.monotonic() + 10
    while True:
        lines = [json.loads(line) for line in log.read_text().splitlines()
                 if line.startswith("{")]
        ran = [line for line in lines if line.get("message") == "fine action ran"]
        if ran or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert ran, log.read_text()[-2000:]
    assert ran[-1]["conversation_id"] == "conv-metrics"
    assert ran[-1]["service"] == "actions" and ran[-1]["level"] == "warning"
    assert {"ts", "logger"} <= set(ran[-1])
