"""Catalog reads: product pages, similar products, the category tree; denormalised summaries."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import case, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from .models import Product, Variant
from .search import CategoryTree, catalog_cache

LOW_STOCK = 5


def availability(stock: int) -> str:
    if stock <= 0:
        return "out_of_stock"
    return "low_stock" if stock <= LOW_STOCK else "in_stock"


def split_list(packed: str) -> list[str]:
    """'|black|navy|' -> ['black', 'navy']"""
    return [part for part in packed.split("|") if part]


async def get_product(session: AsyncSession, product_id: int) -> Product | None:
    return await session.scalar(
        select(Product).where(Product.id == product_id, Product.status == "active").options(
            selectinload(Product.variants), selectinload(Product.images),
            selectinload(Product.attributes)))


async def category_tree(session: AsyncSession) -> CategoryTree:
    return (await catalog_cache(session)).categories


def breadcrumb(tree: CategoryTree, category_id: int | None) -> list[dict[str, Any]]:
    trail = []
    while category_id is not None and category_id in tree.by_id:
        trail.append(tree.public(category_id))
        category_id = tree.by_id[category_id]["parent_id"]
    return trail[::-1]


async def similar_products(session: AsyncSession, product: Product, limit: int = 8) -> list[dict]:
    """Same category, close in price, sharing a colour first; in stock before out of stock."""
    colors = split_list(product.colors)
    shares_color = " OR ".join(f"p.colors LIKE :c{i}" for i in range(len(colors))) or "0 = 1"
    sql = text(
        "SELECT p.id, p.handle, p.title, p.vendor, p.category_id, p.currency, p.min_price,"
        " p.max_price, p.in_stock, p.colors, p.sizes, p.rating, p.rating_count,"
        " (SELECT i.url FROM product_images i WHERE i.product_id = p.id"
        "  ORDER BY i.position LIMIT 1) AS image"
        " FROM products p WHERE p.category_id = :category AND p.id <> :id"
        " AND p.status = 'active' AND p.min_price BETWEEN :low AND :high"
        f" ORDER BY p.in_stock DESC, CASE WHEN ({shares_color}) THEN 0 ELSE 1 END,"
        " abs(p.min_price - :price), p.rating DESC, p.id LIMIT :limit")
    params = {"category": product.category_id, "id": product.id, "price": product.min_price,
              "low": int(product.min_price * 0.6), "high": int(product.min_price * 1.4) + 1,
              "limit": limit, **{f"c{i}": f"%|{c}|%" for i, c in enumerate(colors)}}
    return [dict(r._mapping) for r in await session.execute(sql, params)]


async def refresh_product_summaries(session: AsyncSession,
                                    product_ids: Iterable[int] | None = None) -> None:
    """Recompute min/max price, stock flag, colours and sizes of products from their variants."""
    v = Variant
    per_product = (
        select(v.product_id, func.min(v.price).label("lo"), func.max(v.price).label("hi"),
               func.max(case((v.stock > 0, 1), else_=0)).label("stocked"))
        .group_by(v.product_id))
    if product_ids is not None:
        per_product = per_product.where(v.product_id.in_(list(product_ids)))
    rows = (await session.execute(per_product)).all()
    values = {r.product_id: r for r in rows}
    lists = (select(v.product_id, v.color, v.size).where(v.product_id.in_(list(values)))
             .order_by(v.product_id, v.position, v.id))
    colors: dict[int, list[str]] = {}
    sizes: dict[int, list[str]] = {}
    for pid, color, size in (await session.execute(lists)).all():
        if color and color.lower() not in colors.setdefault(pid, []):
            colors[pid].append(color.lower())
        if size and size not in sizes.setdefault(pid, []):
            sizes[pid].append(size)
    for pid, r in values.items():
        await session.execute(update(Product).where(Product.id == pid).values(
            min_price=r.lo, max_price=r.hi, in_stock=bool(r.stocked),
            colors=_pack(colors.get(pid, [])), sizes=_pack(sizes.get(pid, []))))


def _pack(values: list[str]) -> str:
    return "|" + "|".join(values) + "|" if values else ""
