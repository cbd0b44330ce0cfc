"""The action server: rasa_sdk's, started as `rasa run actions` starts it, plus what an
operator needs to see it work.

    python -m bot.action_server --actions bot.actions --port 5055  (rasa run actions' flags)

- ``GET /metrics`` (Prometheus text format): each action's latency (``aisle_action_seconds``)
  and outcome (``aisle_action_runs_total``: ok, rejected, error, or shop_unavailable when
  the action had to tell the shopper the shop could not be reached). Served on the action
  server's own port, which only Rasa reaches (loopback, or the private network in
  docker-compose: never published); docs/security.md.
- With LOG_FORMAT=json, one JSON object a line, carrying the conversation of the action.

Actions, endpoints and answers are rasa_sdk's own (``rasa_sdk.endpoint.create_app``).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Dict

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from rasa_sdk import utils
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
from rasa_sdk.endpoint import create_app, create_argument_parser, create_ssl_context
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection
from sanic import Sanic, response

from bot.logs import CONVERSATION, use_json_logs

logger = logging.getLogger(__name__)

APOLOGY = "utter_shop_unavailable"
ACTION_SECONDS = Histogram(
    "aisle_action_seconds", "Time to run a custom action, by action", ["action"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
ACTION_RUNS = Counter(
    "aisle_action_runs_total", "Custom actions run, by action and outcome "
    "(ok, rejected, error, shop_unavailable)", ["action", "outcome"])


def outcome_of(result: Dict[str, Any]) -> str:
    """ok, or shop_unavailable when the action told the shopper to try again."""
    responses = (result or {}).get("responses") or []
    if any(isinstance(r, dict) and r.get("response") == APOLOGY for r in responses):
        return "shop_unavailable"
    return "ok"


def instrument(executor_class: Any = ActionExecutor) -> None:
    """Time and count every run of ``ActionExecutor.run`` (once), with the conversation
    in the logging context."""
    original = executor_class.run
    if getattr(original, "_aisle", False):
        return

    async def run(self, action_call: Dict[str, Any]) -> Any:
        action = str(action_call.get("next_action") or "unknown")
        if action not in self.actions:
            action = "unknown"  # a label per name the caller invents would never end
        CONVERSATION.set(action_call.get("sender_id"))
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await original(self, action_call)
            outcome = outcome_of(result)
            return result
        except ActionExecutionRejection:
            outcome = "rejected"
            raise
        finally:
            ACTION_SECONDS.labels(action).observe(time.perf_counter() - started)
            ACTION_RUNS.labels(action, outcome).inc()

    run._aisle = True  # type: ignore[attr-defined]
    executor_class.run = run


def app_with_metrics(actions: str, cors: Any = None, auto_reload: bool = False) -> Sanic:
    instrument()
    app = create_app(actions, cors_origins=cors, auto_reload=auto_reload)

    @app.get("/metrics")
    async def metrics(_request) -> Any:
        return response.raw(generate_latest(), content_type=CONTENT_TYPE_LATEST)

    return app


def main() -> None:
    args = create_argument_parser().parse_args()
    logging.getLogger("matplotlib").setLevel(logging.WARN)
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(logging.getLogger(APPLICATION_ROOT_LOGGER_NAME),
                                 args.log_file, args.loglevel, args.logging_config_file)
    utils.update_sanic_log_level()
    use_json_logs("actions")
    app = app_with_metrics(args.actions, args.cors, args.auto_reload)
    ssl = create_ssl_context(args.ssl_certificate, args.ssl_keyfile, args.ssl_password)
    host = os.environ.get("SANIC_HOST", "0.0.0.0")
    logger.info("Action endpoint is up and running on %s://%s:%s",
                "https" if ssl else "http", host, args.port)
    app.run(host, args.port, ssl=ssl, workers=utils.number_of_sanic_workers())


if __name__ == "__main__":
    main()
