"""A verified gateway event: checked, stored once, then handed to the domain it concerns.

The event row is written first, keyed by the gateway's event id. A second delivery of the same
event (Stripe retries until it gets a 2xx, and may deliver twice at the same moment) fails on
that key and changes nothing: on PostgreSQL the second insert waits for the first transaction
and then fails, on SQLite writers queue. What the event means is decided by the caller's
``apply`` (for checkout.session events, ``checkout/payment_events.py``), in the same
transaction as the event row.

If applying fails, the transaction rolls back with the event row: the 500 makes the gateway
deliver it again later, and the retry is processed as if it were the first.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import Database, utcnow
from .gateway import InvalidWebhook, PaymentGateway
from .models import PaymentEvent

log = logging.getLogger("storefront_api.payments")

Applied = TypeVar("Applied")
# apply(session, the stored event, its type, its data.object): sets the event's outcome
Apply = Callable[[AsyncSession, PaymentEvent, str, dict[str, Any]], Awaitable[Applied]]


class _AlreadyReceived(Exception):
    pass


def verified_event(gateway: PaymentGateway, payload: bytes,
                   signature_header: str) -> dict[str, Any]:
    """The signed event, or InvalidWebhook saying what was wrong with it."""
    event = gateway.verify_webhook(payload, signature_header)
    check_event_shape(event)
    return event


def check_event_shape(event: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """id, type and data.object of a signed event, or InvalidWebhook."""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    event_id, kind = event.get("id"), event.get("type")
    if not (isinstance(event_id, str) and 0 < len(event_id) <= 255 and isinstance(kind, str)
            and 0 < len(kind) <= 80 and isinstance(obj, dict)):
        raise InvalidWebhook("the body is not an event (id, type and data.object are needed)")
    return event_id, kind, obj


async def receive_event(db: Database, gateway: PaymentGateway, event: dict[str, Any],
                        apply: Apply[Applied]) -> Applied | None:
    """Store one verified event and apply it, in one transaction; None if this event was
    received before (then nothing is done again)."""
    event_id, kind, obj = check_event_shape(event)
    try:
        async with db.write() as session:
            stored = await _store(session, event_id, kind, gateway.name, event)
            applied = await apply(session, stored, kind, obj)
            stored.outcome = stored.outcome[:255]
    except _AlreadyReceived:
        log.info("payment event %s received again; ignored", event_id)
        return None
    return applied


async def _store(session: AsyncSession, event_id: str, kind: str, gateway: str,
                 event: dict[str, Any]) -> PaymentEvent:
    stored = PaymentEvent(id=event_id, type=kind, gateway=gateway, payload=event,
                          outcome="received", received_at=utcnow())
    session.add(stored)
    try:
        await session.flush()
    except IntegrityError:
        raise _AlreadyReceived() from None
    return stored
