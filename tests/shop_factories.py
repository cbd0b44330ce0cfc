"""Shared test factories: a product of the test's own with exactly the stock it needs (the
shared demo shop's stock is left alone), a cart holding it, a checkout body."""

from __future__ import annotations

import uuid

from storefront_api.catalog.models import Product, Variant
from storefront_api.catalog.search import reindex_products


async def make_variant(db, *, stock: int, price: int = 2500) -> dict:
    """A new active product with one variant; returns the variant as a dict."""
    tag = uuid.uuid4().hex[:8]
    async with db.write() as session:
        product = Product(handle=f"test-tee-{tag}", title=f"Test Tee {tag}",
                          description="A plain tee for tests.", vendor="Aisle Test",
                          product_type="T-Shirt", tags="test", min_price=price, max_price=price,
                          in_stock=stock > 0, colors="|white|", sizes="|M|")
        session.add(product)
        await session.flush()
        variant = Variant(product_id=product.id, sku=f"TEST-{tag}-WHT-M", title="White / M",
                          size="M", color="White", price=price, stock=stock)
        session.add(variant)
        await session.flush()
        await reindex_products(session, [product.id])
        return {"id": variant.id, "sku": variant.sku, "product_id": product.id, "price": price}


ADDRESS = {"name": "Ada Lovelace", "line1": "12 Marylebone High St", "city": "London",
           "postal_code": "W1U 4PQ", "country": "GB"}
US_ADDRESS = {"name": "Grace Hopper", "line1": "1 Main St", "city": "Arlington",
              "region": "VA", "postal_code": "22201", "country": "US"}


async def cart_with(client, variant_id: int, quantity: int = 1, headers=None) -> str:
    cart = await (await client.post("/api/carts", json={}, headers=headers)).json()
    response = await client.post(f"/api/carts/{cart['token']}/items",
                                 json={"variant_id": variant_id, "quantity": quantity},
                                 headers=headers)
    assert response.status == 201, await response.text()
    return cart["token"]


def checkout_body(email: str = "ada@example.com", address=None, method: str = "standard",
                  **extra) -> dict:
    return {"email": email, "shipping_address": address or ADDRESS,
            "shipping_method": method, **extra}
