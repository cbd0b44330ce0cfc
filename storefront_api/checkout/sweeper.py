"""Closing checkouts whose payment link expired, so their stock is sold again.

Holds stop counting at their expiry anyway (inventory only counts unexpired ones); this
sweep records the outcome on the checkout and tells the gateway to close the session, so a
link that expired here cannot be paid there later (a payment that still arrives is handled:
completed when the stock is still there, refunded otherwise).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from ..catalog import inventory
from ..db import Database, utcnow
from ..payments.gateway import PaymentGateway
from .complete import close_checkout, expire_quietly
from .models import Checkout

log = logging.getLogger("storefront_api.checkout")


async def expire_overdue(db: Database, gateway: PaymentGateway, *, limit: int = 200) -> int:
    """Expire open checkouts past their time; returns how many."""
    async with db.write() as session:
        overdue = list((await session.execute(
            select(Checkout).where(Checkout.status == "open", Checkout.expires_at <= utcnow())
            .order_by(Checkout.expires_at).limit(limit).with_for_update(skip_locked=True)
        )).scalars())
        sessions = []
        for checkout in overdue:
            await close_checkout(session, checkout, status="expired",
                                 reason="the payment link expired")
            if checkout.gateway_session_id:
                sessions.append(checkout.gateway_session_id)
        await inventory.release_expired(session)
    for session_id in sessions:
        await expire_quietly(gateway, session_id)
    return len(overdue)


async def run_sweeper(db: Database, gateway: PaymentGateway, stop: asyncio.Event,
                      every: float = 30.0) -> None:
    """Sweep every ``every`` seconds until ``stop`` is set. It stops between sweeps, never in
    the middle of one: a task cancelled inside a database call can leave the connection's
    close pending forever."""
    while not stop.is_set():
        try:
            count = await expire_overdue(db, gateway)
            if count:
                log.info("expired %d unpaid checkouts", count)
        except Exception:  # a failed sweep is retried at the next one
            log.exception("checkout expiry sweep failed")
        try:
            await asyncio.wait_for(stop.wait(), every)
        except asyncio.TimeoutError:
            pass
