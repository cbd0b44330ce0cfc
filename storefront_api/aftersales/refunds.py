"""Refunds: money going back to the shopper, for a cancelled order or a returned parcel.

A refund is first a ``pending`` row, written in the transaction that decides it (the
cancellation, the received return), so it exists exactly when that change does. The gateway
is asked only after that transaction commits: a slow or failing payment provider never holds
a database lock, and never undoes a cancellation. Every attempt sends the row's idempotency
key, so a retry, or two at once, cannot pay twice at the gateway; ``settle`` applies the
answer once (a refund that already succeeded is left alone).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..app_keys import DB, PAYMENT_GATEWAY, SETTINGS
from ..db import utcnow
from ..events.service import EventContext, record_event
from ..money import format_money, money
from ..orders import service as orders
from ..orders.models import Order, OrderLine
from ..outbox.service import enqueue_conversation_notice, enqueue_email
from ..payments.gateway import GatewayError, PaymentGateway, RefundResult
from ..payments.gateways import gateway_for
from ..payments.models import Refund
from ..problems import conflict, not_found
from .models import ReturnLine, ReturnRequest

log = logging.getLogger("storefront_api.aftersales")

UNREACHABLE = "The payment provider could not be reached; the refund will be retried."


@asynccontextmanager
async def payment_gateway(app: web.Application) -> AsyncIterator[PaymentGateway]:
    """The app's gateway (opened at start-up), else one made for this call (an app that
    was built without the payments set-up, e.g. a command-line job)."""
    if PAYMENT_GATEWAY in app:
        yield app[PAYMENT_GATEWAY]
        return
    gateway = gateway_for(app[SETTINGS])
    try:
        yield gateway
    finally:
        if hasattr(gateway, "close"):
            await gateway.close()


def cancellation_key(order: Order) -> str:
    return f"refund:{order.number}:cancel"


def return_key(order: Order, rma_number: str) -> str:
    return f"refund:{order.number}:{rma_number}"


async def new_refund(session: AsyncSession, order: Order, amount: int, *, reason: str,
                     idempotency_key: str, return_id: int | None = None) -> Refund:
    refund = Refund(order_id=order.id, return_id=return_id, amount=amount,
                    currency=order.currency, reason=reason, status="pending",
                    idempotency_key=idempotency_key, created_at=utcnow(), updated_at=utcnow())
    session.add(refund)
    await session.flush()
    return refund


async def refund_by_key(session: AsyncSession, idempotency_key: str) -> Refund | None:
    return await session.scalar(select(Refund).where(Refund.idempotency_key == idempotency_key))


async def refunds_of_order(session: AsyncSession, order_id: int) -> list[Refund]:
    return list((await session.scalars(
        select(Refund).where(Refund.order_id == order_id).order_by(Refund.id))).all())


# --- asking the gateway --------------------------------------------------------------------

async def issue(app: web.Application, refund_id: int,
                ctx: EventContext | None = None) -> Refund:
    """Ask the gateway for a committed refund and record its answer."""
    db = app[DB]
    async with db.read() as session:
        refund = await session.get(Refund, refund_id)
        reference = await session.scalar(
            select(Order.payment_reference).where(Order.id == refund.order_id))
    if refund.status == "succeeded":
        return refund
    if not reference:
        result = RefundResult("", "failed", "The order has no payment to refund.")
    else:
        try:
            async with payment_gateway(app) as gateway:
                result = await gateway.refund(reference, refund.amount, refund.currency,
                                              idempotency_key=refund.idempotency_key,
                                              reason=refund.reason)
        except GatewayError as exc:
            result = RefundResult("", "failed", str(exc) or UNREACHABLE)
        except Exception:  # the cancellation or return is committed: leave a refund to retry
            log.exception("refund %s: the gateway call failed", refund_id)
            result = RefundResult("", "failed", UNREACHABLE)
    async with db.write() as session:
        return await settle(session, refund_id, result, ctx)


async def retry(app: web.Application, refund_id: int) -> Refund:
    """The merchant's retry of a refund that failed (or never reached the gateway)."""
    async with app[DB].read() as session:
        refund = await session.get(Refund, refund_id)
    if refund is None:
        raise not_found("refund", refund_id)
    if refund.status == "succeeded":
        raise conflict(f"Refund {refund_id} already succeeded; there is nothing to retry.",
                       type="refund-already-succeeded")
    if refund.order_id is None:  # a payment that arrived for sold-out goods: no order to update
        from ..payments.webhooks import make_refund
        async with payment_gateway(app) as gateway:
            return await make_refund(app[DB], gateway, refund_id)
    return await issue(app, refund_id)


