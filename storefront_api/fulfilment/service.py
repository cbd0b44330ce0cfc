"""Fulfilment: the merchant advances orders, ships them with a carrier and records the
parcel's scans. (Stock and back-in-stock alerts: fulfilment.stock.)

Every order status change goes through orders.service.change_status (history row and
``order_status_changed`` event); every message to the shopper goes through the outbox, in
the same transaction as the change it reports.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ..db import utcnow
from ..events.service import EventContext
from ..orders.models import Order
from ..orders.service import (TRANSITIONS, IllegalTransition, change_status, order_by_number,
                              order_context)
from ..problems import Problem, conflict
from ..settings import Settings
from . import messages
from .carriers import DEFAULT_CARRIER, carrier_for
from .models import TRACKING_STEPS, Shipment, TrackingEvent

# Statuses whose change does more than a status: each has its own route.
OWN_ROUTE = {
    "shipped": "POST /api/admin/orders/{number}/shipments, which makes the carrier label and "
               "tells the shopper",
    "cancelled": "the shopper's POST /api/orders/{number}/cancel (after-sales), which refunds "
                 "the payment and puts the stock back",
    "refunded": "a refund through after-sales, which pays the money back at the gateway",
}


def illegal_transition(exc: IllegalTransition) -> Problem:
    allowed = exc.allowed
    return conflict(
        f"Order {exc.order.number} is {exc.order.status.replace('_', ' ')}; it can become "
        f"{', '.join(allowed) or 'nothing else'}, not {exc.to_status}.",
        type="illegal-transition", order_status=exc.order.status, requested=exc.to_status,
        allowed=allowed)


def _plausible(text: str, longest: int) -> bool:
    """Letters, digits and dashes only: anything else cannot be one of ours (and some
    characters, such as NUL, would not even reach PostgreSQL)."""
    return bool(re.fullmatch(rf"[A-Za-z0-9-]{{1,{longest}}}", text.strip()))


async def find_order(session: AsyncSession, number: str, *, for_update: bool = False) -> Order:
    order = (await order_by_number(session, number, for_update=for_update)
             if _plausible(number, 20) else None)
    if order is None:
        raise Problem(404, "Not found", f"No order {number[:20]!r}.", type="order-not-found")
    return order


async def list_orders(session: AsyncSession, *, status: str | None, page: int,
                      page_size: int) -> tuple[list[Order], int]:
    condition = Order.status == status if status else true()
    total = await session.scalar(select(func.count(Order.id)).where(condition))
    orders = (await session.scalars(
        select(Order).where(condition).order_by(Order.created_at.desc(), Order.id.desc())
        .offset((page - 1) * page_size).limit(page_size))).all()
    return list(orders), int(total or 0)


async def set_order_status(session: AsyncSession, order: Order, status: str, note: str,
                           ctx: EventContext, settings: Settings) -> None:
    """The merchant's manual step (prepare, back to waiting, delivered without a scan)."""
    if status in OWN_ROUTE and status in TRANSITIONS.get(order.status, ()):
        raise conflict(f"Setting an order {status} needs {OWN_ROUTE[status]}.",
                       type="status-has-own-route", requested=status)
    try:
        await change_status(session, order, status, ctx, note=note)
    except IllegalTransition as exc:
        raise illegal_transition(exc) from None
    if status == "delivered":
        await messages.order_delivered(session, order, settings, shipment=None)


async def _unused_tracking_number(session: AsyncSession, carrier, order: Order) -> tuple[str, str]:
    for _ in range(10):
        number, url = carrier.create_label(order)
        if await session.scalar(select(Shipment.id).where(
                Shipment.tracking_number == number)) is None:
            return number, url
    raise RuntimeError(f"{carrier.name} gave 10 tracking numbers already in use")


