"""Orders: created once per paid checkout, advanced only along legal transitions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ..auth import same_secret
from ..db import utcnow
from ..events.service import EventContext, record_event
from ..problems import Problem
from ..values import random_code
from .models import Order, OrderLine, OrderStatusChange

# Which status may follow which. Cancelling is only possible before the parcel leaves;
# "refunded" closes an order whose money all went back (after a cancellation or returns).
TRANSITIONS: dict[str, set[str]] = {
    "awaiting_preparation": {"being_prepared", "cancelled"},
    "being_prepared": {"shipped", "cancelled", "awaiting_preparation"},
    "shipped": {"delivered"},
    "delivered": {"refunded"},
    "cancelled": {"refunded"},
    "refunded": set(),
}

_LETTERS = "".join(c for c in string.ascii_uppercase if c not in "IOQ")  # none that look like digits


class IllegalTransition(Exception):
    def __init__(self, order: Order, to_status: str):
        allowed = sorted(TRANSITIONS.get(order.status, ()))
        names = " or ".join(a.replace("_", " ") for a in allowed) or "nothing else"
        super().__init__(f"Order {order.number} is {order.status.replace('_', ' ')}: it cannot "
                         f"become {to_status.replace('_', ' ')}, only {names}.")
        self.order, self.to_status, self.allowed = order, to_status, allowed


def new_order_number() -> str:
    """'KX-48213': two letters and five digits, easy to read out and type."""
    return random_code(_LETTERS, 2) + "-" + random_code(string.digits, 5)


async def _unused_number(session: AsyncSession) -> str:
    for _ in range(20):
        number = new_order_number()
        if await session.scalar(select(Order.id).where(Order.number == number)) is None:
            return number
    raise RuntimeError("could not find a free order number")  # 20 collisions in 5.9M numbers


def _with_details():
    return (selectinload(Order.lines), selectinload(Order.history))


async def order_by_number(session: AsyncSession, number: str, *,
                          for_update: bool = False) -> Order | None:
    query = select(Order).where(Order.number == number.strip().upper()).options(*_with_details())
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def order_for_checkout(session: AsyncSession, checkout_id: int) -> Order | None:
    return await session.scalar(select(Order).where(Order.checkout_id == checkout_id)
                                .options(*_with_details()))


async def create_order(session: AsyncSession, *, checkout, summary: dict[str, Any],
                       payment_reference: str | None, ctx: EventContext) -> Order:
    """The order of a paid checkout, with its lines and first status, in the caller's
    transaction (checkout.complete does the rest of the completion around it)."""
    order = Order(
        number=await _unused_number(session), checkout_id=checkout.id, cart_id=checkout.cart_id,
        customer_id=checkout.customer_id, email=checkout.email, status="awaiting_preparation",
        currency=checkout.currency, subtotal=summary["subtotal"], discount=summary["discount"],
        shipping=summary["shipping"], tax=summary["tax"], total=summary["total"],
        shipping_method=checkout.shipping_method, shipping_address=checkout.shipping_address,
        promo_code=summary.get("promo_code"), payment_gateway=checkout.gateway,
        payment_reference=payment_reference, conversation_id=checkout.conversation_id,
        channel=checkout.channel, consent=checkout.consent,
        lines=[OrderLine(variant_id=line["variant_id"], sku=line["sku"], title=line["title"],
                         variant_title=line.get("variant_title", ""), quantity=line["quantity"],
                         unit_price=line["unit_price"], line_total=line["line_total"])
               for line in summary["lines"]],
        history=[OrderStatusChange(from_status=None, to_status="awaiting_preparation",
                                   note="payment received")],
    )
    session.add(order)
    await session.flush()
    await record_event(session, "purchase", ctx, cart_id=str(checkout.cart_id),
                       order_number=order.number, value=order.total, currency=order.currency,
                       properties={"items": [{"sku": l.sku, "quantity": l.quantity,
                                              "price": l.unit_price} for l in order.lines],
                                   "shipping": order.shipping, "tax": order.tax,
                                   "discount": order.discount, "coupon": order.promo_code})
    return order


async def change_status(session: AsyncSession, order: Order, to_status: str, ctx: EventContext,
                        *, note: str = "") -> None:
    """Move an order along a legal transition; every change is kept with its time and is an
    ``order_status_changed`` event."""
    if to_status not in TRANSITIONS.get(order.status, ()):
        raise IllegalTransition(order, to_status)
    from_status, order.status, order.updated_at = order.status, to_status, utcnow()
    order.history.append(OrderStatusChange(from_status=from_status, to_status=to_status,
                                           note=note[:500]))
    await record_event(session, "order_status_changed", ctx, order_number=order.number,
                       properties={"from": from_status, "to": to_status, "note": note[:200]})
    await session.flush()


def order_context(order: Order, ctx: EventContext | None = None) -> EventContext:
    """The event context of an order's own conversation (for changes made by the merchant)."""
    base = ctx or EventContext()
    return EventContext(session_id=base.session_id, conversation_id=order.conversation_id,
                        channel=order.channel, source=base.source, device=base.device,
                        consent=order.consent,
                        customer_id=str(order.customer_id) if order.customer_id else None)


def order_token(secret_key: str, number: str) -> str:
    """A signed token that opens one order without its e-mail (links in e-mails, the chat)."""
    digest = hmac.new(hashlib.sha256(f"order-token:{secret_key}".encode()).digest(),
                      number.upper().encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")


def order_not_found(number: str) -> Problem:
    """The one answer for an unknown number, a wrong e-mail and a wrong token alike."""
    return Problem(404, "Not found", f"We found no order {number[:20]!r} for these details. "
                   "Check the order number and the e-mail address used to order.",
                   type="order-not-found")


async def order_for_shopper(session: AsyncSession, number: str, *, email: str | None = None,
                            token: str | None = None, secret_key: str,
                            for_update: bool = False) -> Order:
    """The order a shopper may see: the number plus its e-mail, or plus its signed token."""
    order = await order_by_number(session, number, for_update=for_update)
    if order is not None and email and same_secret(email.strip().lower(), order.email):
        return order
    if order is not None and token and same_secret(token.strip(),
                                                   order_token(secret_key, order.number)):
        return order
    raise order_not_found(number)
