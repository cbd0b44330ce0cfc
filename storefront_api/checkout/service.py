"""Checking out: a summary to confirm, then the payment link that holds the stock.

The summary (``preview_checkout``) sets the cart's destination, method and code, prices the
cart and checks it: it holds nothing, opens no payment session and writes no checkout, so
showing it in the chat as often as the shopper likes costs no one any stock.

The payment link (``start_checkout``), asked for once the shopper confirms, takes three
steps, so that no database transaction waits on the network:
1. in one transaction: the same checks and pricing, the summary frozen in a Checkout row and
   its stock held for CHECKOUT_MINUTES, within the holder's cap (checkout/holds.py), or a
   409 naming what ran out or the cap;
2. the gateway creates the payment session (a Stripe Checkout Session, or the test page);
3. the session id and payment link are stored; the shopper gets the summary and the link.
Asking again for the same cart with the same content returns the same open link.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..cart import service as carts
from ..catalog import inventory
from ..catalog.models import StockReservation
from ..consent import service as consent
from ..db import Database, utcnow
from ..events.service import EventContext, record_event
from ..payments.gateway import GatewayError, LineItem, PaymentGateway, PaymentRequest
from ..problems import Problem, conflict, unprocessable
from ..settings import Settings
from . import holds
from .address import Address
from .complete import close_checkout, expire_quietly
from .documents import preview_document
from .models import Checkout

REUSE_MARGIN = timedelta(minutes=5)  # an open link closer than this to expiry is not reused


@dataclass(frozen=True)
class CheckoutRequest:
    email: str
    address: Address
    shipping_method: str
    promo_code: str | None


def _summary(priced: carts.PricedCart) -> dict[str, Any]:
    """The frozen, priced content of the checkout: what the shopper confirms and pays."""
    lines = [{
        "variant_id": p.variant.id, "sku": p.variant.sku, "title": p.variant.product_title,
        "variant_title": p.variant.title, "size": p.variant.size, "color": p.variant.color,
        "image": p.variant.image, "quantity": p.line.quantity, "unit_price": p.variant.price,
        "line_total": p.line_total,
    } for p in priced.lines]
    totals = priced.totals
    quote = priced.shipping
    return {
        "lines": lines, "currency": totals.currency, "subtotal": totals.subtotal,
        "discount": totals.discount, "shipping": totals.shipping, "tax": totals.tax,
        "tax_rate_bp": totals.tax_rate_bp, "total": totals.total,
        "promo_code": priced.promo.promo.code if priced.promo and priced.promo.valid else None,
        "shipping_method": quote.method if quote else None,
        "shipping_name": quote.name if quote else None,
        "delivery_days": [quote.min_days, quote.max_days] if quote else None,
    }


def _content_key(cart_id: int, summary: dict, request: CheckoutRequest) -> str:
    content = json.dumps({"cart": cart_id, "summary": summary, "email": request.email,
                          "address": request.address.model_dump()}, sort_keys=True)
    return hashlib.sha256(content.encode()).hexdigest()


def _check_priced(priced: carts.PricedCart, own_holds: dict[int, int] | None = None) -> None:
    """422/409 unless the cart can be checked out. ``own_holds``: units this cart's own open
    payment link holds, which count as available to it."""
    if not priced.lines:
        raise unprocessable("The cart is empty: add something before checking out.",
                            type="cart-empty")
    own_holds = own_holds or {}

    def available(p) -> int:
        own = own_holds.get(p.variant.id, 0) if p.variant.for_sale else 0
        return p.variant.available + own

    short = [p for p in priced.lines if available(p) < p.line.quantity]
    if short:
        raise conflict(
            "Some items are no longer available in the quantity asked: "
            + "; ".join(f"{p.variant.product_title} ({p.variant.sku}): {available(p)} left"
                        for p in short) + ". Change the quantities and try again.",
            type="insufficient-stock",
            lines=[{"sku": p.variant.sku, "requested": p.line.quantity,
                    "available": available(p)} for p in short])
    if priced.shipping is None or priced.shipping_problem:
        raise unprocessable(priced.shipping_problem or "Choose a shipping method.",
                            type="shipping-unavailable")
    if priced.promo is not None and not priced.promo.valid:
        raise unprocessable(f"Code {priced.promo.promo.code}: {priced.promo.reason}",
                            type=f"promo-code-{priced.promo.problem}")


async def _open_checkouts(session: AsyncSession, cart_id: int) -> list[Checkout]:
    return list((await session.execute(select(Checkout).where(
        Checkout.cart_id == cart_id, Checkout.status == "open"))).scalars())


async def _locked_cart(session: AsyncSession, token: str, request: CheckoutRequest,
                       settings: Settings, ctx: EventContext):
    """The cart, locked, with the request's code, destination and method set on it."""
    cart = await carts.find_cart(session, token, for_update=True)
    if cart.status == "converted":
        raise conflict("This cart has already been checked out; start a new cart.",
                       type="cart-converted")
    if request.promo_code:
        await carts.apply_promo_code(session, cart, request.promo_code, settings, ctx)
    await carts.choose_shipping(session, cart, request.address.country, request.shipping_method,
                                ctx)
    return cart


