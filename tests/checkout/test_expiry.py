"""Unpaid checkouts expire: their stock is sold again and their link stops working."""

from __future__ import annotations

from datetime import timedelta

from shop_factories import cart_with, checkout_body, make_variant
from sqlalchemy import select, update

from storefront_api.catalog import inventory
from storefront_api.catalog.models import StockReservation
from storefront_api.checkout.models import Checkout
from storefront_api.checkout.sweeper import expire_overdue
from storefront_api.db import utcnow
from storefront_api.payments.gateways import gateway_for


async def test_expired_checkouts_give_their_stock_back(client, db, settings):
    variant = await make_variant(db, stock=1)
    token = await cart_with(client, variant["id"])
    checkout = await (await client.post(f"/api/carts/{token}/checkout",
                                        json=checkout_body())).json()
    async with db.read() as session:
        assert (await inventory.variant_by_id(session, variant["id"])).available == 0
    past = utcnow() - timedelta(seconds=1)
    async with db.write() as session:  # time passes: the link and its hold run out together
        checkout_id = await session.scalar(select(Checkout.id).where(
            Checkout.token == checkout["token"]))
        await session.execute(update(Checkout).where(Checkout.id == checkout_id)
                              .values(expires_at=past))
        await session.execute(update(StockReservation).where(
            StockReservation.checkout_id == checkout_id).values(expires_at=past))
    async with db.read() as session:  # an expired hold stops counting at once
        assert (await inventory.variant_by_id(session, variant["id"])).available == 1
    assert await expire_overdue(db, gateway_for(settings)) >= 1
    state = await (await client.get(f"/api/checkouts/{checkout['token']}")).json()
    assert state["status"] == "expired" and state["payment_url"] is None
    again = await client.post(f"/api/carts/{token}/checkout", json=checkout_body())
    assert again.status == 201  # a new link on request
    assert (await again.json())["token"] != checkout["token"]
