"""POST /api/carts/{token}/checkout: validation, the summary, the payment link, stock holds.
(The summary without a hold, and the per-client cap on holds: test_stock_holds.py.)"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from shop_factories import ADDRESS, US_ADDRESS, cart_with, checkout_body, make_variant
from sqlalchemy import func, select

from storefront_api.app import create_app
from storefront_api.catalog import inventory
from storefront_api.catalog.models import StockReservation, Variant
from storefront_api.orders.models import OrderLine


async def available(db, variant_id: int) -> int:
    async with db.read() as session:
        return (await inventory.variant_by_id(session, variant_id)).available


async def test_checkout_returns_summary_and_payment_link(client, db):
    variant = await make_variant(db, stock=10, price=4000)
    token = await cart_with(client, variant["id"], 2)
    response = await client.post(f"/api/carts/{token}/checkout", json=checkout_body())
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["status"] == "open" and body["payment_url"]
    assert body["lines"][0]["sku"] == variant["sku"] and body["lines"][0]["quantity"] == 2
    totals = {k: v["amount"] for k, v in body["totals"].items()}
    assert totals["subtotal"] == 8000
    assert totals["tax"] == round((8000 - totals["discount"] + totals["shipping"]) * 0.20)
    assert totals["total"] == totals["subtotal"] - totals["discount"] + totals["shipping"] \
        + totals["tax"]
    cart = await (await client.get(f"/api/carts/{token}")).json()
    assert cart["totals"]["total"]["amount"] == totals["total"]  # the same arithmetic
    assert await available(db, variant["id"]) == 8  # two units held while the shopper pays


async def test_asking_again_returns_the_same_link(client, db):
    variant = await make_variant(db, stock=3)
    token = await cart_with(client, variant["id"])
    first = await (await client.post(f"/api/carts/{token}/checkout", json=checkout_body())).json()
    second = await (await client.post(f"/api/carts/{token}/checkout", json=checkout_body())).json()
    assert first["token"] == second["token"] and first["payment_url"] == second["payment_url"]
    assert await available(db, variant["id"]) == 2


async def test_changed_details_replace_the_previous_checkout(client, db):
    variant = await make_variant(db, stock=3)
    token = await cart_with(client, variant["id"])
    first = await (await client.post(f"/api/carts/{token}/checkout", json=checkout_body())).json()
    second = await (await client.post(f"/api/carts/{token}/checkout",
                                      json=checkout_body(method="express"))).json()
    assert first["token"] != second["token"]
    old = await (await client.get(f"/api/checkouts/{first['token']}")).json()
    assert old["status"] == "expired" and old["payment_url"] is None
    assert await available(db, variant["id"]) == 2  # one hold, not two


async def test_promo_code_and_us_address(client, db):
    variant = await make_variant(db, stock=5, price=6000)
    token = await cart_with(client, variant["id"])
    body = await (await client.post(f"/api/carts/{token}/checkout", json=checkout_body(
        address=US_ADDRESS, promo_code="welcome10"))).json()
    assert body["promo_code"] == "WELCOME10"
    assert body["totals"]["discount"]["amount"] == 600
    assert body["tax_rate_bp"] == 0  # US default: no sales tax configured


@pytest.mark.parametrize("change,field", [
    ({"postal_code": "ABC"}, "postal_code"),
    ({"country": "US", "postal_code": "22201"}, "region"),
    ({"country": "US", "postal_code": "22201", "region": "ZZ"}, "region"),
    ({"name": ""}, "name"), ({"line1": "x" * 500}, "line1"), ({"city": "<script>"}, "city"),
])
async def test_address_is_checked_for_its_country(client, db, change, field):
    variant = await make_variant(db, stock=2)
    token = await cart_with(client, variant["id"])
    response = await client.post(f"/api/carts/{token}/checkout",
                                 json=checkout_body(address={**ADDRESS, **change}))
    assert response.status == 422
    assert field in (await response.json())["detail"]
    assert await available(db, variant["id"]) == 2  # nothing held


async def test_country_not_served_and_method_not_offered(client, db):
    variant = await make_variant(db, stock=2)
    token = await cart_with(client, variant["id"])
    brazil = {**ADDRESS, "country": "BR", "postal_code": "01000-000"}
    response = await client.post(f"/api/carts/{token}/checkout",
                                 json=checkout_body(address=brazil))
    assert response.status == 422 and "BR" in (await response.json())["detail"]
    australia = {**ADDRESS, "country": "AU", "region": "NSW", "postal_code": "2000"}
    response = await client.post(f"/api/carts/{token}/checkout",
                                 json=checkout_body(address=australia, method="pickup"))
    assert response.status == 422


async def test_empty_cart_and_unknown_cart(client):
    cart = await (await client.post("/api/carts", json={})).json()
    response = await client.post(f"/api/carts/{cart['token']}/checkout", json=checkout_body())
    assert response.status == 422 and (await response.json())["type"].endswith("cart-empty")
    response = await client.post("/api/carts/" + "x" * 43 + "/checkout", json=checkout_body())
    assert response.status == 404


@pytest.mark.parametrize("payload", [
    b"{not json", b"[]", b'{"email": 5}', b'{"email": "ada@example.com"}',
    b'{"email": "not-an-email", "shipping_address": {}, "shipping_method": "standard"}',
])
async def test_bad_bodies_are_problems_and_hold_nothing(client, db, payload):
    variant = await make_variant(db, stock=2)
    token = await cart_with(client, variant["id"])
    response = await client.post(f"/api/carts/{token}/checkout", data=payload,
                                 headers={"Content-Type": "application/json"})
    assert response.status in (400, 422)
    assert response.content_type == "application/problem+json"
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(StockReservation).where(
            StockReservation.variant_id == variant["id"])) == 0


async def test_cart_asking_for_more_than_left_is_409(client, db):
    variant = await make_variant(db, stock=2)
    token = await cart_with(client, variant["id"], 2)
    other = await cart_with(client, variant["id"], 1)
    ok = await client.post(f"/api/carts/{other}/checkout", json=checkout_body())
    assert ok.status == 201
    response = await client.post(f"/api/carts/{token}/checkout", json=checkout_body())
    assert response.status == 409
    body = await response.json()
    assert body["lines"][0]["available"] == 1 and body["lines"][0]["requested"] == 2


async def test_fifty_shoppers_racing_for_five_units_make_exactly_five_orders(
        aiohttp_client, settings, db):
    # fifty shoppers, fifty addresses (behind the shop's proxy): each has its own limits
    client = await aiohttp_client(create_app(replace(settings, trust_proxy=True),
                                             migrate=False))
    shoppers = [{"X-Forwarded-For": f"198.51.100.{i + 1}"} for i in range(50)]
    variant = await make_variant(db, stock=5)
    carts = [await cart_with(client, variant["id"], headers=shopper) for shopper in shoppers]
    responses = await asyncio.gather(*(
        client.post(f"/api/carts/{token}/checkout", json=checkout_body(email=f"s{i}@example.com"),
                    headers=shoppers[i])
        for i, token in enumerate(carts)))
    statuses = [r.status for r in responses]
    assert statuses.count(201) == 5 and statuses.count(409) == 45
    refused = [await r.json() for r in responses if r.status == 409]
    assert all("left" in body["detail"] for body in refused)  # told clearly
    assert await available(db, variant["id"]) == 0
    async with db.read() as session:
        held = await session.scalar(select(func.sum(StockReservation.quantity)).where(
            StockReservation.variant_id == variant["id"], StockReservation.status == "active"))
    assert held == 5
    paid = [await r.json() for r in responses if r.status == 201]
    pages = await asyncio.gather(*(client.post(
        "/pay/" + checkout["payment_url"].rsplit("/", 1)[1],
        data={"number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123",
              "name": "Racer"}) for checkout in paid))
    assert all(page.status == 200 for page in pages)
    async with db.read() as session:
        orders = await session.scalar(select(func.count()).select_from(OrderLine).where(
            OrderLine.variant_id == variant["id"]))
        stock = await session.scalar(select(Variant.stock).where(Variant.id == variant["id"]))
    assert (orders, stock) == (5, 0)  # never negative: the column refuses it anyway
