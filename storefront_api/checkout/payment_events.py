"""What a payment event means for a checkout: paid (its order, once; or, if the goods went to
someone else meanwhile, a full refund), failed, or expired.

The gateway's ``checkout.session.*`` events arrive through ``payments/webhooks.py``, which
stores each one once and calls ``apply_event`` in the same transaction. The checkout row is
locked while the event acts on it, so two different events about one payment (``completed``
and ``async_payment_succeeded``, or a shopper clicking Pay twice) are applied one after the
other and make one order. A refund this calls for is written with the event and paid back
after the commit (``payments/refunds.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import Database
from ..money import stripe_amount
from ..payments.gateway import PaymentGateway
from ..payments.models import PaymentEvent, Refund
from ..payments.refunds import pay_back
from ..payments.webhooks import receive_event
from ..settings import Settings
from .complete import (Completion, checkout_by_gateway_session, close_checkout,
                       complete_checkout, tell_payment_failed)
from .models import Checkout

log = logging.getLogger("storefront_api.checkout")

COMPLETED = "checkout.session.completed"
ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"
ASYNC_FAILED = "checkout.session.async_payment_failed"
EXPIRED = "checkout.session.expired"


@dataclass
class Receipt:
    """What the webhook answers, and the refund to pay once the transaction committed."""
    duplicate: bool = False
    order_number: str | None = None
    refund_id: int | None = None
    payment_reference: str | None = None

    def document(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"received": True}
        if self.duplicate:
            answer["duplicate"] = True
        if self.order_number:
            answer["order_number"] = self.order_number
        return answer


async def receive_payment_event(db: Database, gateway: PaymentGateway, settings: Settings,
                                event: dict[str, Any]) -> Receipt:
    """Store and apply one verified event; then pay back the refund it calls for, if any."""
    receipt = await receive_event(db, gateway, event, partial(apply_event, settings=settings))
    if receipt is None:
        return Receipt(duplicate=True)
    if receipt.refund_id is not None:
        try:
            await pay_back(db, gateway, receipt.refund_id, receipt.payment_reference)
        except Exception:  # the event is processed and the refund row owed: never a 500 here
            log.exception("refund %s could not be recorded; it stays pending", receipt.refund_id)
    return receipt


async def apply_event(session: AsyncSession, stored: PaymentEvent, kind: str,
                      obj: dict[str, Any], *, settings: Settings) -> Receipt:
    checkout = None
    if kind.startswith("checkout.session.") and isinstance(obj.get("id"), str):
        checkout = await checkout_by_gateway_session(session, obj["id"], for_update=True)
    if checkout is None:
        stored.outcome = ("ignored: no checkout has this payment session"
                          if kind.startswith("checkout.session.")
                          else f"ignored: {kind} is not handled")
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
        was_open = checkout.status == "open"
        closed = await close_checkout(session, checkout, status=status, reason=reason)
        if closed and was_open and kind == ASYNC_FAILED:
            await tell_payment_failed(session, checkout)
        stored.outcome = (f"checkout {status}" if closed
                          else f"ignored: checkout already {checkout.status}")
    else:
        stored.outcome = f"ignored: {kind} is not handled"
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
        receipt.payment_reference = checkout.payment_reference
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
