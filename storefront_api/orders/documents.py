"""The order as the API shows it: to the shopper (lookup) and to the merchant (admin).

Shipments and refunds belong to other domains; they are read here only to be shown.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ..fulfilment.carriers import CARRIERS, STEP_LABELS
from ..fulfilment.models import Shipment
from ..money import money
from ..payments.models import Refund
from ..settings import Settings
from ..values import iso
from .emails import delivery_name, lookup_url
from .models import Order
from .service import TRANSITIONS

STATUS_LABELS = {
    "awaiting_preparation": "Awaiting preparation", "being_prepared": "Being prepared",
    "shipped": "Shipped", "delivered": "Delivered", "cancelled": "Cancelled",
    "refunded": "Refunded",
}
# What the shopper (or the chat) can tell about each status.
STATUS_DETAILS = {
    "awaiting_preparation": "Payment received; the order is waiting to be prepared.",
    "being_prepared": "The order is being picked and packed.",
    "shipped": "The parcel is on its way; follow it with the tracking link.",
    "delivered": "The parcel has been delivered.",
    "cancelled": "The order was cancelled; any payment is refunded.",
    "refunded": "The order's payment has been refunded.",
}


async def shipments_of(session: AsyncSession, order_id: int) -> list[Shipment]:
    return list((await session.scalars(
        select(Shipment).where(Shipment.order_id == order_id).order_by(Shipment.id)
        .options(selectinload(Shipment.events)))).all())


def shipment_document(shipment: Shipment) -> dict[str, Any]:
    carrier = CARRIERS.get(shipment.carrier)
    return {
        "carrier": shipment.carrier, "carrier_name": carrier.name if carrier else shipment.carrier,
        "tracking_number": shipment.tracking_number, "tracking_url": shipment.tracking_url,
        "status": shipment.status, "status_label": STEP_LABELS.get(shipment.status, ""),
        "created_at": iso(shipment.created_at),
        "events": [{"status": e.status, "label": STEP_LABELS.get(e.status, e.status),
                    "location": e.location, "description": e.description, "at": iso(e.at)}
                   for e in shipment.events],
    }


async def _refunds(session: AsyncSession, order: Order) -> list[dict[str, Any]]:
    rows = (await session.scalars(select(Refund).where(Refund.order_id == order.id)
                                  .order_by(Refund.id))).all()
    return [{"amount": money(r.amount, r.currency), "reason": r.reason, "status": r.status,
             "created_at": iso(r.created_at)} for r in rows]


async def order_document(session: AsyncSession, order: Order, settings: Settings, *,
                         for_merchant: bool = False) -> dict[str, Any]:
    """The whole order; ``order`` must come with its lines and history loaded."""
    currency = order.currency
    document = {
        "number": order.number, "status": order.status,
        "status_label": STATUS_LABELS.get(order.status, order.status),
        "status_detail": STATUS_DETAILS.get(order.status, ""),
        "created_at": iso(order.created_at), "updated_at": iso(order.updated_at),
        "lines": [{"sku": line.sku, "title": line.title, "variant_title": line.variant_title,
                   "quantity": line.quantity, "returned_quantity": line.returned_quantity,
                   "unit_price": money(line.unit_price, currency),
                   "line_total": money(line.line_total, currency)} for line in order.lines],
        "item_count": sum(line.quantity for line in order.lines),
        "promo_code": order.promo_code,
        "totals": {name: money(getattr(order, name), currency) for name in
                   ("subtotal", "discount", "shipping", "tax", "total", "refunded")},
        "shipping": {"method": order.shipping_method,
                     "name": delivery_name(order.shipping_method),
                     "address": order.shipping_address},
        "history": [{"from": h.from_status, "status": h.to_status,
                     "label": STATUS_LABELS.get(h.to_status, h.to_status), "note": h.note,
                     "at": iso(h.at)} for h in order.history],
        "shipments": [shipment_document(s) for s in await shipments_of(session, order.id)],
        "refunds": await _refunds(session, order),
        "lookup_url": lookup_url(order, settings),
    }
    if for_merchant:
        document.update({
            "email": order.email, "customer_id": order.customer_id,
            "conversation_id": order.conversation_id, "channel": order.channel,
            "payment_gateway": order.payment_gateway,
            "payment_reference": order.payment_reference,
            "next_statuses": sorted(TRANSITIONS.get(order.status, ())),
        })
    return document


def order_summary(order: Order) -> dict[str, Any]:
    """One row of the merchant's order list."""
    return {
        "number": order.number, "status": order.status,
        "status_label": STATUS_LABELS.get(order.status, order.status),
        "email": order.email, "total": money(order.total, order.currency),
        "shipping_method": order.shipping_method,
        "country": (order.shipping_address or {}).get("country"),
        "created_at": iso(order.created_at), "updated_at": iso(order.updated_at),
    }
