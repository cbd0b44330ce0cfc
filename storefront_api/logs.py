"""Structured logs: with LOG_FORMAT=json each line is one JSON object (time, level, logger,
service, message and, for a request made in a conversation, its ``conversation_id``), so an
operator can follow one shopper's conversation from Rasa through the action server to the
shop. The same format as bot/logs.py (Rasa's side; the two environments share no code).

The conversation is a context variable: the request middleware sets it from the assistant's
``X-Conversation-Id`` (believed only with the service credential) at the start of every
request, and each log record is stamped with it when it is made, so that the access log
line written after the handler carries it too.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
from datetime import datetime, timezone

CONVERSATION: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "aisle_conversation", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def _stamping(factory):
    def make(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        if not hasattr(record, "conversation_id"):
            record.conversation_id = CONVERSATION.get()
        return record
    make._aisle = True  # type: ignore[attr-defined]
    return make


if not getattr(logging.getLogRecordFactory(), "_aisle", False):
    logging.setLogRecordFactory(_stamping(logging.getLogRecordFactory()))


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc)
                          .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(), "logger": record.name,
            "service": self.service, "message": record.getMessage()}
        conversation = getattr(record, "conversation_id", None)
        if conversation:
            document["conversation_id"] = conversation
        if record.exc_info:
            document["error"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False, default=str)


def wants_json() -> bool:
    value = os.environ.get("LOG_FORMAT", "text").strip().lower()
    if value not in ("text", "json"):
        raise SystemExit(f"LOG_FORMAT must be 'text' or 'json', not {value!r}")
    return value == "json"


def configure_logging(service: str, level: int = logging.INFO) -> None:
    """The root logger writes to stderr, as text or (LOG_FORMAT=json) as JSON."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(service) if wants_json()
                         else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
