"""Orders made directly in the database through orders.service.create_order, as a paid
checkout leaves them, so these tests do not depend on checkout and payments.

(Named order_factories, not factories: tests/checkout and tests/aftersales each have a
``factories`` module and a test run imports a module name only once.)

Each order is for a product of the test's own, so the shared demo shop's stock and search
results are left alone.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from storefront_api.cart.models import Cart
from storefront_api.catalog import inventory
from storefront_api.catalog.models import Product, Variant
from storefront_api.catalog.search import reindex_products
from storefront_api.checkout.models import Checkout
from storefront_api.db import utcnow
from storefront_api.events.models import Event
from storefront_api.events.service import EventContext
from storefront_api.orders import service as orders
from storefront_api.outbox.models import OutboxMessage

ADMIN = {"Authorization": "Bearer test-admin"}
ADDRESS = {"name": "Grace Hopper", "line1": "1 Main St", "line2": "Apt 4", "city": "Arlington",
           "region": "VA", "postal_code": "22201", "country": "US", "phone": ""}


async def make_variant(db, *, stock: int, price: int = 2500, title: str = "Navy / M") -> dict:
    """A new active product with one variant and exactly ``stock`` units."""
    tag = uuid.uuid4().hex[:8]
    async with db.write() as session:
        product = Product(handle=f"order-test-{tag}", title=f"Harbour Hoodie zq{tag}",
                          description="A hoodie for order tests.", vendor="Aisle Test",
                          product_type="Hoodie", tags="test", min_price=price, max_price=price,
                          in_stock=stock > 0, colors="|navy|", sizes="|M|")
        session.add(product)
        await session.flush()
        variant = Variant(product_id=product.id, sku=f"OT-{tag}-NVY-M".upper(), title=title,
                          size="M", color="Navy", price=price, stock=stock)
        session.add(variant)
        await session.flush()
        await reindex_products(session, [product.id])
        return {"id": variant.id, "sku": variant.sku, "product_id": product.id, "price": price,
                "title": title, "product_title": product.title, "word": f"zq{tag}"}


async def make_order(db, *, quantity: int = 2, conversation_id: str | None = None,
                     email: str | None = None, shipping: int = 599, tax: int = 0,
                     variant: dict | None = None) -> dict[str, Any]:
    """A paid order of ``quantity`` units of a fresh variant, awaiting preparation."""
    variant = variant or await make_variant(db, stock=quantity + 3)
    email = email or f"shopper-{uuid.uuid4().hex[:8]}@example.com"
    line = {"variant_id": variant["id"], "sku": variant["sku"], "title": variant["product_title"],
            "variant_title": variant["title"], "quantity": quantity,
            "unit_price": variant["price"], "line_total": variant["price"] * quantity}
    subtotal = line["line_total"]
    summary = {"lines": [line], "currency": "USD", "subtotal": subtotal, "discount": 0,
               "shipping": shipping, "tax": tax, "total": subtotal + shipping + tax,
               "promo_code": None, "shipping_method": "standard",
               "shipping_name": "Standard delivery"}
    async with db.write() as session:
        cart = Cart(token=secrets.token_urlsafe(32), status="converted", currency="USD",
                    conversation_id=conversation_id)
        session.add(cart)
        await session.flush()
        checkout = Checkout(
            token=secrets.token_urlsafe(24), cart_id=cart.id, status="completed", email=email,
            shipping_address=ADDRESS, country="US", shipping_method="standard", summary=summary,
            currency="USD", total=summary["total"], gateway="test",
            conversation_id=conversation_id, channel="web" if conversation_id else None,
            consent=True, expires_at=utcnow() + timedelta(minutes=30))
        session.add(checkout)
        await session.flush()
        await inventory.consume(session, checkout.id, {variant["id"]: quantity})
        order = await orders.create_order(
            session, checkout=checkout, summary=summary, payment_reference="pi_test_orders",
            ctx=EventContext(conversation_id=conversation_id, consent=True))
        return {"id": order.id, "number": order.number, "email": email,
                "total": order.total, "variant": variant, "conversation_id": conversation_id}


async def outbox_messages(db, *, to: str | None = None,
                          conversation_id: str | None = None) -> list[OutboxMessage]:
    """The outbox messages for an e-mail address or a conversation, oldest first."""
    async with db.read() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    return [m for m in rows
            if (to and m.payload.get("to") == to)
            or (conversation_id and m.payload.get("conversation_id") == conversation_id)]


async def status_events(db, number: str) -> list[Event]:
    async with db.read() as session:
        return list((await session.scalars(
            select(Event).where(Event.order_number == number,
                                Event.name == "order_status_changed")
            .order_by(Event.ts))).all())


async def get_json(client, path: str, *, expect: int = 200, **kw) -> dict:
    resp = await client.get(path, **kw)
    data = await resp.json()
    assert resp.status == expect, data
    return data


async def post_json(client, path: str, body: Any = None, *, expect: int = 200,
                    headers: dict | None = None) -> dict:
    resp = await client.post(path, json=body if body is not None else {},
                             headers=headers or ADMIN)
    data = await resp.json()
    assert resp.status == expect, data
    return data
