"""Recording analytics events (docs/storefront-api.md, "Analytics events").

Every commerce action appends one row to ``events`` inside the same transaction as the
action, so an event exists exactly when the change it describes was committed. Who did it
comes from the request (``EventContext``): the chat sends ``X-Conversation-Id`` and
``X-Channel``; the shop page sends ``X-Session-Id``, ``X-Source`` and ``X-Device``.

Personal identifiers stay in an event only with analytics consent (X-Consent: ``analytics``,
or ``granted`` as before purposes, see consent.service). Without it the customer id is left
out and the properties are scrubbed at every depth: keys that name personal data in any
spelling (``email``, ``E-Mail``, ``customer_id``, ``phone``...) and string values that look
like an e-mail address or a phone number are dropped, inside nested objects and lists too.
Every string is cut to ``MAX_TEXT`` characters and nesting to ``MAX_DEPTH`` levels first,
with or without consent, so the scrub's cost is linear in a bounded input and no regex ever
sees a long string.
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

MAX_TEXT = 500  # characters of a string property kept (and scanned); analytics needs fewer
MAX_KEY = 64  # characters of a property name
MAX_DEPTH = 8  # levels of nested objects and lists kept; deeper ones are dropped
# Property names (lower-cased, letters and digits only) that are personal data themselves...
_PERSONAL_KEYS = frozenset({
    "email", "mail", "surname", "phone", "mobile", "tel", "telephone", "address", "ip",
    "clientip", "remoteip", "customerid", "userid", "postcode", "postalcode", "zip",
    "zipcode", "street", "birthdate", "dateofbirth", "dob", "password"})
# ...parts that make any name personal (customer_email, shipping_address, mobile_phone)...
_PERSONAL_PARTS = ("email", "phone", "address", "password")
# ...and whose "name" it is: a person's (first_name, Customer_Name), not a product's
_PERSON_NAMES = frozenset({"", "first", "last", "full", "given", "family", "middle", "user",
                           "customer", "recipient", "contact", "billing", "display",
                           "buyer", "shopper", "cardholder", "holder"})
_NOT_NAME_CHARS = re.compile(r"[^a-z0-9]+")
# Linear: the local part is bounded, the domain's labels cannot overlap (dots separate them).
_EMAIL = re.compile(r"[^\s@<>()\[\],;:\"]{1,64}@[^\s@<>()\[\],;:\".]{1,63}"
                    r"(?:\.[^\s@<>()\[\],;:\".]{1,63})+")
# A run of digits and separators; digits counted afterwards (8 to 15, as ITU E.164).
_PHONE = re.compile(r"(?<![\w+./-])\+?\(?\d[\d .()/-]{6,22}\d(?![\w/])")
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./]\d{1,2}[./]\d{2,4}")
_DROP = object()


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
    consent: bool = False  # analytics consent: personal identifiers may stay in the event
    purposes: frozenset[str] | None = None  # what X-Consent stated; None: nothing

    @classmethod
    def from_request(cls, request: web.Request) -> "EventContext":
        """The conversation and channel are believed only from Aisle's own action server
        (the service credential): anyone else could tie their cart, checkout or ticket to
        somebody else's chat, and have the shop write into it."""
        from ..auth import is_service_call
        from ..consent.service import from_header
        service = is_service_call(request)
        purposes = from_header(request)
        return cls(
            session_id=_header(request, "X-Session-Id", 128),
            conversation_id=_header(request, "X-Conversation-Id", 128) if service else None,
            channel=_header(request, "X-Channel", 40) if service else None,
            source=_header(request, "X-Source", 80),
            device=_header(request, "X-Device", 40),
            consent=purposes is not None and "analytics" in purposes,
            purposes=purposes,
        )

    def for_customer(self, customer_id: int | None) -> "EventContext":
        return replace(self, customer_id=str(customer_id) if customer_id else None)


def personal_key(key: str) -> bool:
    """Does this property name say it holds personal data, in any spelling?"""
    name = _NOT_NAME_CHARS.sub("", key[:MAX_KEY].lower())
    if name in _PERSONAL_KEYS or any(part in name for part in _PERSONAL_PARTS):
        return True
    return name.endswith("name") and name[:-4] in _PERSON_NAMES


def personal_text(text: str) -> bool:
    """Does this (already bounded) text hold an e-mail address or a phone number?"""
    if "@" in text and _EMAIL.search(text):
        return True
    for match in _PHONE.finditer(text):
        # A date is not a phone number, but one run of digits can hold both ("on
        # 01/09/2026 06 12 34 56 78"): the digits around the dates are counted on their own.
        for candidate in _DATE.split(match.group()):
            if 8 <= sum(ch.isdigit() for ch in candidate) <= 15:
                return True
    return False


def _clean(value: Any, depth: int, scrub: bool) -> Any:
    """``value`` bounded (strings, names, depth) and, with ``scrub``, without personal data;
    ``_DROP`` when nothing of it may stay."""
    if isinstance(value, str):
        value = value[:MAX_TEXT]
        return _DROP if scrub and personal_text(value) else value
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return _DROP
        clean = {}
        for key, item in value.items():
            key = str(key)[:MAX_KEY]
            if scrub and personal_key(key):
                continue
            item = _clean(item, depth + 1, scrub)
            if item is not _DROP:
                clean[key] = item
        return clean
    if isinstance(value, (list, tuple)):
        if depth >= MAX_DEPTH:
            return _DROP
        items = (_clean(item, depth + 1, scrub) for item in value)
        return [item for item in items if item is not _DROP]
    return value  # numbers, booleans, null


def bounded_properties(properties: dict[str, Any], *, scrub: bool) -> dict[str, Any]:
    """The properties as stored: bounded always, scrubbed of personal data when ``scrub``."""
    clean = _clean(properties, 0, scrub)
    return clean if isinstance(clean, dict) else {}


def event_row(name: str, ctx: EventContext, *, cart_id: str | None = None,
              order_number: str | None = None, item_id: str | int | None = None,
              value: int | None = None, currency: str | None = None,
              properties: dict[str, Any] | None = None) -> dict[str, Any]:
    properties = bounded_properties(properties or {}, scrub=not ctx.consent)
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
    await record_rows(session, [event_row(name, ctx, **fields)])


async def record_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Append rows made by ``event_row`` beforehand (outside the transaction)."""
    await session.execute(insert(Event), rows)


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
