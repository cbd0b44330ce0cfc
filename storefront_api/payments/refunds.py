"""Paying a refund back: the one place a gateway is asked for a refund, and its answer kept.

A refund is first a ``pending`` row, written in the transaction that decides it (a
cancellation, a received return, a payment that arrived for goods sold meanwhile), so it
exists exactly when that change does. The gateway is asked only after that transaction
commits: a slow or failing payment provider never holds a database lock, and never undoes
the change. Every attempt sends the row's idempotency key, so a retry, or two at once, cannot
pay twice at the gateway; ``record`` applies the answer once (a refund that already succeeded
is left alone), and what a success means for the domain that owed the money (``then``: an
order's refunded total, its events and messages) happens in that same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import Database, utcnow
from .gateway import GatewayError, PaymentGateway, RefundResult
from .models import Refund

log = logging.getLogger("storefront_api.payments")

UNREACHABLE = "The payment provider could not be reached; the refund will be retried."
NO_PAYMENT = "The order has no payment to refund."

# then(session, refund): what follows a refund that has just succeeded
Then = Callable[[AsyncSession, Refund], Awaitable[None]]


async def pay_back(db: Database, gateway: PaymentGateway, refund_id: int,
                   payment_reference: str | None, *, then: Then | None = None) -> Refund:
    """Ask the gateway for a committed refund of ``payment_reference`` and record its answer.
    Safe to repeat, and to run twice at once."""
    async with db.read() as session:
        refund = await session.get(Refund, refund_id)
    if refund.status == "succeeded":
        return refund
    result = await _ask(gateway, refund, payment_reference)
    async with db.write() as session:
        return await record(session, refund_id, result, then)


async def _ask(gateway: PaymentGateway, refund: Refund,
               payment_reference: str | None) -> RefundResult:
    """The gateway's answer; a failed one, never an exception: the change that owes this
    refund is committed, and the row must stay for a retry."""
    if not payment_reference:
        return RefundResult("", "failed", refund.failure_reason or NO_PAYMENT)
    try:
        return await gateway.refund(payment_reference, refund.amount, refund.currency,
                                    idempotency_key=refund.idempotency_key,
                                    reason=refund.reason)
    except GatewayError as exc:
        return RefundResult("", "failed", str(exc) or UNREACHABLE)
    except Exception:  # a bug or an odd answer: the refund stays owed, for a retry
        log.exception("refund %s: the gateway call failed", refund.id)
        return RefundResult("", "failed", UNREACHABLE)


async def record(session: AsyncSession, refund_id: int, result: RefundResult,
                 then: Then | None = None) -> Refund:
    """Record the gateway's answer for a refund, once. Public so that an answer arriving
    later (Stripe's ``pending`` refunds finish by webhook) is recorded the same way."""
    refund = await session.scalar(select(Refund).where(Refund.id == refund_id).with_for_update())
    if refund.status == "succeeded":  # another attempt got there first
        return refund
    refund.gateway_refund_id = result.id or refund.gateway_refund_id
    refund.updated_at = utcnow()
    if result.status != "succeeded":
        refund.status = "failed" if result.status == "failed" else "pending"
        refund.failure_reason = (result.failure_reason or "")[:255] or None
        if refund.status == "failed":
            log.error("refund %s (order %s, checkout %s) failed: %s", refund.id,
                      refund.order_id, refund.checkout_id, refund.failure_reason)
        return refund
    refund.status, refund.failure_reason = "succeeded", None
    if then is not None:
        await then(session, refund)
    return refund