async def ship_order(session: AsyncSession, order: Order, carrier_code: str | None,
                     ctx: EventContext, settings: Settings) -> Shipment:
    """Label, shipment, status shipped (through being_prepared if it was still waiting)."""
    if order.status not in ("awaiting_preparation", "being_prepared"):
        raise conflict(f"Order {order.number} is {order.status.replace('_', ' ')}; only an "
                       "order awaiting or being prepared can be shipped.",
                       type="illegal-transition", order_status=order.status, requested="shipped",
                       allowed=sorted(TRANSITIONS.get(order.status, ())))
    carrier = carrier_for(carrier_code or DEFAULT_CARRIER, settings.storefront_url)
    if order.status == "awaiting_preparation":
        await change_status(session, order, "being_prepared", ctx, note="prepared for shipping")
    number, url = await _unused_tracking_number(session, carrier, order)
    shipment = Shipment(order_id=order.id, carrier=carrier.code, tracking_number=number,
                        tracking_url=url, status="label_created", created_at=utcnow())
    session.add(shipment)
    await session.flush()
    await change_status(session, order, "shipped", ctx,
                        note=f"shipped with {carrier.name}, tracking {number}")
    await messages.order_shipped(session, order, shipment, settings)
    return shipment


async def find_shipment(session: AsyncSession, tracking_number: str, *,
                        for_update: bool = False) -> Shipment:
    query = (select(Shipment).where(Shipment.tracking_number == tracking_number.strip().upper())
             .options(selectinload(Shipment.events)))
    if for_update:
        query = query.with_for_update()
    shipment = await session.scalar(query) if _plausible(tracking_number, 64) else None
    if shipment is None:
        raise Problem(404, "Not found", f"No shipment with tracking number "
                      f"{tracking_number[:40]!r}.", type="shipment-not-found")
    return shipment


def _next_step(shipment: Shipment, wanted: str | None) -> str:
    """Scans only move forward; a step may repeat (several in-transit scans), except the
    delivery, which ends the parcel's journey."""
    last = shipment.events[-1].status if shipment.events else None
    if last == "delivered":
        raise conflict(f"Shipment {shipment.tracking_number} has been delivered; it takes no "
                       "more scans.", type="shipment-delivered")
    last_index = TRACKING_STEPS.index(last) if last in TRACKING_STEPS else -1
    if wanted is None:
        return TRACKING_STEPS[last_index + 1]
    if TRACKING_STEPS.index(wanted) < last_index:
        raise conflict(f"Shipment {shipment.tracking_number} is already {last.replace('_', ' ')}"
                       f"; a scan cannot go back to {wanted.replace('_', ' ')}.",
                       type="tracking-step-backwards", last=last,
                       allowed=list(TRACKING_STEPS[last_index:]))
    return wanted


async def record_scan(session: AsyncSession, shipment: Shipment, *, status: str | None,
                      location: str | None, description: str | None, ctx: EventContext,
                      settings: Settings) -> Order:
    """Append the parcel's next scan (its delivery delivers the order); the order."""
    step = _next_step(shipment, status)
    order = await session.scalar(select(Order).where(Order.id == shipment.order_id)
                                 .options(selectinload(Order.lines),
                                          selectinload(Order.history)).with_for_update())
    carrier = carrier_for(shipment.carrier, settings.storefront_url) \
        if shipment.carrier else None
    planned = {scan[0]: scan for scan in carrier.plan(shipment, order.shipping_address or {})} \
        if carrier else {}
    _, planned_location, planned_description, _ = planned.get(step, (step, "", "", None))
    event = TrackingEvent(status=step, location=(location or planned_location)[:120],
                          description=(description or planned_description)[:255], at=utcnow())
    shipment.events.append(event)
    shipment.status = step
    await session.flush()
    if step == "out_for_delivery":
        await messages.out_for_delivery(session, order, shipment, settings)
    if step == "delivered" and order.status == "shipped":
        await change_status(session, order, "delivered", order_context(order, ctx),
                            note=f"{event.description} ({event.location})")
        await messages.order_delivered(session, order, settings, shipment=shipment,
                                       description=event.description)
    return order
