"""Processing a verified gateway event: stored once, then acted on, in one transaction.

The event row is written first, keyed by the gateway's event id. A second delivery of the same
event (Stripe retries until it gets a 2xx, and may deliver twice at the same moment) fails on
that key and changes nothing: on PostgreSQL the second insert waits for the first transaction
and then fails, on SQLite writers queue. The checkout row is locked while the event acts on it,
so two different events about one payment (``completed`` and ``async_payment_succeeded``,
or a shopper clicking Pay twice) are applied one after the other and make one order.

If processing fails, the transaction rolls back with the event row: the 500 makes the gateway
deliver it again later, and the retry is processed as if it were the first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..checkout.complete import (
    Completion,
    checkout_by_gateway_session,
    close_checkout,
    complete_checkout,
)
from ..checkout.models import Checkout
from ..db import Database, utcnow
from ..money import stripe_amount
from ..settings import Settings
from .gateway import GatewayError, InvalidWebhook, PaymentGateway
from .models import PaymentEvent, Refund

log = logging.getLogger("storefront_api.payments")

COMPLETED = "checkout.session.completed"
ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"
ASYNC_FAILED = "checkout.session.async_payment_failed"
EXPIRED = "checkout.session.expired"


@dataclass
class Receipt:
    """What the webhook answers, and the refund to make once the transaction committed."""
    duplicate: bool = False
    order_number: str | None = None
    refund_id: int | None = None

    def document(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"received": True}
        if self.duplicate:
            answer["duplicate"] = True
        if self.order_number:
            answer["order_number"] = self.order_number
        return answer


class _AlreadyReceived(Exception):
    pass


def check_event_shape(event: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """id, type and data.object of a signed event, or InvalidWebhook."""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    event_id, kind = event.get("id"), event.get("type")
    if not (isinstance(event_id, str) and 0 < len(event_id) <= 255 and isinstance(kind, str)
            and 0 < len(kind) <= 80 and isinstance(obj, dict)):
        raise InvalidWebhook("the body is not an event (id, type and data.object are needed)")
    return event_id, kind, obj


async def receive_event(db: Database, gateway: PaymentGateway, settings: Settings,
                        event: dict[str, Any]) -> Receipt:
    """Store and apply one verified event; then make the refund it calls for, if any."""
    event_id, kind, obj = check_event_shape(event)
    try:
        async with db.write() as session:
            stored = await _store(session, event_id, kind, gateway.name, event)
            receipt = await _apply(session, stored, kind, obj, settings)
    except _AlreadyReceived:
        log.info("payment event %s received again; ignored", event_id)
        return Receipt(duplicate=True)
    if receipt.refund_id is not None:
        try:
            await make_refund(db, gateway, receipt.refund_id)
        except Exception:  # the event is processed and the refund row owed: never a 500 here
            log.exception("refund %s could not be recorded; it stays pending", receipt.refund_id)
    return receipt


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


async def _apply(session: AsyncSession, stored: PaymentEvent, kind: str, obj: dict[str, Any],
                 settings: Settings) -> Receipt:
    checkout = None
    if kind.startswith("checkout.session.") and isinstance(obj.get("id"), str):
        checkout = await checkout_by_gateway_session(session, obj["id"], for_update=True)
    if checkout is None:
        stored.outcome = ("ignored: no checkout has this payment session"
                          if kind.startswith("checkout.session.")
                          else f"ignored: {kind} is not handled")[:255]
        return Receipt()
    stored.checkout_id = checkout.id
    receipt = Receipt()
    if kind == COMPLETED and obj.get("payment_status") != "paid":
        # A delayed method (bank debit...): the money is not there yet; async_payment_* follows.
        stored.outcome = f"waiting for the payment ({obj.get('payment_status')})"
    elif kind in (COMPLETED, ASYNC_SUCCEEDED):
        stored.outcome = await _paid(session, checkout, obj, settings, receipt)
    elif kind in (ASYNC_FAILED, EXPIRED):
        status = "failed" if kind == ASYNC_FAILED else "expired"
        reason = "the payment failed" if kind == ASYNC_FAILED else "the payment link expired"
        closed = await close_checkout(session, checkout, status=status, reason=reason)
        stored.outcome = (f"checkout {status}" if closed
                          else f"ignored: checkout already {checkout.status}")
    else:
        stored.outcome = f"ignored: {kind} is not handled"
    stored.outcome = stored.outcome[:255]
    return receipt


async def _paid(session: AsyncSession, checkout: Checkout, obj: dict[str, Any],
                settings: Settings, receipt: Receipt) -> str:
    """The money arrived: the order, once; or, if the goods went to someone else, a refund."""
    if await _refund_for(session, checkout.id) is not None:
        return "ignored: this payment was already refunded"
    problem = _amount_problem(checkout, obj)
    if problem:
        log.error("payment for checkout %s not applied: %s", checkout.id, problem)
        return f"needs review: {problem}"
    payment_reference = obj.get("payment_intent") if isinstance(obj.get("payment_intent"), str) \
        else None
    completion: Completion = await complete_checkout(
        session, checkout, payment_reference=payment_reference, settings=settings)
    if completion.order is not None:
        receipt.order_number = completion.order.number
    if completion.refund_needed:
        receipt.refund_id = await _pending_refund(session, checkout, payment_reference)
    return completion.outcome or ("already completed" if completion.already_done else "completed")


def _amount_problem(checkout: Checkout, obj: dict[str, Any]) -> str | None:
    """The gateway must have charged exactly what the shopper confirmed."""
    amount, currency = obj.get("amount_total"), obj.get("currency")
    if amount is None and currency is None:
        return None  # events without amounts (e.g. async_payment_succeeded from old API versions)
    # Stripe's units (``stripe_amount``): the same figure the gateway asked Stripe to charge.
    expected = stripe_amount(checkout.total, checkout.currency)
    if amount != expected or str(currency or "").upper() != checkout.currency:
        return (f"paid {amount} {str(currency).upper()} (Stripe's units), the checkout is "
                f"{expected} {checkout.currency}")
    return None


async def _refund_for(session: AsyncSession, checkout_id: int) -> Refund | None:
    return await session.scalar(select(Refund).where(
        Refund.checkout_id == checkout_id, Refund.order_id.is_(None)))


async def _pending_refund(session: AsyncSession, checkout: Checkout,
                          payment_reference: str | None) -> int:
    """Written with the event, so the refund is owed exactly once even if the gateway call
    after the commit fails (the row stays pending or failed for the merchant to see)."""
    refund = Refund(checkout_id=checkout.id, order_id=None, amount=checkout.total,
                    currency=checkout.currency, reason="out_of_stock", status="pending",
                    idempotency_key=f"refund-checkout-{checkout.id}-out-of-stock",
                    gateway_refund_id=None, failure_reason=None if payment_reference
                    else "the gateway gave no payment reference")
    session.add(refund)
    await session.flush()
    return refund.id


async def make_refund(db: Database, gateway: PaymentGateway, refund_id: int) -> Refund:
    """Ask the gateway to pay a pending refund back and record its answer. Safe to repeat:
    the idempotency key makes the gateway answer a repeat with the first refund."""
    async with db.read() as session:
        refund = await session.get(Refund, refund_id)
        checkout = await session.get(Checkout, refund.checkout_id) if refund.checkout_id else None
    reference = checkout.payment_reference if checkout else None
    status, gateway_id, failure = "failed", None, refund.failure_reason
    if reference:
        try:
            result = await gateway.refund(reference, refund.amount, refund.currency,
                                          idempotency_key=refund.idempotency_key,
                                          reason=refund.reason)
            status, gateway_id, failure = result.status, result.id, result.failure_reason
        except GatewayError as exc:
            failure = str(exc)
        except Exception:  # a bug or an odd answer: the refund stays owed, for a retry
            log.exception("refund %s: the gateway call failed", refund_id)
            failure = "the payment provider could not be reached"
    if status == "failed":
        log.error("refund %s of checkout %s failed: %s", refund.id, refund.checkout_id, failure)
    async with db.write() as session:
        refund = await session.get(Refund, refund_id, with_for_update=True)
        refund.status, refund.gateway_refund_id = status, gateway_id
        refund.failure_reason = failure[:255] if failure else None
        refund.updated_at = utcnow()
    return refund
