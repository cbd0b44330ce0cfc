"""After-sales: cancelling before the parcel leaves, and returns or exchanges of delivered
items (RMA) with the merchant's approve / reject / receive.

Every function runs in the caller's write transaction on an order the caller locked, and
checks everything before it changes anything, so a refused request leaves the order, the
stock and the returns as they were. Money goes back through ``refunds`` once the transaction
has committed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ..catalog import inventory
from ..catalog.search import reindex_products
from ..db import utcnow
from ..events.service import EventContext, record_event
from ..money import format_money, money
from ..orders import service as orders
from ..orders.models import Order, OrderLine
from ..outbox.service import enqueue_email
from ..payments.models import Refund
from ..problems import Problem, conflict, unprocessable
from . import refunds
from ..values import iso, reference
from .models import ReturnLine, ReturnRequest

CANCELLABLE = ("awaiting_preparation", "being_prepared")
# What the merchant may do next with a return; "refunded" follows the refund, not a person.
RETURN_TRANSITIONS = {"requested": {"approved", "rejected"},
                      "approved": {"received", "rejected"}}
def last_change(order: Order, to_status: str) -> datetime | None:
    return max((c.at for c in order.history if c.to_status == to_status), default=None)


def shopper_context(order: Order, ctx: EventContext) -> EventContext:
    """Events of a shopper's own request: the conversation they are writing from, if any,
    else the one they ordered in."""
    base = orders.order_context(order, ctx)
    return replace(base, conversation_id=ctx.conversation_id or base.conversation_id,
                   channel=ctx.channel or base.channel)


async def _restock(session: AsyncSession, quantities: dict[int, int]) -> None:
    await reindex_products(session, await inventory.restock(session, quantities))


# --- cancelling ----------------------------------------------------------------------------

@dataclass
class Cancellation:
    order: Order
    refund: Refund | None
    new: bool  # False: the order had been cancelled before; nothing was done again


async def cancel_order(session: AsyncSession, order: Order, reason: str,
                       ctx: EventContext) -> Cancellation:
    """Cancel an order that has not left: status, stock back, a pending full refund and the
    e-mail, together. Cancelling again answers with the first cancellation."""
    if last_change(order, "cancelled"):
        return Cancellation(order, await refunds.refund_by_key(
            session, refunds.cancellation_key(order)), new=False)
    if order.status not in CANCELLABLE:
        raise _too_late_to_cancel(order)
    await orders.change_status(session, order, "cancelled", ctx,
                               note=reason or "cancelled by the shopper")
    units = Counter()
    for line in order.lines:
        units[line.variant_id] += line.quantity - line.returned_quantity
    await _restock(session, dict(units))
    amount = order.total - order.refunded
    refund = (await refunds.new_refund(session, order, amount, reason="cancellation",
                                       idempotency_key=refunds.cancellation_key(order))
              if amount > 0 else None)
    await enqueue_email(
        session, to=order.email, tag="order-cancelled",
        subject=f"Your order {order.number} is cancelled",
        text=(f"As you asked, we cancelled order {order.number}; nothing will be shipped. "
              + (f"We are refunding {format_money(amount, order.currency)} to the card you "
                 "paid with and will write again once it is on its way." if refund else "")))
    return Cancellation(order, refund, new=True)


def _too_late_to_cancel(order: Order) -> Problem:
    returns = f"/api/orders/{order.number}/returns"
    if order.status == "shipped":
        detail = (f"Order {order.number} has already shipped, so it can no longer be cancelled."
                  " Once it arrives you can return it for a refund.")
    elif order.status == "delivered":
        detail = (f"Order {order.number} has been delivered, so it can no longer be cancelled;"
                  " you can request a return instead.")
    else:
        detail = f"Order {order.number} is {order.status.replace('_', ' ')}; it cannot be cancelled."
    return conflict(detail, type="order-not-cancellable", order_status=order.status,
                    return_request=returns if order.status in ("shipped", "delivered") else None)


# --- returns and exchanges: the shopper's request ------------------------------------------

def window_closes(order: Order, days: int) -> datetime | None:
    """The end of the return window: ``days`` after delivery (None before delivery)."""
    delivered_at = last_change(order, "delivered") or (
        order.updated_at if order.status == "delivered" else None)
    return delivered_at + timedelta(days=days) if delivered_at else None


async def _units_claimed(session: AsyncSession, order: Order) -> Counter:
    """Units of each order line already in a return or exchange that was not rejected."""
    rows = await session.execute(
        select(ReturnLine.order_line_id, func.sum(ReturnLine.quantity))
        .join(ReturnRequest, ReturnRequest.id == ReturnLine.return_id)
        .where(ReturnRequest.order_id == order.id, ReturnRequest.status != "rejected")
        .group_by(ReturnLine.order_line_id))
    return Counter(dict(rows.all()))


async def _exchange_variant(session: AsyncSession, line: OrderLine, sku: str | None,
                            quantity: int) -> inventory.VariantInfo:
    """An exchange is another size or colour of the same product at the same price (a
    different price would be a return plus a new order)."""
    wanted = await inventory.variant_by_sku(session, sku or line.sku)
    original = await inventory.variant_by_id(session, line.variant_id)
    if wanted is None:
        raise unprocessable(f"There is no product with SKU {sku!r} to exchange for.",
                            type="unknown-exchange-sku", sku=sku)
    if original is None or wanted.product_id != original.product_id or \
            wanted.price != line.unit_price:
        raise unprocessable(
            f"{wanted.sku} cannot replace {line.sku}: an exchange is for another size or "
            "colour of the same product at the same price. Return the item and order the "
            "other one instead.", type="exchange-not-possible", sku=line.sku,
            exchange_sku=wanted.sku)
    if wanted.available < quantity:
        raise conflict(f"{wanted.sku} has {wanted.available} left; {quantity} wanted for the "
                       "exchange.", type="exchange-out-of-stock", exchange_sku=wanted.sku,
                       available=wanted.available)
    return wanted


async def request_return(session: AsyncSession, order: Order, *, kind: str,
                         items: Iterable[Any], reason: str, window_days: int,
                         ctx: EventContext) -> ReturnRequest:
    """A return or exchange request for delivered units (items: .sku, .quantity,
    .exchange_sku), within the return window counted from delivery."""
    if order.status != "delivered":
        raise _not_returnable(order)
    closes = window_closes(order, window_days)
    if utcnow() > closes:
        closed_on = closes.date().isoformat()
        raise unprocessable(f"The {window_days}-day return window of order {order.number} "
                            f"closed on {closed_on}.", type="return-window-closed",
                            window_closed_on=closed_on, window_days=window_days)
    lines = {line.sku.casefold(): line for line in reversed(order.lines)}
    unknown = [item.sku for item in items if item.sku.casefold() not in lines]
    if unknown:
        raise unprocessable(f"Order {order.number} has no item with SKU "
                            f"{', '.join(map(repr, unknown))}.", type="unknown-sku",
                            skus=unknown, order_skus=[line.sku for line in order.lines])
    claimed = await _units_claimed(session, order)
    request_lines = []
    for item in items:
        line = lines[item.sku.casefold()]
        returnable = line.quantity - claimed[line.id]
        if item.quantity > returnable:
            raise unprocessable(
                f"You bought {line.quantity} of {line.sku} and {claimed[line.id]} are already "
                f"in a return: at most {returnable} can be returned now.",
                type="too-many-units", sku=line.sku, returnable=returnable)
        exchange = (await _exchange_variant(session, line, item.exchange_sku, item.quantity)
                    if kind == "exchange" else None)
        request_lines.append(ReturnLine(order_line_id=line.id, quantity=item.quantity,
                                        exchange_variant_id=exchange.id if exchange else None))
    request = ReturnRequest(rma_number=await _unused_rma(session), order_id=order.id, kind=kind,
                            reason=reason, status="requested", lines=request_lines,
                            created_at=utcnow(), updated_at=utcnow())
    session.add(request)
    await session.flush()
    by_id = {line.id: line for line in order.lines}
    await record_event(
        session, "return_requested", shopper_context(order, ctx),
        order_number=order.number, currency=order.currency,
        value=sum(by_id[l.order_line_id].unit_price * l.quantity for l in request_lines),
        properties={"rma_number": request.rma_number, "kind": kind,
                    "items": [{"sku": by_id[l.order_line_id].sku, "quantity": l.quantity}
                              for l in request_lines]})
    await enqueue_email(
        session, to=order.email, tag="return-requested",
        subject=f"Your {kind} request {request.rma_number} for order {order.number}",
        text=(f"We received your {kind} request {request.rma_number}. We will check it and "
              "write again with where to send the parcel; please do not send anything yet."))
    return request


def _not_returnable(order: Order) -> Problem:
    if order.status in ("awaiting_preparation", "being_prepared", "shipped"):
        hint = (" It has not left yet: you can still cancel it."
                if order.status in CANCELLABLE else "")
        return conflict(f"Order {order.number} has not been delivered yet, so it cannot be "
                        f"returned.{hint}", type="order-not-delivered", order_status=order.status)
    return conflict(f"Order {order.number} is {order.status}; there is nothing left to return.",
                    type="order-not-returnable", order_status=order.status)


async def _unused_rma(session: AsyncSession) -> str:
    for _ in range(20):
        rma = reference("RMA-")
        if await session.scalar(select(ReturnRequest.id)
                                .where(ReturnRequest.rma_number == rma)) is None:
            return rma
    raise RuntimeError("could not find a free RMA number")  # 20 collisions in 887M


async def returns_of_order(session: AsyncSession, order_id: int) -> list[ReturnRequest]:
    return list((await session.scalars(
        select(ReturnRequest).where(ReturnRequest.order_id == order_id)
        .options(selectinload(ReturnRequest.lines)).order_by(ReturnRequest.id))).all())


# --- the merchant's side -------------------------------------------------------------------

async def return_with_order(session: AsyncSession, rma: str) -> tuple[ReturnRequest, Order]:
    found = await session.scalar(
        select(ReturnRequest).where(ReturnRequest.rma_number == rma.strip().upper())
        .options(selectinload(ReturnRequest.lines)))
    if found is None:
        raise _return_not_found(rma)
    number = await session.scalar(select(Order.number).where(Order.id == found.order_id))
    return found, await orders.order_by_number(session, number)


async def merchant_returns(session: AsyncSession, status: str | None, limit: int,
                           offset: int) -> list[dict[str, Any]]:
    query = (select(ReturnRequest).options(selectinload(ReturnRequest.lines))
             .order_by(ReturnRequest.id.desc()).limit(limit).offset(offset))
    if status:
        query = query.where(ReturnRequest.status == status)
    found = (await session.scalars(query)).all()
    by_id = {order.id: order for order in (await session.scalars(
        select(Order).where(Order.id.in_({r.order_id for r in found}))
        .options(selectinload(Order.lines)))).all()}
    documents = []
    for request in found:
        documents.extend(await return_documents(session, by_id[request.order_id], [request]))
    return documents


def _return_not_found(rma: str) -> Problem:
    return Problem(404, "Not found", f"There is no return {rma[:30]!r}.", type="return-not-found")


async def locked_return(session: AsyncSession, rma: str) -> tuple[ReturnRequest, Order]:
    """A return and its order, the order locked first (as every change to an order's
    returns and refunds does, so that concurrent changes queue instead of deadlocking)."""
    found = (await session.execute(
        select(Order.number).join(ReturnRequest, ReturnRequest.order_id == Order.id)
        .where(ReturnRequest.rma_number == rma.strip().upper()))).first()
    if found is None:
        raise _return_not_found(rma)
    order = await orders.order_by_number(session, found.number, for_update=True)
    request = await session.scalar(
        select(ReturnRequest).where(ReturnRequest.rma_number == rma.strip().upper())
        .options(selectinload(ReturnRequest.lines)).with_for_update().execution_options(
            populate_existing=True))
    return request, order


def _move(request: ReturnRequest, to_status: str) -> None:
    allowed = RETURN_TRANSITIONS.get(request.status, set())
    if to_status not in allowed:
        raise conflict(f"Return {request.rma_number} is {request.status}; it can become "
                       f"{', '.join(sorted(allowed)) or 'nothing else'}, not {to_status}.",
                       type="illegal-return-transition", return_status=request.status,
                       allowed=sorted(allowed))
    request.status, request.updated_at = to_status, utcnow()


async def approve_return(session: AsyncSession, request: ReturnRequest, order: Order,
                         note: str) -> None:
    _move(request, "approved")
    request.note = note or request.note
    await enqueue_email(
        session, to=order.email, tag="return-approved",
        subject=f"Your {request.kind} {request.rma_number} is approved",
        text=(f"Your {request.kind} {request.rma_number} for order {order.number} is approved. "
              f"Please send the items back with {request.rma_number} written on the parcel."
              + (f"\n\n{note}" if note else "")))


async def reject_return(session: AsyncSession, request: ReturnRequest, order: Order,
                        note: str) -> None:
    _move(request, "rejected")
    request.note = note
    await enqueue_email(
        session, to=order.email, tag="return-rejected",
        subject=f"About your {request.kind} request {request.rma_number}",
        text=(f"We are sorry: we cannot accept your {request.kind} request "
              f"{request.rma_number} for order {order.number}.\n\n{note}"))


async def receive_return(session: AsyncSession, request: ReturnRequest, order: Order, *,
                         restock: bool, ctx: EventContext) -> Refund | None:
    """The parcel arrived: units counted as returned and (unless damaged) back in stock;
    an exchange sends the replacement out of stock, a return gets its pending refund."""
    _move(request, "received")
    by_id = {line.id: line for line in order.lines}
    if request.kind == "exchange":
        await _take_replacements(session, order, request)
    back = Counter()
    for item in request.lines:
        by_id[item.order_line_id].returned_quantity += item.quantity
        back[by_id[item.order_line_id].variant_id] += item.quantity
    if restock:
        await _restock(session, dict(back))
    if request.kind == "exchange":
        request.status = "exchanged"
        await _announce_exchange(session, order, request)
        return None
    earlier = await _value_received_before(session, order, request)
    value = sum(by_id[item.order_line_id].unit_price * item.quantity for item in request.lines)
    request.refund_amount = refund_for_units(order, earlier, value)
    if request.refund_amount == 0:  # nothing was paid for these units (a 100 % code)
        request.status = "refunded"
        if await refunds.every_unit_refunded(session, order):
            await orders.change_status(session, order, "refunded",
                                       orders.order_context(order, ctx), note=request.rma_number)
        return None
    return await refunds.new_refund(
        session, order, request.refund_amount, reason="return", return_id=request.id,
        idempotency_key=refunds.return_key(order, request.rma_number))


async def _take_replacements(session: AsyncSession, order: Order,
                             request: ReturnRequest) -> None:
    wanted = Counter()
    for item in request.lines:
        wanted[item.exchange_variant_id] += item.quantity
    try:
        # The replacement belongs to the order's paid checkout: consume() takes it from the
        # shelf, counting other shoppers' holds, exactly as for the original units.
        await inventory.consume(session, order.checkout_id, dict(wanted))
    except inventory.InsufficientStock as exc:
        raise conflict(f"{exc.variant.sku} is out of stock ({exc.variant.available} left, "
                       f"{exc.wanted} needed); restock it, then receive {request.rma_number} "
                       "again.", type="exchange-out-of-stock", exchange_sku=exc.variant.sku,
                       available=exc.variant.available) from None
    taken = await inventory.variants_by_ids(session, wanted)
    await reindex_products(session, {variant.product_id for variant in taken.values()})


async def _value_received_before(session: AsyncSession, order: Order,
                                 request: ReturnRequest) -> int:
    """List value of the units that earlier returns of this order sent back for money."""
    return await session.scalar(
        select(func.coalesce(func.sum(ReturnLine.quantity * OrderLine.unit_price), 0))
        .join(ReturnRequest, ReturnRequest.id == ReturnLine.return_id)
        .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
        .where(ReturnRequest.order_id == order.id, ReturnRequest.kind == "return",
               ReturnRequest.status.in_(("received", "refunded")),
               ReturnRequest.id != request.id))


def refund_for_units(order: Order, value_before: int, value: int) -> int:
    """What returned units are worth: their share of what was paid for the goods, that is
    net of the discount and with its tax, but without shipping (the parcel did travel).
    Computed cumulatively over the order's returns so that rounding never drifts: once every
    unit is back, the refunds add up to exactly what the goods cost."""
    merchandise = max(order.subtotal - order.discount, 0)
    taxable = merchandise + order.shipping
    goods_paid = order.total * merchandise // taxable if taxable else 0

    def share(list_value: int) -> int:
        return goods_paid * min(list_value, order.subtotal) // order.subtotal \
            if order.subtotal else 0
    return share(value_before + value) - share(value_before)


async def _announce_exchange(session: AsyncSession, order: Order,
                             request: ReturnRequest) -> None:
    await enqueue_email(
        session, to=order.email, tag="exchange-sent",
        subject=f"Your exchange {request.rma_number}: the replacement is on its way",
        text=(f"We received the items of {request.rma_number} (order {order.number}); their "
              "replacement leaves our warehouse shortly."))


# --- documents -----------------------------------------------------------------------------

_NEXT_STEP = {
    "requested": "The shop is reviewing the request; do not send anything yet.",
    "approved": "Send the items back with the RMA number written on the parcel.",
    "rejected": "The request was declined; see the note.",
    "received": "The items arrived; the refund is being issued.",
    "refunded": "The items' value has been refunded.",
    "exchanged": "The items arrived; the replacement is on its way.",
}


async def return_documents(session: AsyncSession, order: Order,
                           requests: list[ReturnRequest]) -> list[dict[str, Any]]:
    lines = {line.id: line for line in order.lines}
    variants = await inventory.variants_by_ids(
        session, {item.exchange_variant_id for r in requests for item in r.lines
                  if item.exchange_variant_id})
    return [{
        "rma_number": r.rma_number, "order_number": order.number, "kind": r.kind,
        "status": r.status, "next_step": _NEXT_STEP.get(r.status, ""), "reason": r.reason,
        "note": r.note or None,
        "items": [{"sku": lines[item.order_line_id].sku,
                   "title": lines[item.order_line_id].title,
                   "quantity": item.quantity,
                   "exchange_sku": (variants[item.exchange_variant_id].sku
                                    if item.exchange_variant_id in variants else None)}
                  for item in r.lines],
        "refund_amount": money(r.refund_amount, order.currency),
        "created_at": iso(r.created_at), "updated_at": iso(r.updated_at),
    } for r in requests]
