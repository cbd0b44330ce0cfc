"""Helpers shared by the cart, pricing and customer tests (imported by their conftest.py).

The demo shop database is shared by every test of a backend, so these tests never change the
catalog: they pick variants by their current stock, create their own carts, and create promo
codes with unique names.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from storefront_api.cart.models import Cart, CartLine
from storefront_api.catalog.inventory import _held
from storefront_api.catalog.models import Product, Variant
from storefront_api.db import utcnow

ADMIN = {"Authorization": "Bearer test-admin"}


async def pick_variants(db, count: int = 1, *, min_stock: int = 1, max_stock: int = 10**6,
                        min_price: int = 0, max_price: int = 10**9) -> list[dict[str, Any]]:
    """Variants of active products with stock and price in range, at most one per product,
    that no open checkout holds: other tests of the session leave payment links unpaid, and
    a held unit cannot be added to a cart."""
    held = _held(None, utcnow())
    async with db.read() as session:
        rows = (await session.execute(
            select(Variant.id, Variant.sku, Variant.price, Variant.stock, Variant.currency,
                   Variant.product_id)
            .join(Product, Product.id == Variant.product_id)
            .where(Product.status == "active", Variant.stock >= min_stock,
                   Variant.stock <= max_stock, Variant.price >= min_price,
                   Variant.price <= max_price, held == 0)
            .order_by(Variant.id))).all()
    chosen, products = [], set()
    for row in rows:
        if row.product_id in products:
            continue
        products.add(row.product_id)
        chosen.append(dict(id=row.id, sku=row.sku, price=row.price, stock=row.stock,
                           currency=row.currency, product_id=row.product_id))
        if len(chosen) == count:
            return chosen
    raise AssertionError(f"the demo shop has fewer than {count} variants with stock "
                         f"{min_stock}-{max_stock} and price {min_price}-{max_price}")


async def pick_variant(db, **kw) -> dict[str, Any]:
    return (await pick_variants(db, 1, **kw))[0]


async def out_of_stock_variant(db) -> dict[str, Any]:
    return await pick_variant(db, min_stock=0, max_stock=0)


async def new_cart(client, headers: dict | None = None) -> dict[str, Any]:
    resp = await client.post("/api/carts", headers=headers or {})
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def add_item(client, token: str, *, expect: int = 201, headers: dict | None = None,
                   **body) -> dict[str, Any]:
    resp = await client.post(f"/api/carts/{token}/items", json=body, headers=headers or {})
    data = await resp.json()
    assert resp.status == expect, data
    return data


async def cart_with(client, db, items: list[tuple[dict, int]],
                    headers: dict | None = None) -> dict[str, Any]:
    """A new cart holding ``quantity`` of each variant."""
    cart = await new_cart(client, headers)
    for variant, quantity in items:
        cart = await add_item(client, cart["token"], variant_id=variant["id"], quantity=quantity,
                              headers=headers)
    return cart


async def get_cart(client, token: str, expect: int = 200) -> dict[str, Any]:
    resp = await client.get(f"/api/carts/{token}")
    data = await resp.json()
    assert resp.status == expect, data
    return data


async def cart_snapshot(db, token: str) -> tuple:
    """Everything stored about a cart, to assert that a refused request changed nothing."""
    async with db.read() as session:
        cart = (await session.execute(select(Cart).where(Cart.token == token))).scalar_one()
        lines = (await session.execute(
            select(CartLine.id, CartLine.variant_id, CartLine.quantity, CartLine.saved_for_later)
            .where(CartLine.cart_id == cart.id).order_by(CartLine.id))).all()
        return (cart.status, cart.promo_code_id, cart.country, cart.shipping_method,
                cart.customer_id, cart.updated_at, tuple(tuple(line) for line in lines))


async def cart_id(db, token: str) -> int:
    async with db.read() as session:
        return (await session.execute(select(Cart.id).where(Cart.token == token))).scalar_one()


def unique_code(prefix: str = "T") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}".upper()


async def make_promo(client, **fields) -> str:
    body = {"code": unique_code(), **fields}
    resp = await client.post("/api/admin/promo-codes", json=body, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    return body["code"]


async def apply_code(client, token: str, code: str, expect: int = 200) -> dict[str, Any]:
    resp = await client.put(f"/api/carts/{token}/promo-code", json={"code": code})
    data = await resp.json()
    assert resp.status == expect, data
    return data


def amount(money_object: dict) -> int:
    return money_object["amount"]


def assert_problem(resp_status: int, content_type: str, body: dict, status: int) -> None:
    assert resp_status == status, body
    assert content_type == "application/problem+json", content_type
    assert body["status"] == status and body["title"] and body["detail"], body