async def settle(session: AsyncSession, refund_id: int, result: RefundResult,
                 ctx: EventContext | None = None) -> Refund:
    """Record the gateway's answer for a refund, once. Public so that a webhook reporting a
    refund that finished later (Stripe's ``pending`` ones) can settle it the same way."""
    refund = await session.scalar(select(Refund).where(Refund.id == refund_id).with_for_update())
    if refund.status == "succeeded":  # another attempt got there first
        return refund
    refund.gateway_refund_id = result.id or refund.gateway_refund_id
    refund.updated_at = utcnow()
    if result.status != "succeeded":
        refund.status = "failed" if result.status == "failed" else "pending"
        refund.failure_reason = (result.failure_reason or "")[:255] or None
        return refund
    refund.status, refund.failure_reason = "succeeded", None
    number = await session.scalar(select(Order.number).where(Order.id == refund.order_id))
    order = await orders.order_by_number(session, number, for_update=True)
    await money_went_back(session, order, refund, ctx)
    return refund


async def money_went_back(session: AsyncSession, order: Order, refund: Refund,
                          ctx: EventContext | None) -> None:
    """What follows a successful refund: the order's refunded total, the return or the
    order closed, the ``refund`` event, the shopper told by e-mail and in the chat."""
    order.refunded += refund.amount
    rma = None
    if refund.return_id is not None:
        request = await session.get(ReturnRequest, refund.return_id)
        request.status, request.updated_at, rma = "refunded", utcnow(), request.rma_number
    event_ctx = orders.order_context(order, ctx)
    if await every_unit_refunded(session, order) and order.status != "refunded":
        await orders.change_status(session, order, "refunded", event_ctx,
                                   note=f"refund {refund.id}: {refund.reason}")
    await record_event(session, "refund", event_ctx, order_number=order.number,
                       value=refund.amount, currency=refund.currency,
                       properties={"transaction_id": order.number, "refund_id": refund.id,
                                   "reason": refund.reason, "rma_number": rma})
    await announce_refund(session, order, refund, rma)


async def every_unit_refunded(session: AsyncSession, order: Order) -> bool:
    """A cancelled order is refunded as a whole; a delivered one once every unit came back
    through returns whose money went back (exchanged units never count)."""
    if order.status == "cancelled":
        return True
    if order.status != "delivered":
        return False
    refunded_units = await session.scalar(
        select(func.coalesce(func.sum(ReturnLine.quantity), 0))
        .join(ReturnRequest, ReturnRequest.id == ReturnLine.return_id)
        .where(ReturnRequest.order_id == order.id, ReturnRequest.kind == "return",
               ReturnRequest.status == "refunded"))
    bought = await session.scalar(select(func.coalesce(func.sum(OrderLine.quantity), 0))
                                  .where(OrderLine.order_id == order.id))
    return refunded_units >= bought


async def announce_refund(session: AsyncSession, order: Order, refund: Refund,
                          rma: str | None) -> None:
    amount = format_money(refund.amount, refund.currency)
    why = f"your return {rma}" if rma else "your cancelled order"
    await enqueue_email(
        session, to=order.email, tag="refund-issued",
        subject=f"Your refund of {amount} for order {order.number}",
        text=(f"We have refunded {amount} for {why} (order {order.number}) to the card you "
              "paid with. Depending on your bank it shows on your statement within 5 to 10 "
              "working days."))
    if order.conversation_id:
        await enqueue_conversation_notice(
            session, conversation_id=order.conversation_id, intent="EXTERNAL_refund_issued",
            entities={"order_number": order.number, "refund_amount": amount,
                      "refund_reason": refund.reason, "rma_number": rma})


# --- what the shopper and the merchant see -------------------------------------------------

def _iso(moment) -> str | None:
    return moment.isoformat() + "Z" if moment else None


def refund_document(refund: Refund, rma_number: str | None = None) -> dict[str, Any]:
    return {"id": refund.id, "amount": money(refund.amount, refund.currency),
            "reason": refund.reason, "rma_number": rma_number, "status": refund.status,
            "failure_reason": refund.failure_reason, "created_at": _iso(refund.created_at),
            "updated_at": _iso(refund.updated_at)}


async def refund_documents(session: AsyncSession, order: Order) -> list[dict[str, Any]]:
    found = await refunds_of_order(session, order.id)
    return_ids = {r.return_id for r in found if r.return_id}
    rmas = dict((await session.execute(
        select(ReturnRequest.id, ReturnRequest.rma_number)
        .where(ReturnRequest.id.in_(return_ids)))).all()) if return_ids else {}
    return [refund_document(r, rmas.get(r.return_id)) for r in found]


async def merchant_refunds(session: AsyncSession, status: str | None, limit: int,
                           offset: int) -> list[dict[str, Any]]:
    query = (select(Refund, Order.number).outerjoin(Order, Order.id == Refund.order_id)
             .order_by(Refund.id.desc()).limit(limit).offset(offset))
    if status:
        query = query.where(Refund.status == status)
    return [{**refund_document(refund), "order_number": number,
             "checkout_id": refund.checkout_id}
            for refund, number in (await session.execute(query)).all()]
