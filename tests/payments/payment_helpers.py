"""Helpers for the payment tests: a checkout with its payment session, events, what is stored."""

from __future__ import annotations

import json
import secrets
import time
from datetime import timedelta
from typing import Any

from fake_stripe import sign_event
from shop_factories import ADDRESS, cart_with, checkout_body, make_variant  # noqa: F401
from sqlalchemy import func, select, update

from storefront_api.catalog import inventory
from storefront_api.catalog.models import StockReservation
from storefront_api.checkout.models import Checkout
from storefront_api.db import utcnow
from storefront_api.orders.models import Order
from storefront_api.payments.models import PaymentEvent, Refund
from storefront_api.payments.builtin.gateway import webhook_secret_for

WEBHOOK = "/api/payments/webhook"


async def open_checkout(client, db, *, stock: int = 5, price: int = 2500, quantity: int = 1,
                        variant: dict | None = None) -> dict[str, Any]:
    """A cart of ``quantity`` units of a fresh variant, checked out: the checkout document,
    plus ``variant`` and ``session_id`` (the gateway's id, the end of the payment link)."""
    variant = variant or await make_variant(db, stock=stock, price=price)
    token = await cart_with(client, variant["id"], quantity)
    response = await client.post(f"/api/carts/{token}/checkout", json=checkout_body())
    assert response.status == 201, await response.text()
    doc = await response.json()
    return {**doc, "variant": variant, "cart_token": token,
            "session_id": doc["payment_url"].rsplit("/", 1)[1]}


def session_event(checkout: dict, type: str = "checkout.session.completed",
                  **changes: Any) -> dict[str, Any]:
    """The event a gateway sends about a checkout's session (paid, by default)."""
    total = checkout["totals"]["total"]
    return {
        "id": "evt_test_" + secrets.token_hex(10), "object": "event", "type": type,
        "created": int(time.time()), "livemode": False,
        "data": {"object": {
            "id": checkout["session_id"], "object": "checkout.session",
            "payment_status": "paid", "status": "complete",
            "payment_intent": "pi_test_" + checkout["session_id"][-16:],
            "amount_total": total["amount"], "currency": total["currency"].lower(),
            "customer_details": {"email": checkout["email"]}, "metadata": {}, **changes}},
    }


async def deliver(client, event: dict | bytes, secret: str, *, timestamp: int | None = None,
                  headers: dict | None = None):
    payload = event if isinstance(event, bytes) else json.dumps(event).encode()
    sent = {"Content-Type": "application/json",
            "Stripe-Signature": sign_event(payload, secret, timestamp=timestamp)}
    return await client.post(WEBHOOK, data=payload, headers={**sent, **(headers or {})})


def webhook_secret(client) -> str:
    """The secret the test gateway signs with (derived from SECRET_KEY in these tests)."""
    from storefront_api.app_keys import SETTINGS
    return webhook_secret_for(client.app[SETTINGS])


async def checkout_row(db, token: str) -> Checkout:
    async with db.read() as session:
        return await session.scalar(select(Checkout).where(Checkout.token == token))


async def orders_of(db, token: str) -> list[Order]:
    async with db.read() as session:
        return list((await session.scalars(select(Order).join(
            Checkout, Checkout.id == Order.checkout_id).where(Checkout.token == token))).all())


async def event_row(db, event_id: str) -> PaymentEvent | None:
    async with db.read() as session:
        return await session.get(PaymentEvent, event_id)


async def count_events(db, *ids: str) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(PaymentEvent)
                                    .where(PaymentEvent.id.in_(ids)))


async def refunds_of(db, token: str) -> list[Refund]:
    async with db.read() as session:
        return list((await session.scalars(select(Refund).join(
            Checkout, Checkout.id == Refund.checkout_id).where(Checkout.token == token))).all())


async def stock_of(db, variant_id: int) -> tuple[int, int]:
    """(stock, available) of a variant."""
    async with db.read() as session:
        info = await inventory.variant_by_id(session, variant_id)
    return info.stock, info.available


async def expire_hold(db, token: str) -> None:
    """The shopper took longer than the hold: it lapses (the link is still payable)."""
    past = utcnow() - timedelta(minutes=1)
    async with db.write() as session:
        checkout_id = (await checkout_row(db, token)).id
        await session.execute(update(Checkout).where(Checkout.id == checkout_id)
                              .values(expires_at=past))
        await session.execute(update(StockReservation).where(
            StockReservation.checkout_id == checkout_id).values(expires_at=past))
