"""Orders made directly in the database, as checkout.complete would leave them, in any status.

The demo shop is shared by every test of a backend, so an order takes its units out of stock
as a paid checkout does: a cancellation or a return then puts back only what was taken, and
tests that compare stock before and after see the real movements.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import func, select

from storefront_api.cart.models import Cart
from storefront_api.catalog import inventory
from storefront_api.catalog.models import Product, Variant
from storefront_api.checkout.models import Checkout
from storefront_api.db import utcnow
from storefront_api.events.models import Event
from storefront_api.orders.models import Order, OrderLine, OrderStatusChange
from storefront_api.orders.service import new_order_number, order_token
from storefront_api.outbox.models import OutboxMessage
from storefront_api.payments.models import Refund

ADMIN = {"Authorization": "Bearer test-admin"}
PATH_TO = {  # the statuses an order passes through to reach each one
    "awaiting_preparation": [], "being_prepared": ["being_prepared"],
    "shipped": ["being_prepared", "shipped"],
    "delivered": ["being_prepared", "shipped", "delivered"],
}


async def make_order(db, items: list[tuple[dict, int]], *, status: str = "awaiting_preparation",
                     shipping: int = 0, tax: int = 0, discount: int = 0,
                     delivered_days_ago: float = 1, conversation_id: str | None = None,
                     payment_reference: str | None = "pi_test_x") -> dict[str, Any]:
    """An order of ``quantity`` units of each variant (dicts from cart_helpers.pick_variants)."""
    email = f"shopper-{uuid.uuid4().hex[:8]}@example.com"
    lines = [{"variant_id": v["id"], "sku": v["sku"], "title": f"Item {v['sku']}",
              "variant_title": "", "quantity": n, "unit_price": v["price"],
              "line_total": v["price"] * n} for v, n in items]
    subtotal = sum(line["line_total"] for line in lines)
    total = subtotal - discount + shipping + tax
    now = utcnow()
    async with db.write() as session:
        cart = Cart(token=secrets.token_urlsafe(32), status="converted", currency="USD")
        session.add(cart)
        await session.flush()
        checkout = Checkout(
            token=secrets.token_urlsafe(24), cart_id=cart.id, status="completed", email=email,
            shipping_address={"name": "Test Shopper", "country": "US"}, country="US",
            shipping_method="standard", summary={"lines": lines}, currency="USD", total=total,
            gateway="test", payment_reference=payment_reference, expires_at=now)
        session.add(checkout)
        await session.flush()
        await inventory.consume(session, checkout.id, {l["variant_id"]: l["quantity"]
                                                       for l in lines})
        history = [OrderStatusChange(from_status=None, to_status="awaiting_preparation",
                                     note="payment received", at=now - timedelta(days=40))]
        previous = "awaiting_preparation"
        for step in PATH_TO[status]:
            at = now - timedelta(days=delivered_days_ago) if step == "delivered" else now
            history.append(OrderStatusChange(from_status=previous, to_status=step, at=at))
            previous = step
        order = Order(
            number=new_order_number(), checkout_id=checkout.id, cart_id=cart.id, email=email,
            status=status, currency="USD", subtotal=subtotal, discount=discount,
            shipping=shipping, tax=tax, total=total, refunded=0, shipping_method="standard",
            shipping_address=checkout.shipping_address, payment_gateway="test",
            payment_reference=payment_reference, conversation_id=conversation_id,
            channel="web" if conversation_id else None, consent=True,
            lines=[OrderLine(**line) for line in lines], history=history)
        session.add(order)
        await session.flush()
        return {"id": order.id, "number": order.number, "email": email, "total": total,
                "lines": lines}


def token_for(settings, number: str) -> str:
    return order_token(settings.secret_key, number)


async def exchangeable_pair(db, min_stock: int = 3) -> tuple[dict, dict]:
    """Two variants of one active product at the same price, both with stock."""
    async with db.read() as session:
        rows = (await session.execute(
            select(Variant.id, Variant.sku, Variant.price, Variant.stock, Variant.currency,
                   Variant.product_id)
            .join(Product, Product.id == Variant.product_id)
            .where(Product.status == "active", Variant.stock >= min_stock)
            .order_by(Variant.product_id, Variant.price, Variant.id))).all()
    for first, second in pairwise(rows):
        if first.product_id == second.product_id and first.price == second.price:
            return first._asdict(), second._asdict()
    raise AssertionError("the demo shop has no product with two same-price variants in stock")


async def stock_of(db, variant_id: int) -> int:
    async with db.read() as session:
        return await session.scalar(select(Variant.stock).where(Variant.id == variant_id))


async def order_row(db, number: str) -> Order:
    async with db.read() as session:
        return await session.scalar(select(Order).where(Order.number == number))


async def refunds_of(db, order_id: int) -> list[Refund]:
    async with db.read() as session:
        return list((await session.scalars(
            select(Refund).where(Refund.order_id == order_id).order_by(Refund.id))).all())


async def events_of(db, number: str, name: str) -> list[Event]:
    async with db.read() as session:
        return list((await session.scalars(
            select(Event).where(Event.order_number == number, Event.name == name)
            .order_by(Event.ts))).all())


async def outbox_for(db, *, email: str | None = None,
                     conversation_id: str | None = None) -> list[dict]:
    """Payloads of the outbox messages addressed to an e-mail or a conversation."""
    async with db.read() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    return [m.payload | {"kind": m.kind} for m in rows
            if (email and m.payload.get("to") == email)
            or (conversation_id and m.payload.get("conversation_id") == conversation_id)]


async def count(db, model, **where) -> int:
    async with db.read() as session:
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return await session.scalar(query)
