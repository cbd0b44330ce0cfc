"""`rasa run`, with the secret of its HTTP API read from RASA_JWT_SECRET instead of the
command line, where every local user's `ps` (and `docker inspect`) would show it.

    python -m bot.rasa_server --enable-api -i 127.0.0.1 --port 5005 --model ... (rasa run's flags)

Rasa then accepts on its HTTP API (/conversations, /model, /status...) only a bearer JWT
signed with that secret (HS256, checked with its expiry): storefront_api signs its calls
with it. Without the secret this refuses to start rather than serve an open API.

It also installs what a turn survives (bot/resilience.py): a message sent twice answered
once, an action server restarting, the tracker or lock store failing; and, before the model
loads, the runner of the model's graph (bot/graph_runner.py: a plain loop instead of dask;
AISLE_GRAPH_RUNNER=dask keeps Rasa's) and kept HTTP sessions to the action server
(bot/http_sessions.py; AISLE_HTTP_SESSIONS=new keeps Rasa's session per request), whose
action calls encode each event of the tracker once (bot/action_call_json.py;
AISLE_ACTION_CALL_JSON=rasa keeps Rasa's encoding); and the tracker each action runs on
copied from the conversation's state rather than replayed (bot/tracker_copy.py;
AISLE_TRACKER_COPY=replay keeps Rasa's copy).
"""

from __future__ import annotations

import os
import sys


JSON_LOGGING = os.path.join(os.path.dirname(os.path.abspath(__file__)), "logging-json.yml")


def rasa_arguments(argv: list[str], secret: str, json_logs: bool = False) -> list[str]:
    """The `rasa run` command line this process runs (argv without the program name)."""
    if any(arg.startswith(("--jwt-secret", "--auth-token", "-t")) for arg in argv):
        raise SystemExit("bot.rasa_server: give the API's secret in RASA_JWT_SECRET, not on "
                         "the command line")
    if not secret:
        raise SystemExit("bot.rasa_server: RASA_JWT_SECRET is not set; Rasa's HTTP API would "
                         "be open to anyone who reaches its port")
    if json_logs and not any(arg.startswith("--logging-config-file") for arg in argv):
        argv = [*argv, "--logging-config-file", JSON_LOGGING]  # LOG_FORMAT=json
    return ["rasa", "run", *argv, "--jwt-secret", secret, "--jwt-method", "HS256"]


def main() -> None:
    # Only this interpreter's own sys.argv changes: /proc/<pid>/cmdline keeps what we were
    # started with, without the secret.
    sys.argv = rasa_arguments(sys.argv[1:], os.environ.get("RASA_JWT_SECRET", ""),
                              os.environ.get("LOG_FORMAT", "").strip().lower() == "json")
    from bot import action_call_json, graph_runner, http_sessions, resilience, tracker_copy
    resilience.install()  # messages answered once, action server restarts, stores failing
    graph_runner.install()  # the graph run in a plain loop (AISLE_GRAPH_RUNNER=dask: dask)
    http_sessions.install()  # kept connections to the action server (AISLE_HTTP_SESSIONS=new)
    action_call_json.install()  # each event encoded once (AISLE_ACTION_CALL_JSON=rasa)
    tracker_copy.install()  # the action's tracker copied, not replayed (AISLE_TRACKER_COPY=replay)
    from rasa.__main__ import main as rasa_main
    rasa_main()


if __name__ == "__main__":
    main()
