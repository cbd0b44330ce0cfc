"""What other domains may know about a variant: what it is, what it costs, how many are left.

Carts (and later checkout) go through these functions instead of querying catalog tables, so
that stock reservations can be added here without touching the cart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Product, ProductImage, Variant


@dataclass(frozen=True)
class VariantInfo:
    id: int
    sku: str
    product_id: int
    product_title: str
    title: str
    size: str | None
    color: str | None
    price: int  # minor units
    compare_at_price: int | None
    currency: str
    stock: int
    image: str | None
    for_sale: bool  # the product is active (not a draft, not archived)

    @property
    def available(self) -> int:
        """How many can be bought now (stock; reservations will be subtracted here)."""
        return self.stock if self.for_sale else 0


_COLUMNS = (Variant.id, Variant.sku, Variant.product_id, Product.title, Variant.title,
            Variant.size, Variant.color, Variant.price, Variant.compare_at_price,
            Variant.currency, Variant.stock, Product.status)


async def _first_images(session: AsyncSession, product_ids: set[int]) -> dict[int, str]:
    if not product_ids:
        return {}
    rows = await session.execute(
        select(ProductImage.product_id, ProductImage.url)
        .where(ProductImage.product_id.in_(product_ids))
        .order_by(ProductImage.product_id, ProductImage.position, ProductImage.id))
    images: dict[int, str] = {}
    for product_id, url in rows:
        images.setdefault(product_id, url)
    return images


async def _variants_where(session: AsyncSession, condition) -> list[VariantInfo]:
    rows = (await session.execute(
        select(*_COLUMNS).join(Product, Product.id == Variant.product_id).where(condition)
    )).all()
    images = await _first_images(session, {row[2] for row in rows})
    return [VariantInfo(id=r[0], sku=r[1], product_id=r[2], product_title=r[3], title=r[4],
                        size=r[5], color=r[6], price=r[7], compare_at_price=r[8],
                        currency=r[9], stock=r[10], image=images.get(r[2]),
                        for_sale=r[11] == "active")
            for r in rows]


async def variant_by_id(session: AsyncSession, variant_id: int) -> VariantInfo | None:
    found = await _variants_where(session, Variant.id == variant_id)
    return found[0] if found else None


async def variant_by_sku(session: AsyncSession, sku: str) -> VariantInfo | None:
    found = await _variants_where(session, Variant.sku == sku)
    return found[0] if found else None


async def variants_by_ids(session: AsyncSession, ids: Iterable[int]) -> dict[int, VariantInfo]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {info.id: info for info in await _variants_where(session, Variant.id.in_(wanted))}
