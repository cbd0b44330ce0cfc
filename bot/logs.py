"""Structured logs for Rasa and the action server: with LOG_FORMAT=json each line is one JSON
object (time, level, logger, service, message, and the conversation it concerns), so that an
operator can follow one shopper's conversation across Rasa replicas and the action server.

The conversation is a context variable set where a turn starts (bot/resilience.py for Rasa,
bot/action_server.py for an action): every line logged while that turn runs carries it.
The same format as storefront_api/logs.py (the two environments share no code).
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
from datetime import datetime, timezone
from typing import Optional

CONVERSATION: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar(
    "aisle_conversation", default=None)


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def __init__(self, service: str = "rasa") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc)
                          .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(), "logger": record.name,
            "service": self.service, "message": record.getMessage()}
        conversation = getattr(record, "conversation_id", None) or CONVERSATION.get()
        if conversation:
            document["conversation_id"] = conversation
        if record.exc_info:
            document["error"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False, default=str)


def wants_json() -> bool:
    return os.environ.get("LOG_FORMAT", "text").strip().lower() == "json"


def use_json_logs(service: str) -> None:
    """LOG_FORMAT=json: every handler of the root logger (and the loggers that do not pass
    their records up, such as Sanic's) writes JSON."""
    if not wants_json():
        return
    formatter = JsonFormatter(service)
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    loggers = [root] + [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            handler.setFormatter(formatter)