async def _own_holds(session: AsyncSession, cart_id: int) -> dict[int, int]:
    """Units per variant held by this cart's open payment links."""
    rows = await session.execute(
        select(StockReservation.variant_id, func.sum(StockReservation.quantity))
        .join(Checkout, Checkout.id == StockReservation.checkout_id)
        .where(Checkout.cart_id == cart_id, Checkout.status == "open",
               StockReservation.status == "active", StockReservation.expires_at > utcnow())
        .group_by(StockReservation.variant_id))
    return {variant_id: int(units) for variant_id, units in rows}


async def preview_checkout(db: Database, settings: Settings, token: str,
                           request: CheckoutRequest, ctx: EventContext) -> dict[str, Any]:
    """The summary the shopper confirms: the same checks and prices as the payment link,
    nothing held, no payment session, no checkout (the cart keeps the method and code)."""
    async with db.write() as session:
        cart = await _locked_cart(session, token, request, settings, ctx)
        priced = await carts.price_cart(session, cart, settings)
        _check_priced(priced, await _own_holds(session, cart.id))
        summary = _summary(priced)
    return preview_document(summary, request, settings)


async def _prepare(session: AsyncSession, token: str, request: CheckoutRequest,
                   settings: Settings, gateway_name: str, ctx: EventContext,
                   holder: str, replaced: list[str]) -> tuple[Checkout, bool]:
    """Step 1. Returns the checkout and whether it is a reused, already-linked one; the
    payment sessions of checkouts it replaced are added to ``replaced``."""
    cart = await _locked_cart(session, token, request, settings, ctx)
    await holds.lock_holder(session, holder)
    previous = await _open_checkouts(session, cart.id)
    for old in previous:  # their holds must not count against this very cart
        await inventory.release(session, old.id)
    priced = await carts.price_cart(session, cart, settings)
    _check_priced(priced)
    summary = _summary(priced)
    await holds.check_room(session, holder, sum(_quantities(summary).values()), settings)
    await _record_consent(session, request, cart.customer_id, ctx)
    key = _content_key(cart.id, summary, request)
    now = utcnow()
    for old in previous:
        if old.summary.get("key") == key and old.payment_url and old.expires_at > now + REUSE_MARGIN:
            await inventory.reserve(session, old.id, _quantities(old.summary), old.expires_at)
            old.holder = holder  # the same link, asked for again: held by whoever asked
            return old, True
        await close_checkout(session, old, status="expired", reason="replaced by a new checkout")
        if old.gateway_session_id:
            replaced.append(old.gateway_session_id)
    checkout = Checkout(
        token=secrets.token_urlsafe(24), cart_id=cart.id, customer_id=cart.customer_id,
        email=request.email, shipping_address=request.address.model_dump(),
        country=request.address.country, shipping_method=request.shipping_method,
        promo_code_id=cart.promo_code_id if summary["promo_code"] else None,
        summary={**summary, "key": key}, currency=summary["currency"], total=summary["total"],
        gateway=gateway_name, conversation_id=ctx.conversation_id or cart.conversation_id,
        channel=ctx.channel or cart.channel, consent=ctx.consent, holder=holder,
        expires_at=now + timedelta(minutes=settings.checkout_minutes))
    session.add(checkout)
    await session.flush()
    try:
        await inventory.reserve(session, checkout.id, _quantities(summary), checkout.expires_at)
    except inventory.InsufficientStock as exc:
        raise conflict(f"Only {exc.variant.available} of {exc.variant.product_title} "
                       f"({exc.variant.sku}) left; change the quantity and try again.",
                       type="insufficient-stock", sku=exc.variant.sku,
                       available=exc.variant.available, requested=exc.wanted) from None
    event_fields = {"cart_id": str(cart.id), "value": summary["total"],
                    "currency": summary["currency"]}
    await record_event(session, "begin_checkout", ctx, **event_fields,
                       properties={"items": len(summary["lines"]), "coupon": summary["promo_code"]})
    await record_event(session, "add_shipping_info", ctx, **event_fields,
                       properties={"shipping_tier": request.shipping_method,
                                   "country": request.address.country})
    return checkout, False


