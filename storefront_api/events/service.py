"""Recording analytics events (DESIGN.md section 5).

Every commerce action appends one row to ``events`` inside the same transaction as the
action, so an event exists exactly when the change it describes was committed. Who did it
comes from the request (``EventContext``): the chat sends ``X-Conversation-Id`` and
``X-Channel``; the shop page sends ``X-Session-Id``, ``X-Source`` and ``X-Device``. Without
consent (``X-Consent: granted`` absent), personal identifiers are left out of the event.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import Database, utcnow
from .models import Event

log = logging.getLogger("storefront_api.events")

_PERSONAL_KEYS = {"email", "customer_email", "name", "phone", "address", "ip", "customer_id"}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_CONSENT_YES = {"granted", "true", "1", "yes"}


def _header(request: web.Request, name: str, limit: int) -> str | None:
    value = request.headers.get(name, "").strip()
    return value[:limit] or None


@dataclass(frozen=True)
class EventContext:
    session_id: str | None = None
    customer_id: str | None = None
    conversation_id: str | None = None
    channel: str | None = None
    source: str | None = None
    device: str | None = None
    consent: bool = False

    @classmethod
    def from_request(cls, request: web.Request) -> "EventContext":
        """The conversation and channel are believed only from Aisle's own action server
        (the service credential): anyone else could tie their cart, checkout or ticket to
        somebody else's chat, and have the shop write into it."""
        from ..auth import is_service_call
        service = is_service_call(request)
        return cls(
            session_id=_header(request, "X-Session-Id", 128),
            conversation_id=_header(request, "X-Conversation-Id", 128) if service else None,
            channel=_header(request, "X-Channel", 40) if service else None,
            source=_header(request, "X-Source", 80),
            device=_header(request, "X-Device", 40),
            consent=(request.headers.get("X-Consent", "").strip().lower() in _CONSENT_YES),
        )

    def for_customer(self, customer_id: int | None) -> "EventContext":
        return replace(self, customer_id=str(customer_id) if customer_id else None)


def _scrub(properties: dict[str, Any]) -> dict[str, Any]:
    """Drop personal fields and anything that looks like an e-mail address."""
    clean = {}
    for key, value in properties.items():
        if key.lower() in _PERSONAL_KEYS:
            continue
        if isinstance(value, str) and _EMAIL.search(value):
            continue
        clean[key] = value
    return clean


def event_row(name: str, ctx: EventContext, *, cart_id: str | None = None,
              order_number: str | None = None, item_id: str | int | None = None,
              value: int | None = None, currency: str | None = None,
              properties: dict[str, Any] | None = None) -> dict[str, Any]:
    properties = dict(properties or {})
    if not ctx.consent:
        properties = _scrub(properties)
    return {
        "event_id": str(uuid.uuid4()),
        "ts": utcnow(),
        "name": name,
        "session_id": ctx.session_id or ctx.conversation_id,
        "customer_id": ctx.customer_id if ctx.consent else None,
        "cart_id": cart_id,
        "order_number": order_number,
        "conversation_id": ctx.conversation_id,
        "channel": ctx.channel,
        "source": ctx.source,
        "device": ctx.device,
        "item_id": str(item_id) if item_id is not None else None,
        "value": value,
        "currency": currency,
        "consent": ctx.consent,
        "properties": properties,
    }


async def record_event(session: AsyncSession, name: str, ctx: EventContext, **fields) -> None:
    """Append one event in the caller's transaction."""
    await session.execute(insert(Event), [event_row(name, ctx, **fields)])


class EventBuffer:
    """Views (``view_item_list``, ``view_item``, ``view_cart``) happen on every read, and a
    write per read would serialise readers on the database's write lock. They are collected
    here and written in one transaction every ``interval`` seconds (or every ``max_rows``),
    and on shutdown. What a view buffer can lose is at most one interval of views if the
    process is killed; events of changes (cart, orders) are never buffered: they are written
    in the transaction of the change itself."""

    def __init__(self, db: Database, *, interval: float = 0.25, max_rows: int = 500):
        self.db, self.interval, self.max_rows = db, interval, max_rows
        self._rows: list[dict[str, Any]] = []
        self._task: asyncio.Task | None = None
        self._flushing = asyncio.Lock()
        self._stop = asyncio.Event()

    def add(self, name: str, ctx: EventContext, **fields) -> None:
        self._rows.append(event_row(name, ctx, **fields))
        if len(self._rows) >= self.max_rows:
            asyncio.get_running_loop().create_task(self.flush())

    async def flush(self) -> None:
        async with self._flushing:
            rows, self._rows = self._rows, []
            if not rows:
                return
            try:
                async with self.db.write() as session:
                    await session.execute(insert(Event), rows)
            except Exception:  # keep them for the next try; the database may be restarting
                log.exception("could not write %d view events; will retry", len(rows))
                self._rows[:0] = rows[-10 * self.max_rows:]

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), self.interval)
            except asyncio.TimeoutError:
                pass
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop between flushes (never cancel a write mid-way), then write what is left."""
        self._stop.set()
        if self._task:
            await self._task
        await self.flush()
