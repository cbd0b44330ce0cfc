"""Steps the inbox tests share: a handoff asked for as the bot asks, claims, events, and a
reader of server-sent events."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from assistant_calls import SERVICE
from sqlalchemy import select

from storefront_api.chat import tokens
from storefront_api.events.models import Event

BASE = "/api/admin/support/handoffs"
INBOX = "/api/admin/support/inbox"


def conversation() -> str:
    return tokens.new_conversation_id()  # what the web chat's conversations look like


async def ask_for_human(client, conversation_id: str, **extra) -> dict:
    body = {"conversation_id": conversation_id, "channel": "socketio",
            "reason": "asked_for_human",
            "transcript": [{"sender": "user", "text": "I want a person", "ts": time.time()}],
            **extra}
    resp = await client.post("/api/support/handoffs", json=body, headers=SERVICE)
    document = await resp.json()
    assert resp.status == 201, document
    return document


async def claim(client, handoff_id: int, headers: dict, expect: int = 200) -> dict:
    resp = await client.post(f"{BASE}/{handoff_id}/claim", json={}, headers=headers)
    body = await resp.json()
    assert resp.status == expect, body
    return body


async def events_named(db, conversation_id: str, name: str) -> list[Event]:
    async with db.read() as session:
        return list((await session.scalars(select(Event).where(
            Event.conversation_id == conversation_id, Event.name == name)
            .order_by(Event.ts))).all())


def chat_token(settings, conversation_id: str, hours: int = 1, now: float | None = None) -> str:
    return tokens.issue(settings.chat_token_secret, conversation_id, hours,
                        now or time.time()).token


class Stream:
    """A text/event-stream response read event by event."""

    def __init__(self, response):
        self.response = response

    async def next(self, kind: str | None = None, timeout: float = 5.0) -> tuple[str, dict, str]:
        """(event, data, id) of the next event (of ``kind``, skipping others)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no {kind or 'event'} within {timeout} s")
            event = await asyncio.wait_for(self._one(), timeout=left)
            if kind is None or event[0] == kind:
                return event

    async def _one(self) -> tuple[str, dict, str]:
        kind, data, ident = "message", [], ""
        while True:
            line = (await self.response.content.readline()).decode()
            if line == "":
                raise AssertionError("the stream ended")
            line = line.rstrip("\n")
            if not line:
                if data:
                    return kind, json.loads("\n".join(data)), ident
                continue
            if line.startswith(":") or line.startswith("retry:"):
                continue
            field, _, value = line.partition(": ")
            if field == "event":
                kind = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                ident = value

    async def nothing(self, kind: str, seconds: float = 1.0) -> None:
        """No ``kind`` event within ``seconds``."""
        try:
            event = await self.next(kind, timeout=seconds)
        except (AssertionError, asyncio.TimeoutError):
            return
        raise AssertionError(f"unexpected {kind}: {event}")


async def open_stream(client, path: str, headers: dict | None = None) -> Stream:
    response = await client.get(path, headers=headers or {})
    assert response.status == 200, await response.text()
    assert response.content_type == "text/event-stream"
    return Stream(response)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
