"""The demo catalog: deterministic, internally consistent, realistic enough to demo with."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest
from sqlalchemy import func, select

from storefront_api.catalog.demo_catalog import (CatalogGenerator, NextIds, category_rows,
                                                 seed_catalog)
from storefront_api.catalog.models import (Category, Product, ProductAttribute, ProductImage,
                                           SearchTerm, Variant)
from storefront_api.pricing.demo_pricing import seed_pricing
from storefront_api.pricing.models import PromoCode, ShippingRate, ShippingZoneCountry, TaxRate

N = 300


async def _rows(db, model) -> list[tuple]:
    table = model.__table__
    async with db.read() as session:
        result = await session.execute(select(table).order_by(*table.primary_key.columns))
        return [tuple(row) for row in result]


async def _catalog(db) -> dict[str, list[tuple]]:
    return {model.__tablename__: await _rows(db, model)
            for model in (Category, Product, Variant, ProductImage, ProductAttribute)}


async def test_same_seed_gives_the_same_catalog(empty_db):
    await seed_catalog(empty_db, N, seed=42)
    first = await _catalog(empty_db)
    await seed_catalog(empty_db, N, seed=42, reset=True)
    assert await _catalog(empty_db) == first
    await seed_catalog(empty_db, N, seed=43, reset=True)
    other = await _catalog(empty_db)
    assert other["products"] != first["products"]
    assert other["categories"] == first["categories"]


def test_batch_size_does_not_change_the_rows():
    categories = {row.slug: row.id for row in category_rows()}

    def generate(batch_size):
        batches = list(CatalogGenerator(7, "USD", categories).batches(50, NextIds(), batch_size))
        return ([row for batch in batches for row in batch.products],
                [row for batch in batches for row in batch.variants])

    assert generate(7) == generate(5000)


async def test_counts_match_the_tables(empty_db):
    counts = await seed_catalog(empty_db, N, seed=42)
    async with empty_db.read() as session:
        for key, model in (("categories", Category), ("products", Product),
                           ("variants", Variant), ("images", ProductImage),
                           ("attributes", ProductAttribute)):
            assert counts[key] == await session.scalar(select(func.count()).select_from(model))
        images_per_product = (await session.execute(
            select(func.count()).select_from(ProductImage).group_by(ProductImage.product_id)
        )).scalars().all()
        assert await session.scalar(select(func.count()).select_from(SearchTerm)) > 0
    assert counts["products"] == N
    assert 3 * N <= counts["variants"] <= 9 * N
    assert len(images_per_product) == N and set(images_per_product) <= {1, 2, 3}
    assert counts["categories"] == len(category_rows())


async def test_product_summaries_agree_with_variants(empty_db):
    await seed_catalog(empty_db, N, seed=42)
    variants = defaultdict(list)
    for row in await _rows(empty_db, Variant):
        variants[row[1]].append(row)
    async with empty_db.read() as session:
        products = (await session.execute(select(Product))).scalars().all()
    for product in products:
        rows = sorted(variants[product.id], key=lambda v: v[10])  # by position
        prices = [v[6] for v in rows]
        assert (product.min_price, product.max_price) == (min(prices), max(prices))
        assert product.in_stock == any(v[9] > 0 for v in rows)
        colors = list(dict.fromkeys(v[5].lower() for v in rows))
        sizes = list(dict.fromkeys(v[4] for v in rows if v[4]))
        assert product.colors == "|" + "|".join(colors) + "|"
        assert product.sizes == ("|" + "|".join(sizes) + "|" if sizes else "")
        assert product.currency == "USD" and all(v[8] == "USD" for v in rows)


async def test_stock_prices_and_skus_look_like_a_real_shop(empty_db):
    await seed_catalog(empty_db, N, seed=42)
    variants = await _rows(empty_db, Variant)
    async with empty_db.read() as session:
        products = (await session.execute(select(Product))).scalars().all()
    out_of_stock = [v for v in variants if v[9] == 0]
    assert 0.04 < len(out_of_stock) / len(variants) < 0.15
    assert any(not p.in_stock for p in products)
    assert all(0 <= v[9] <= 250 for v in variants)
    skus = [v[2] for v in variants]
    assert len(set(skus)) == len(skus)
    assert all(re.fullmatch(r"[A-Z]{3,4}-\d{6}-[A-Z]{3}(-[A-Z0-9]+)?", sku) for sku in skus)
    assert {v[6] % 100 for v in variants} <= {99, 0, 50}
    on_sale = {v[1] for v in variants if v[7] is not None}
    assert all(v[7] > v[6] for v in variants if v[7] is not None)
    assert 0.1 < len(on_sale) / N < 0.3
    assert all(1.0 <= p.rating <= 5.0 and p.rating_count >= 0 for p in products)
    assert len({p.handle for p in products}) == N
    assert len({p.vendor for p in products}) > 15


async def test_category_tree_paths_are_consistent(empty_db):
    await seed_catalog(empty_db, N, seed=42)
    categories = {row[0]: row for row in await _rows(empty_db, Category)}
    for _, parent_id, slug, name, path, _ in categories.values():
        if parent_id is None:
            assert path == slug and "/" not in path
        else:
            parent_path = categories[parent_id][4]
            assert path.startswith(parent_path + "/") and path.count("/") == parent_path.count(
                "/") + 1
            assert slug.startswith(path.split("/")[0] + "-")
    assert len({row[2] for row in categories.values()}) == len(categories)
    parents = {row[1] for row in categories.values()}
    async with empty_db.read() as session:
        used = set((await session.execute(select(Product.category_id))).scalars())
    assert used and not used & parents  # products sit in leaf categories
    leaves = set(categories) - parents
    assert used == leaves  # even a small shop has something in every category
    assert {"women-hoodies", "shoes-running", "home-bedding"} <= {
        row[2] for row in categories.values()}


async def test_refuses_a_catalog_that_has_products(empty_db):
    await seed_catalog(empty_db, 20, seed=1)
    with pytest.raises(ValueError, match="--reset"):
        await seed_catalog(empty_db, 20, seed=1)


async def test_later_inserts_get_fresh_ids(empty_db):
    """Ids were assigned by the seed; the database's own sequence must continue after them."""
    await seed_catalog(empty_db, 20, seed=1)
    async with empty_db.write() as session:
        product = Product(handle="added-later", title="Added later", category_id=1)
        session.add(product)
        await session.flush()
        session.add(Variant(product_id=product.id, sku="ADDED-1", price=100))
        await session.flush()
        assert product.id > 20


async def test_seed_pricing_is_idempotent(empty_db):
    await seed_pricing(empty_db)
    await seed_pricing(empty_db)
    async with empty_db.read() as session:
        codes = set((await session.execute(select(PromoCode.code))).scalars())
        rates = (await session.execute(select(ShippingRate))).scalars().all()
        countries = set((await session.execute(select(ShippingZoneCountry.country))).scalars())
        taxes = {t.country: t for t in (await session.execute(select(TaxRate))).scalars()}
    assert codes == {"WELCOME10", "SAVE20", "TENOFF", "FREESHIP", "EXPIRED5", "LIMITED1"}
    assert len(rates) == 12 and {r.method for r in rates} == {"standard", "express", "pickup"}
    assert {"US", "CA", "MX", "GB", "DE", "AU", "JP"} <= countries and "BR" not in countries
    assert taxes["GB"].rate_bp == 2000 and taxes["GB"].name == "VAT"
    assert taxes["US"].name == "Sales tax" and taxes["AU"].name == "GST"