async def _record_consent(session: AsyncSession, request: CheckoutRequest,
                          customer_id: int | None, ctx: EventContext) -> None:
    """X-Consent stated at checkout is the shopper's decision for every purpose: in full for
    their session and conversation; for the e-mail they typed and the cart's account (a cart
    token is no proof of either), the refusals only. A grant of marketing or advertising
    reaches the address once its owner confirms it (the route mails the link:
    consent/confirmation.py)."""
    if ctx.purposes is None:
        return
    await consent.record_stated(
        session, ctx.purposes, source="checkout",
        own=consent.subjects(session_id=ctx.session_id, conversation_id=ctx.conversation_id),
        unproven=consent.subjects(customer_id=customer_id, email=request.email))


def _quantities(summary: dict) -> dict[int, int]:
    out: dict[int, int] = {}
    for line in summary["lines"]:
        out[line["variant_id"]] = out.get(line["variant_id"], 0) + line["quantity"]
    return out


def payment_request(checkout: Checkout, settings: Settings) -> PaymentRequest:
    """What the gateway is asked to charge for a checkout (also what the test page shows)."""
    summary = checkout.summary
    items = [LineItem(f"{l['title']} ({l['variant_title']})" if l["variant_title"] else l["title"],
                      l["unit_price"], l["quantity"]) for l in summary["lines"]]
    discount, shipping, tax = summary["discount"], summary["shipping"], summary["tax"]
    if discount:  # a gateway line cannot be negative: spread the discount over the goods
        items = _discounted(items, discount)
    if shipping:
        items.append(LineItem(f"Shipping: {summary['shipping_name']}", shipping, 1))
    if tax:
        items.append(LineItem("Tax", tax, 1))
    base = settings.storefront_url.rstrip("/")
    return PaymentRequest(
        checkout_token=checkout.token, cart_reference=f"cart-{checkout.cart_id}",
        email=checkout.email, currency=checkout.currency, line_items=items,
        total=checkout.total, expires_at=checkout.expires_at,
        success_url=f"{base}/checkout/{checkout.token}/done",
        cancel_url=f"{base}/checkout/{checkout.token}/cancelled",
        idempotency_key=f"checkout-{summary['key'][:40]}-{checkout.token[:12]}",
        metadata={"checkout_token": checkout.token, "cart_id": str(checkout.cart_id),
                  "conversation_id": checkout.conversation_id or "",
                  "order_draft": ", ".join(f"{l['quantity']}x {l['sku']}"
                                           for l in summary["lines"])[:450]},
    )


def _discounted(items: list[LineItem], discount: int) -> list[LineItem]:
    """One line for the discounted goods, so that the gateway's total equals ours exactly."""
    goods = sum(i.unit_amount * i.quantity for i in items)
    names = ", ".join(f"{i.quantity}x {i.name}" for i in items)
    return [LineItem(f"{names[:200]} (discount applied)", goods - discount, 1)]


async def start_checkout(db: Database, gateway: PaymentGateway, settings: Settings, token: str,
                         request: CheckoutRequest, ctx: EventContext, *,
                         holder: str) -> Checkout:
    """The payment link: hold the stock for ``holder`` (see checkout/holds.py), then open
    the gateway's session."""
    replaced: list[str] = []
    async with db.write() as session:
        checkout, reused = await _prepare(session, token, request, settings, gateway.name, ctx,
                                          holder, replaced)
    for session_id in replaced:  # an old link must not be payable any more
        await expire_quietly(gateway, session_id)
    if reused:
        return checkout
    try:
        payment = await gateway.create_session(payment_request(checkout, settings))
    except GatewayError as exc:
        async with db.write() as session:
            failed = await session.get(Checkout, checkout.id)
            await close_checkout(session, failed, status="failed", reason=f"gateway: {exc}"[:250])
        raise Problem(502, "Payment provider unavailable",
                      f"We could not create the payment link ({exc}). Nothing was charged; "
                      "please try again in a moment.", type="payment-provider-unavailable")
    async with db.write() as session:
        checkout = await session.get(Checkout, checkout.id, with_for_update=True)
        checkout.gateway_session_id, checkout.payment_url = payment.id, payment.url
        await record_event(session, "add_payment_info", ctx, cart_id=str(checkout.cart_id),
                           value=checkout.total, currency=checkout.currency,
                           properties={"payment_type": gateway.name, "link_sent": True})
    return checkout


async def checkout_by_token(session: AsyncSession, token: str) -> Checkout | None:
    if not 16 <= len(token) <= 64:
        return None
    return await session.scalar(select(Checkout).where(Checkout.token == token))
