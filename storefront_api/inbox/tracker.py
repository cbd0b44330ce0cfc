"""Reading Rasa's tracker store (TRACKER_STORE_URL): what was said in a conversation.

Rasa records every event of every conversation in the ``events`` table of its SQL tracker
store (id, sender_id, type_name, timestamp, intent_name, action_name, data as JSON), also
while a conversation is paused: what a held shopper writes is there within a few tens of
milliseconds. storefront_api only reads it (in production as a role that can only read,
deploy/postgres-reader.sql), never writes: Rasa owns the table.

The URL is the one Rasa is given (``sqlite:///var/rasa_tracker.db``,
``postgresql://user:password@host/rasa``); the asynchronous driver is put in here.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

log = logging.getLogger("storefront_api.inbox")

events = Table(  # as Rasa 3.6's SQLTrackerStore creates it
    "events", MetaData(),
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("type_name", String(255)),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)
SAID = ("user", "bot")
RELAY_UTTERANCE = "utter_agent_message"  # an agent's reply on a messaging channel


class TrackerUnavailable(Exception):
    pass


def async_url(url: str) -> str:
    """Rasa's (synchronous) SQLAlchemy URL with the asynchronous driver of the same
    database: aiosqlite for SQLite, asyncpg for PostgreSQL."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(
            hide_password=False)
    raise ValueError(f"TRACKER_STORE_URL: a SQLite or PostgreSQL URL, not {backend!r}")


class TrackerStore:
    """Read-only queries on one tracker store; the engine is made at first use (for SQLite,
    once Rasa has created the file: reading must never create it)."""

    def __init__(self, url: str):
        self.url = async_url(url)
        parsed = make_url(self.url)
        self._file = (Path(parsed.database) if parsed.get_backend_name() == "sqlite"
                      and parsed.database not in (None, "", ":memory:") else None)
        self._engine: AsyncEngine | None = None

    def _connect(self) -> AsyncEngine:
        if self._engine is None:
            if self._file is not None and not self._file.exists():
                raise TrackerUnavailable(f"Rasa's tracker store {self._file} does not exist "
                                         "yet (Rasa has not started)")
            options = ({"connect_args": {"timeout": 5}} if self._file is not None
                       else {"pool_size": 2, "max_overflow": 2, "pool_pre_ping": True})
            self._engine = create_async_engine(self.url, **options)
        return self._engine

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()

    async def _rows(self, query) -> list[Any]:
        try:
            async with self._connect().connect() as connection:
                return list((await connection.execute(query)).all())
        except TrackerUnavailable:
            raise
        except Exception as exc:  # the table is not there yet, the server is down...
            raise TrackerUnavailable(f"Rasa's tracker store could not be read ({exc})"
                                     [:300]) from None

    async def newest_id(self) -> int:
        rows = await self._rows(select(func.max(events.c.id)))
        return int(rows[0][0] or 0)

    async def said_after(self, floor: int, conversations: list[str]) -> list[Any]:
        """User and bot events with an id above ``floor`` in these conversations."""
        if not conversations:
            return []
        return await self._rows(
            select(events.c.id, events.c.sender_id, events.c.type_name, events.c.timestamp,
                   events.c.data)
            .where(events.c.id > floor, events.c.sender_id.in_(conversations),
                   events.c.type_name.in_(SAID))
            .order_by(events.c.id).limit(2000))

    async def conversation(self, conversation_id: str, *, until: float | None = None,
                           limit: int = 300) -> list[Any]:
        """The conversation's latest ``limit`` user and bot events, oldest first."""
        query = (select(events.c.id, events.c.sender_id, events.c.type_name,
                        events.c.timestamp, events.c.data)
                 .where(events.c.sender_id == conversation_id, events.c.type_name.in_(SAID))
                 .order_by(events.c.id.desc()).limit(limit))
        if until is not None:
            query = query.where(events.c.timestamp <= until)
        return list(reversed(await self._rows(query)))

    async def shopper_times(self, conversations: list[str], since: float) -> dict[str, list[float]]:
        """When each conversation's shopper wrote, since ``since`` (unix seconds)."""
        if not conversations:
            return {}
        rows = await self._rows(
            select(events.c.sender_id, events.c.timestamp)
            .where(events.c.sender_id.in_(conversations), events.c.type_name == "user",
                   events.c.timestamp >= since).order_by(events.c.timestamp))
        found: dict[str, list[float]] = {}
        for sender, timestamp in rows:
            found.setdefault(sender, []).append(float(timestamp))
        return found


# --- one event as a line of the transcript -------------------------------------------------

def _data(raw: Any) -> dict[str, Any]:
    try:
        data = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, timezone.utc).replace(tzinfo=None)
    return moment.isoformat() + "Z"


def transcript_item(row: Any) -> dict[str, Any] | None:
    """A user or bot event as the inbox shows it; None for what is not a turn of its own
    (an agent's reply relayed by the bot: the inbox has it from its own table)."""
    row_id, _sender, type_name, timestamp, raw = row[:5]
    data = _data(raw)
    item = {"key": f"t{row_id}", "ts": iso(float(timestamp or 0))}
    if type_name == "user":
        text = str(data.get("text") or "")
        return {**item, "sender": "user", "text": text, "button": text.startswith("/"),
                "channel": data.get("input_channel")}
    if _is_relay(data):
        return None
    text = _bot_text(data)
    return {**item, "sender": "bot", "text": text} if text else None


def _custom(data: dict[str, Any]) -> dict[str, Any]:
    custom = (data.get("data") or {}).get("custom") or {}
    inner = custom.get("data") if isinstance(custom, dict) else None
    return inner if isinstance(inner, dict) else (custom if isinstance(custom, dict) else {})


def _is_relay(data: dict[str, Any]) -> bool:
    utterance = (data.get("metadata") or {}).get("utter_action")
    return utterance == RELAY_UTTERANCE or bool(_custom(data).get("agent"))


def _bot_text(data: dict[str, Any]) -> str:
    """The bot's words, and what else it showed, in one line each."""
    parts = [str(data.get("text") or "")]
    extra = data.get("data") or {}
    custom = _custom(data)
    cards = custom.get("cards") or (extra.get("elements") if isinstance(extra, dict) else None)
    if isinstance(cards, list) and cards:
        titles = [str(card.get("title") or "") for card in cards if isinstance(card, dict)]
        parts.append(f"[{len(titles)} products: {', '.join(t for t in titles if t)}]")
    if custom.get("text"):
        parts.append(str(custom["text"]))
    buttons = (extra.get("buttons") or extra.get("quick_replies")) if isinstance(extra, dict) \
        else None
    if isinstance(buttons, list) and buttons:
        titles = [str(b.get("title") or "") for b in buttons if isinstance(b, dict)]
        parts.append("[buttons: " + " · ".join(t for t in titles if t) + "]")
    return "\n".join(part for part in parts if part).strip()
