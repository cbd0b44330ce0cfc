"""Makes a paid order in the test shop's database, as checkout completion leaves it, in a
given status and with a given delivery date: the after-sales tests need orders delivered
long ago (return window closed), which no API call can produce.

Runs in the MAIN environment (.venv, with storefront_api), started by service_fixtures.py:
    python service_order_factory.py DATABASE_URL '{"status": "delivered", ...}'
and prints the order as JSON ({number, email, lines}). Not a test module (no test_ prefix).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import uuid
from datetime import timedelta

from sqlalchemy import select

import storefront_api.models  # noqa: F401  (every table, so the relationships resolve)

from storefront_api.cart.models import Cart
from storefront_api.catalog import inventory
from storefront_api.catalog.models import Variant
from storefront_api.checkout.models import Checkout
from storefront_api.db import Database, utcnow
from storefront_api.orders.models import Order, OrderLine, OrderStatusChange
from storefront_api.orders.service import new_order_number

STEPS_TO = {"awaiting_preparation": [], "being_prepared": ["being_prepared"],
            "shipped": ["being_prepared", "shipped"],
            "delivered": ["being_prepared", "shipped", "delivered"]}


async def variants_in_stock(session, count: int) -> list[Variant]:
    found = (await session.scalars(select(Variant).where(Variant.stock >= 10)
                                   .order_by(Variant.id.desc()).limit(count))).all()
    if len(found) < count:
        raise SystemExit("the test shop has too few variants in stock")
    return list(found)


def status_history(status: str, delivered_days_ago: float) -> list[OrderStatusChange]:
    now = utcnow()
    history = [OrderStatusChange(from_status=None, to_status="awaiting_preparation",
                                 note="payment received",
                                 at=now - timedelta(days=delivered_days_ago + 3))]
    previous = "awaiting_preparation"
    for step in STEPS_TO[status]:
        at = now - timedelta(days=delivered_days_ago) if step == "delivered" else now
        if step != "delivered" and status == "delivered":
            at = now - timedelta(days=delivered_days_ago + 1)
        history.append(OrderStatusChange(from_status=previous, to_status=step, at=at))
        previous = step
    return history


async def make_order(database_url: str, spec: dict) -> dict:
    db = Database(database_url)
    try:
        async with db.write() as session:
            variants = await variants_in_stock(session, int(spec.get("lines", 1)))
            quantity = int(spec.get("quantity", 2))
            lines = [{"variant_id": v.id, "sku": v.sku, "title": f"Test item {v.sku}",
                      "variant_title": v.title or "", "quantity": quantity,
                      "unit_price": v.price, "line_total": v.price * quantity}
                     for v in variants]
            total = sum(line["line_total"] for line in lines)
            email = spec.get("email") or f"shopper-{uuid.uuid4().hex[:8]}@example.com"
            cart = Cart(token=secrets.token_urlsafe(32), status="converted", currency="USD")
            session.add(cart)
            await session.flush()
            checkout = Checkout(
                token=secrets.token_urlsafe(24), cart_id=cart.id, status="completed",
                email=email, shipping_address={"name": "Test Shopper", "country": "US"},
                country="US", shipping_method="standard", summary={"lines": lines},
                currency="USD", total=total, gateway="test", payment_reference="pi_test_bot",
                expires_at=utcnow())
            session.add(checkout)
            await session.flush()
            await inventory.consume(session, checkout.id,
                                    {line["variant_id"]: line["quantity"] for line in lines})
            status = spec.get("status", "awaiting_preparation")
            order = Order(
                number=new_order_number(), checkout_id=checkout.id, cart_id=cart.id,
                email=email, status=status, currency="USD", subtotal=total, discount=0,
                shipping=0, tax=0, total=total, refunded=0, shipping_method="standard",
                shipping_address=checkout.shipping_address, payment_gateway="test",
                payment_reference="pi_test_bot", consent=True,
                conversation_id=spec.get("conversation_id"),
                lines=[OrderLine(**line) for line in lines],
                history=status_history(status, float(spec.get("delivered_days_ago", 1))))
            session.add(order)
            await session.flush()
            return {"number": order.number, "email": email, "total": total,
                    "lines": [{k: line[k] for k in ("sku", "title", "quantity")}
                              for line in lines]}
    finally:
        await db.dispose()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(make_order(sys.argv[1], json.loads(sys.argv[2])))))
