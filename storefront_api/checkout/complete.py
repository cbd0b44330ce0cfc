"""Completing a paid checkout, and closing one that will not be paid.

``complete_checkout`` is the one place an order is born, in the caller's transaction (the
payment webhook's): the checkout is locked, and if it is already completed its order is
returned instead of a second one, so duplicate and concurrent deliveries of a payment are
harmless. Everything that must be true of a new order happens together or not at all:
stock taken, order and lines written, code use counted, cart closed, ``purchase`` recorded,
confirmation e-mail and chat notice put in the outbox.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..cart import service as carts
from ..catalog import inventory
from ..catalog.search import reindex_products
from ..catalog.models import Variant
from ..chat import notices
from ..events.service import EventContext
from ..faults import crash_point
from ..money import format_money
from ..orders import service as orders
from ..orders.models import Order
from ..outbox.service import enqueue_conversation_notice, enqueue_email
from ..pricing import service as pricing
from ..settings import Settings
from .models import Checkout

log = logging.getLogger("storefront_api.checkout")


@dataclass
class Completion:
    order: Order | None
    already_done: bool = False
    refund_needed: bool = False  # paid, but the stock went to someone else: refund it all
    outcome: str = ""


async def checkout_by_gateway_session(session: AsyncSession, gateway_session_id: str, *,
                                      for_update: bool = True) -> Checkout | None:
    query = select(Checkout).where(Checkout.gateway_session_id == gateway_session_id)
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


def _context(checkout: Checkout) -> EventContext:
    return EventContext(conversation_id=checkout.conversation_id, channel=checkout.channel,
                        consent=checkout.consent,
                        customer_id=str(checkout.customer_id) if checkout.customer_id else None)


def _quantities(checkout: Checkout) -> dict[int, int]:
    out: dict[int, int] = {}
    for line in checkout.summary["lines"]:
        out[line["variant_id"]] = out.get(line["variant_id"], 0) + line["quantity"]
    return out


async def complete_checkout(session: AsyncSession, checkout: Checkout, *,
                            payment_reference: str | None, settings: Settings) -> Completion:
    """The order of a paid checkout, created exactly once (the caller holds its row lock)."""
    if checkout.status == "completed":
        order = await orders.order_for_checkout(session, checkout.id)
        return Completion(order, already_done=True,
                          outcome=f"already completed: order {order.number if order else '?'}")
    quantities = _quantities(checkout)
    checkout.payment_reference = payment_reference
    if await carts.is_converted(session, checkout.cart_id):
        # A replaced checkout's old link was paid after another checkout of the same cart
        # became an order: one cart, one order; this payment goes back.
        return await _refund_instead(session, checkout, "this cart was already ordered",
                                     "cart_already_ordered",
                                     failure="paid after this cart was already ordered")
    try:
        await inventory.consume(session, checkout.id, quantities)
    except inventory.InsufficientStock as exc:
        return await _sold_out_while_paying(session, checkout, exc)
    checkout.status, checkout.failure_reason = "completed", None
    order = await orders.create_order(session, checkout=checkout, summary=checkout.summary,
                                      payment_reference=payment_reference,
                                      ctx=_context(checkout))
    await session.flush()
    crash_point("order-created")  # fault tests: die with the order written but not committed
    if checkout.promo_code_id:
        await pricing.mark_promo_used(session, checkout.promo_code_id)
    await carts.mark_converted(session, checkout.cart_id)
    await _close_siblings(session, checkout)
    await _reindex(session, quantities)
    from ..orders.emails import enqueue_confirmation
    await enqueue_confirmation(session, order, settings)
    if checkout.conversation_id:
        await enqueue_conversation_notice(
            session, conversation_id=checkout.conversation_id, intent=notices.PAYMENT_RECEIVED,
            entities={"order_number": order.number,
                      "order_total": format_money(order.total, order.currency),
                      "order_token": orders.order_token(settings.secret_key, order.number)})
    return Completion(order, outcome=f"order {order.number} created")


async def _reindex(session: AsyncSession, quantities: dict[int, int]) -> None:
    """Stock changed: the search projection must know (in-stock filters and facets)."""
    product_ids = (await session.execute(select(Variant.product_id).where(
        Variant.id.in_(list(quantities))))).scalars().all()
    await reindex_products(session, product_ids, text_changed=False)


async def _close_siblings(session: AsyncSession, checkout: Checkout) -> None:
    """Other open checkouts of the same cart will not become orders: give their stock back."""
    siblings = (await session.execute(select(Checkout).where(
        Checkout.cart_id == checkout.cart_id, Checkout.id != checkout.id,
        Checkout.status == "open"))).scalars()
    for sibling in siblings:
        await close_checkout(session, sibling, status="expired",
                             reason="another checkout of this cart was paid")


async def _sold_out_while_paying(session: AsyncSession, checkout: Checkout,
                                 exc: inventory.InsufficientStock) -> Completion:
    """The payment arrived after the hold expired and someone else bought the last units."""
    return await _refund_instead(
        session, checkout, f"{exc.variant.product_title} sold out while your payment was being "
        "processed, after your reservation had expired", "sold_out",
        failure=f"paid after {exc.variant.sku} sold out", sku=exc.variant.sku)


async def _refund_instead(session: AsyncSession, checkout: Checkout, why: str, reason: str, *,
                          failure: str, **entities) -> Completion:
    """No order for this payment: the caller refunds it all and the shopper is told why."""
    checkout.status = "failed"
    checkout.failure_reason = failure[:250]
    await inventory.release(session, checkout.id)
    await enqueue_email(
        session, to=checkout.email, tag=f"payment-refunded-{reason}",
        subject="We could not complete your order — your payment is being refunded",
        text=(f"Sorry: {why}. We are refunding the full "
              f"{format_money(checkout.total, checkout.currency)}; it reaches your account "
              "within a few days. Nothing else is needed from you."))
    if checkout.conversation_id:
        await enqueue_conversation_notice(
            session, conversation_id=checkout.conversation_id, intent=notices.PAYMENT_FAILED,
            entities={"reason": reason, **entities})
    return Completion(None, refund_needed=True, outcome=f"{failure}: full refund")


async def tell_payment_failed(session: AsyncSession, checkout: Checkout) -> None:
    """A payment that failed after the shopper left the gateway's page (a delayed method,
    e.g. a bank debit refused days later): the conversation it came from is told that nothing
    was charged and how to get a new link (no ``reason``: nothing to refund). Nothing else
    would ever tell the shopper."""
    if checkout.conversation_id:
        await enqueue_conversation_notice(
            session, conversation_id=checkout.conversation_id, intent=notices.PAYMENT_FAILED,
            entities={})


async def expire_quietly(gateway, session_id: str) -> None:
    """Close a payment session at the gateway; one that is already closed or paid there is
    fine (its webhook tells us what happened)."""
    from ..payments.gateway import GatewayError
    try:
        await gateway.expire_session(session_id)
    except GatewayError as exc:
        log.info("could not expire payment session %s: %s", session_id, exc)


async def close_checkout(session: AsyncSession, checkout: Checkout, *, status: str,
                         reason: str) -> bool:
    """Mark an unpaid checkout expired or failed and give its stock back. A completed
    checkout never moves backwards: then nothing changes and the answer is False."""
    if status not in ("expired", "failed"):
        raise ValueError(status)
    if checkout.status == "completed":
        return False
    if checkout.status == "open":
        checkout.status, checkout.failure_reason = status, reason[:250]
    await inventory.release(session, checkout.id)
    return True
