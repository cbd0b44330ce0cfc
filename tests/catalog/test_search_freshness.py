"""The search follows the catalog: a server process notices stock and text changes made
elsewhere (another process, the merchant) within a second, without a restart."""

from __future__ import annotations

import uuid

from sqlalchemy import update

from storefront_api.catalog.models import Product, Variant
from storefront_api.catalog.search import reindex_products, snapshot


async def _ids(client, **params) -> set[int]:
    body = await (await client.get("/api/products", params={**params, "page_size": "100"})).json()
    return {item["id"] for item in body["items"]}


async def test_stock_and_title_changes_reach_the_search(client, db, monkeypatch):
    monkeypatch.setattr(snapshot, "CHECK_EVERY", 0.0)
    word = "zq" + uuid.uuid4().hex[:6]  # a word no other product has
    async with db.write() as session:
        product = Product(handle=f"fresh-{word}", title=f"Fresh {word} Tee", vendor="Aisle Test",
                          product_type="T-Shirt", min_price=1500, max_price=1500, in_stock=True,
                          colors="|white|", sizes="|M|")
        session.add(product)
        await session.flush()
        session.add(Variant(product_id=product.id, sku=f"FRESH-{word}", size="M",
                            color="White", price=1500, stock=3))
        await session.flush()
        await reindex_products(session, [product.id])
    assert await _ids(client, q=word, in_stock="true") == {product.id}

    async with db.write() as session:  # sold out: a stock change only
        await session.execute(update(Variant).where(Variant.product_id == product.id)
                              .values(stock=0))
        await reindex_products(session, [product.id], text_changed=False)
    assert await _ids(client, q=word, in_stock="true") == set()
    assert await _ids(client, q=word) == {product.id}

    renamed = "zr" + uuid.uuid4().hex[:6]
    async with db.write() as session:  # renamed: the text index and cached matches change
        await session.execute(update(Product).where(Product.id == product.id)
                              .values(title=f"Fresh {renamed} Tee"))
        await reindex_products(session, [product.id])
    assert await _ids(client, q=renamed) == {product.id}
    assert await _ids(client, q=word) == set()

    async with db.write() as session:  # archived: gone from the search
        await session.execute(update(Product).where(Product.id == product.id)
                              .values(status="archived"))
        await reindex_products(session, [product.id])
    assert await _ids(client, q=renamed) == set()
