"""Stock, as the merchant sets it, and shoppers waiting for a sold-out variant.

A stock change re-indexes the product in the same transaction (search filters never disagree
with the catalog) and, when the variant can be bought, alerts everyone waiting for it
through the outbox. Subscribing and restocking both lock the variant, so no alert slips
between a subscription and a restock.
"""

from __future__ import annotations

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..catalog import inventory
from ..catalog.models import Product, Variant
from ..catalog.search import reindex_products
from ..catalog.service import refresh_product_summaries
from ..db import utcnow
from ..problems import Problem, conflict
from ..settings import Settings
from . import messages
from .models import BackInStockSubscription


def variant_not_found(variant_id: int) -> Problem:
    return Problem(404, "Not found", f"No product variant with id {variant_id}.",
                   type="variant-not-found")


async def set_stock(session: AsyncSession, variant_id: int, stock: int,
                    settings: Settings) -> tuple[inventory.VariantInfo, int]:
    """Set a variant's stock; when it can be bought, tell whoever waits for it. Returns the
    variant as it now is and how many subscribers were notified."""
    await inventory.lock_variants(session, [variant_id])
    if await inventory.variant_by_id(session, variant_id) is None:
        raise variant_not_found(variant_id)
    await session.execute(update(Variant).where(Variant.id == variant_id).values(stock=stock))
    variant = await inventory.variant_by_id(session, variant_id)
    await refresh_product_summaries(session, [variant.product_id])
    # In-stock filters and facets follow in this transaction; the text did not change.
    await reindex_products(session, [variant.product_id], text_changed=False)
    notified = await _notify_waiting(session, variant, settings) if variant.available else 0
    return variant, notified


async def _notify_waiting(session: AsyncSession, variant: inventory.VariantInfo,
                          settings: Settings) -> int:
    waiting = (await session.scalars(select(BackInStockSubscription).where(
        BackInStockSubscription.variant_id == variant.id,
        BackInStockSubscription.notified_at.is_(None)).order_by(BackInStockSubscription.id))).all()
    now = utcnow()
    for subscription in waiting:
        await messages.back_in_stock(session, variant, email=subscription.email,
                                     conversation_id=subscription.conversation_id,
                                     settings=settings)
        subscription.notified_at = now
    return len(waiting)


async def low_stock(session: AsyncSession, threshold: int, *, page: int,
                    page_size: int) -> tuple[list[inventory.VariantInfo], int]:
    """Variants of products on sale with at most ``threshold`` units, fewest first."""
    condition = and_(Variant.stock <= threshold, Product.status == "active")
    base = select(Variant.id).join(Product, Product.id == Variant.product_id).where(condition)
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    ids = (await session.scalars(base.order_by(Variant.stock, Variant.sku)
                                 .offset((page - 1) * page_size).limit(page_size))).all()
    found = await inventory.variants_by_ids(session, ids)
    return [found[i] for i in ids if i in found], int(total or 0)


async def subscribe(session: AsyncSession, variant_id: int, *, email: str | None,
                    conversation_id: str | None,
                    channel: str | None) -> tuple[BackInStockSubscription, bool]:
    """One subscription per variant and person, however often asked; (it, created)."""
    await inventory.lock_variants(session, [variant_id])
    variant = await inventory.variant_by_id(session, variant_id)
    if variant is None:
        raise variant_not_found(variant_id)
    if variant.available > 0:
        raise conflict(f"{variant.product_title} ({variant.title or variant.sku}) is available "
                       f"now ({variant.available} in stock); no need to wait for it.",
                       type="variant-available", available=variant.available, sku=variant.sku)
    same = (BackInStockSubscription.email.is_(None) if email is None
            else BackInStockSubscription.email == email,
            BackInStockSubscription.conversation_id.is_(None) if conversation_id is None
            else BackInStockSubscription.conversation_id == conversation_id)
    existing = await session.scalar(select(BackInStockSubscription).where(
        BackInStockSubscription.variant_id == variant_id, *same))
    if existing is not None:
        existing.notified_at = None  # sold out again since the last alert: alert again
        return existing, False
    subscription = BackInStockSubscription(variant_id=variant_id, email=email,
                                           conversation_id=conversation_id, channel=channel)
    session.add(subscription)
    await session.flush()
    return subscription, True
