"""Refunds of orders: money going back to the shopper, for a cancelled order or a returned
parcel.

A refund is first a ``pending`` row, written in the transaction that decides it (the
cancellation, the received return), so it exists exactly when that change does; the gateway
is asked after that transaction commits, by ``payments.refunds.pay_back``, the one function
that pays any refund back. This module adds what a refund means for the order: its refunded
total, the return or the order closed, the ``refund`` event, the shopper told.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..chat import notices
from ..checkout.models import Checkout
from ..db import Database, utcnow
from ..events.service import EventContext, record_event
from ..money import format_money, money
from ..orders import service as orders
from ..orders.models import Order, OrderLine
from ..outbox.service import enqueue_conversation_notice, enqueue_email
from ..payments.gateway import PaymentGateway, RefundResult
from ..payments.models import Refund
from ..payments.refunds import pay_back, record
from ..problems import conflict, not_found
from ..values import iso
from .models import ReturnLine, ReturnRequest


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

async def issue(db: Database, gateway: PaymentGateway, refund_id: int,
                ctx: EventContext | None = None) -> Refund:
    """Pay a committed refund back and record the answer; with a success, what it means for
    the order. A refund of a checkout (paid after its goods went to someone else) has no
    order: only its row changes."""
    async with db.read() as session:
        reference = await _payment_reference(session, refund_id)
    return await pay_back(db, gateway, refund_id, reference,
                          then=partial(_order_refunded, ctx=ctx))


async def _payment_reference(session: AsyncSession, refund_id: int) -> str | None:
    refund = await session.get(Refund, refund_id)
    if refund.order_id is not None:
        return await session.scalar(
            select(Order.payment_reference).where(Order.id == refund.order_id))
    return await session.scalar(
        select(Checkout.payment_reference).where(Checkout.id == refund.checkout_id))


async def retry(db: Database, gateway: PaymentGateway, refund_id: int) -> Refund:
    """The merchant's retry of a refund that failed (or never reached the gateway)."""
    async with db.read() as session:
        refund = await session.get(Refund, refund_id)
    if refund is None:
        raise not_found("refund", refund_id)
    if refund.status == "succeeded":
        raise conflict(f"Refund {refund_id} already succeeded; there is nothing to retry.",
                       type="refund-already-succeeded")
    return await issue(db, gateway, refund_id)


async def settle(session: AsyncSession, refund_id: int, result: RefundResult,
                 ctx: EventContext | None = None) -> Refund:
    """Record the gateway's answer for a refund, once, with what a success means for its
    order. Public so that a webhook reporting a refund that finished later (Stripe's
    ``pending`` ones) can settle it the same way."""
    return await record(session, refund_id, result, partial(_order_refunded, ctx=ctx))


async def _order_refunded(session: AsyncSession, refund: Refund,
                          ctx: EventContext | None) -> None:
    if refund.order_id is None:  # a checkout's refund: no order to update
        return
    number = await session.scalar(select(Order.number).where(Order.id == refund.order_id))
    order = await orders.order_by_number(session, number, for_update=True)
    await money_went_back(session, order, refund, ctx)


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
            session, conversation_id=order.conversation_id, intent=notices.REFUND_ISSUED,
            entities={"order_number": order.number, "refund_amount": amount,
                      "refund_reason": refund.reason, "rma_number": rma})


# --- what the shopper and the merchant see -------------------------------------------------

def refund_document(refund: Refund, rma_number: str | None = None) -> dict[str, Any]:
    return {"id": refund.id, "amount": money(refund.amount, refund.currency),
            "reason": refund.reason, "rma_number": rma_number, "status": refund.status,
            "failure_reason": refund.failure_reason, "created_at": iso(refund.created_at),
            "updated_at": iso(refund.updated_at)}


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
