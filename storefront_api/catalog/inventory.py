"""What other domains may know about a variant: what it is, what it costs, how many are left,
and the only way to hold or take stock.

Stock is held for a checkout while the shopper pays (``reserve``), given back when the
payment fails or expires (``release``) and taken when the order is created (``consume``).
What can be sold is the stock minus the units held by other shoppers' unexpired checkouts,
so two shoppers can never both pay for the last unit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from datetime import datetime

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import utcnow
from .models import Product, ProductImage, StockReservation, Variant


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
    reserved: int = 0  # units held by open checkouts

    @property
    def available(self) -> int:
        """How many can be bought now: stock not held by anyone's checkout."""
        return max(self.stock - self.reserved, 0) if self.for_sale else 0


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


def _active(now: datetime):
    return and_(StockReservation.status == "active", StockReservation.expires_at > now)


def _held(exclude_checkout: int | None, now: datetime):
    """Units of each variant held by unexpired checkouts (other than ``exclude_checkout``)."""
    condition = _active(now)
    if exclude_checkout is not None:
        condition = and_(condition, StockReservation.checkout_id != exclude_checkout)
    return (select(func.coalesce(func.sum(StockReservation.quantity), 0))
            .where(StockReservation.variant_id == Variant.id, condition)
            .correlate(Variant).scalar_subquery())


async def _variants_where(session: AsyncSession, condition, *,
                          exclude_checkout: int | None = None) -> list[VariantInfo]:
    rows = (await session.execute(
        select(*_COLUMNS, _held(exclude_checkout, utcnow()))
        .join(Product, Product.id == Variant.product_id).where(condition)
    )).all()
    images = await _first_images(session, {row[2] for row in rows})
    return [VariantInfo(id=r[0], sku=r[1], product_id=r[2], product_title=r[3], title=r[4],
                        size=r[5], color=r[6], price=r[7], compare_at_price=r[8],
                        currency=r[9], stock=r[10], image=images.get(r[2]),
                        for_sale=r[11] == "active", reserved=int(r[12] or 0))
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


class InsufficientStock(Exception):
    """A variant has fewer units available than asked for."""

    def __init__(self, variant: VariantInfo, wanted: int):
        super().__init__(f"{variant.sku}: {variant.available} available, {wanted} wanted")
        self.variant, self.wanted = variant, wanted


async def lock_variants(session: AsyncSession, ids: Iterable[int]) -> None:
    """Serialise stock changes on these variants until the transaction ends. PostgreSQL locks
    the rows, in id order so two checkouts cannot deadlock; SQLite's write transaction
    (BEGIN IMMEDIATE) already excludes every other writer."""
    wanted = sorted(set(ids))
    if wanted and session.bind.dialect.name != "sqlite":
        await session.execute(select(Variant.id).where(Variant.id.in_(wanted))
                              .order_by(Variant.id).with_for_update())


async def reserve(session: AsyncSession, checkout_id: int, quantities: dict[int, int],
                  expires_at: datetime) -> None:
    """Hold ``quantities`` (variant id -> units) for a checkout, all or nothing: raises
    InsufficientStock naming the first variant short of units. Re-reserving for the same
    checkout replaces its previous hold."""
    await lock_variants(session, quantities)
    found = {v.id: v for v in await _variants_where(
        session, Variant.id.in_(list(quantities)), exclude_checkout=checkout_id)}
    for variant_id, wanted in sorted(quantities.items()):
        variant = found.get(variant_id)
        if variant is None or variant.available < wanted:
            raise InsufficientStock(variant or _missing(variant_id), wanted)
    await release(session, checkout_id)
    session.add_all(StockReservation(checkout_id=checkout_id, variant_id=variant_id,
                                     quantity=wanted, expires_at=expires_at)
                    for variant_id, wanted in quantities.items())
    await session.flush()


def _missing(variant_id: int) -> VariantInfo:
    return VariantInfo(id=variant_id, sku=str(variant_id), product_id=0, product_title="",
                       title="", size=None, color=None, price=0, compare_at_price=None,
                       currency="", stock=0, image=None, for_sale=False)


async def release(session: AsyncSession, checkout_id: int) -> None:
    """Give back what a checkout holds (payment failed, expired, or replaced)."""
    await session.execute(update(StockReservation).where(
        StockReservation.checkout_id == checkout_id, StockReservation.status == "active",
    ).values(status="released"))


async def consume(session: AsyncSession, checkout_id: int,
                  quantities: dict[int, int]) -> None:
    """Take the units of a paid checkout out of stock. Its own hold counts as available even
    if it expired meanwhile, as long as nobody else took the units: otherwise
    InsufficientStock (the caller refunds)."""
    await lock_variants(session, quantities)
    found = {v.id: v for v in await _variants_where(
        session, Variant.id.in_(list(quantities)), exclude_checkout=checkout_id)}
    for variant_id, wanted in sorted(quantities.items()):
        variant = found.get(variant_id)
        if variant is None or variant.stock - variant.reserved < wanted:
            raise InsufficientStock(variant or _missing(variant_id), wanted)
    for variant_id, wanted in quantities.items():
        result = await session.execute(update(Variant).where(
            Variant.id == variant_id, Variant.stock >= wanted,
        ).values(stock=Variant.stock - wanted))
        if result.rowcount != 1:  # belt and braces: the CHECK constraint would refuse too
            raise InsufficientStock(found[variant_id], wanted)
    await session.execute(update(StockReservation).where(
        StockReservation.checkout_id == checkout_id, StockReservation.status == "active",
    ).values(status="consumed"))


async def release_expired(session: AsyncSession, now: datetime | None = None) -> int:
    """Mark holds past their expiry as released (they already stopped counting)."""
    result = await session.execute(update(StockReservation).where(
        StockReservation.status == "active", StockReservation.expires_at <= (now or utcnow()),
    ).values(status="released"))
    return result.rowcount


async def restock(session: AsyncSession, quantities: dict[int, int]) -> set[int]:
    """Put units back on the shelf (a cancelled order, a returned parcel); returns the ids of
    the products concerned, whose search entries (in stock or not) the caller re-indexes."""
    wanted = {variant_id: units for variant_id, units in quantities.items() if units > 0}
    if not wanted:
        return set()
    await lock_variants(session, wanted)
    for variant_id, units in sorted(wanted.items()):
        await session.execute(update(Variant).where(Variant.id == variant_id)
                              .values(stock=Variant.stock + units))
    return set((await session.scalars(
        select(Variant.product_id).where(Variant.id.in_(list(wanted))))).all())
