"""Carts: lines, saved-for-later, promo code and shipping choice, priced on every read.

A cart is addressed by its token (``secrets.token_urlsafe(32)``), which the chat and the shop
page keep; its row id only ever appears in analytics events. Prices are never stored on the
lines: ``price_cart`` recomputes everything from the current variant prices, so a price change,
a promo code that expired or a line that went out of stock shows up at the next read.

Every change runs in the caller's write transaction, records its analytics event in that same
transaction, and validates before it writes: a refused request leaves the cart untouched.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ..catalog.inventory import VariantInfo, variant_by_id, variant_by_sku, variants_by_ids
from ..db import utcnow
from ..events.service import EventContext, record_event
from ..money import money
from ..pricing import service as pricing
from ..problems import Problem, conflict, not_found, unprocessable
from ..settings import Settings
from .models import Cart, CartLine

MAX_LINE_QUANTITY = 99
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{20,64}")
CUSTOMER_CART_PATH = "/api/customers/me/cart"


# --- finding carts -------------------------------------------------------------------------

def new_token() -> str:
    return secrets.token_urlsafe(32)


def cart_not_found() -> Problem:
    return Problem(404, "Not found", "No cart with this token. Create one with POST /api/carts.",
                   type="cart-not-found")


def cart_merged() -> Problem:
    return Problem(410, "Gone", "This cart was merged into the customer's cart at sign-in. "
                   f"Use the cart returned by sign-in, or GET {CUSTOMER_CART_PATH} with the "
                   "customer token.", type="cart-merged", merged_into=CUSTOMER_CART_PATH)


def _with_lines():
    return select(Cart).options(selectinload(Cart.lines))


async def cart_by_token(session: AsyncSession, token: str, *,
                        for_update: bool = False) -> Cart | None:
    """The cart with ``token`` and its lines, whatever its status; None if there is none."""
    if not TOKEN_PATTERN.fullmatch(token):
        return None
    query = _with_lines().where(Cart.token == token)
    if for_update:  # PostgreSQL: one change at a time per cart (SQLite already serialises)
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def cart_by_id(session: AsyncSession, cart_id: int) -> Cart:
    """The cart (with its lines) of a row id the shop itself recorded."""
    return (await session.execute(_with_lines().where(Cart.id == cart_id))).scalar_one()


async def find_cart(session: AsyncSession, token: str, *, for_update: bool = False) -> Cart:
    """The cart with ``token``; 404 if unknown, 410 if merged into a customer's cart."""
    cart = await cart_by_token(session, token, for_update=for_update)
    if cart is None:
        raise cart_not_found()
    if cart.status == "merged":
        raise cart_merged()
    return cart


async def active_customer_cart(session: AsyncSession, customer_id: int) -> Cart | None:
    return (await session.execute(
        _with_lines().where(Cart.customer_id == customer_id, Cart.status == "active")
        .order_by(Cart.updated_at.desc(), Cart.id.desc()).limit(1))).scalar_one_or_none()


# The channel of a cart the shop page opened for a chat conversation (POST /api/chat/cart/open).
PAGE_CHANNEL = "shop-page"


async def conversation_cart(session: AsyncSession, conversation_id: str, *,
                            opened_by_page: bool = False) -> Cart | None:
    """The conversation's open cart (the newest): the one the assistant and the shop page
    share (docs/web-chat.md). ``opened_by_page``: only one the page opened."""
    query = _with_lines().where(Cart.conversation_id == conversation_id,
                                Cart.status == "active")
    if opened_by_page:
        query = query.where(Cart.channel == PAGE_CHANNEL)
    return (await session.execute(query.order_by(Cart.id.desc()).limit(1))).scalar_one_or_none()


async def create_cart(session: AsyncSession, settings: Settings, ctx: EventContext, *,
                      customer_id: int | None = None) -> Cart:
    cart = Cart(token=new_token(), customer_id=customer_id, status="active",
                currency=settings.currency, conversation_id=ctx.conversation_id,
                channel=ctx.channel, created_at=utcnow(), updated_at=utcnow(), lines=[])
    session.add(cart)
    await session.flush()
    return cart


def _ensure_open(cart: Cart) -> None:
    if cart.status == "converted":
        raise conflict("This cart has already been checked out; start a new cart.",
                       type="cart-converted")


async def is_converted(session: AsyncSession, cart_id: int) -> bool:
    return await session.scalar(select(Cart.status).where(Cart.id == cart_id)) == "converted"


async def mark_converted(session: AsyncSession, cart_id: int) -> None:
    """The cart became an order: it is kept (readable) but no longer changes."""
    cart = await session.get(Cart, cart_id)
    if cart is not None:
        cart.status, cart.updated_at = "converted", utcnow()


def _touch(cart: Cart, ctx: EventContext) -> None:
    cart.updated_at = utcnow()
    # A cart started on the web page and continued in the chat gets joined to the conversation.
    if ctx.conversation_id and not cart.conversation_id:
        cart.conversation_id = ctx.conversation_id
    if ctx.channel and not cart.channel:
        cart.channel = ctx.channel


def _event_ctx(cart: Cart, ctx: EventContext) -> EventContext:
    return ctx.for_customer(cart.customer_id)


async def _item_event(session: AsyncSession, name: str, cart: Cart, ctx: EventContext,
                      variant: VariantInfo, quantity: int, **properties: Any) -> None:
    await record_event(session, name, _event_ctx(cart, ctx), cart_id=str(cart.id),
                       item_id=variant.sku or variant.id, value=variant.price * quantity,
                       currency=variant.currency,
                       properties={"quantity": quantity, "variant_id": variant.id, **properties})


# --- lines ---------------------------------------------------------------------------------

def _line_for(cart: Cart, variant_id: int, saved: bool) -> CartLine | None:
    for line in cart.lines:
        if line.variant_id == variant_id and line.saved_for_later == saved:
            return line
    return None


def _find_line(cart: Cart, line_id: int) -> CartLine:
    for line in cart.lines:
        if line.id == line_id:
            return line
    raise not_found("line in this cart", line_id)


async def resolve_variant(session: AsyncSession, *, variant_id: int | None = None,
                          sku: str | None = None) -> VariantInfo:
    if variant_id is not None:
        variant = await variant_by_id(session, variant_id)
        what = f"id {variant_id}"
    else:
        variant = await variant_by_sku(session, sku or "")
        what = f"SKU {sku!r}"
    if variant is None:
        raise Problem(404, "Not found", f"No product variant with {what}.",
                      type="variant-not-found")
    return variant


def _check_line_limit(wanted: int, in_cart: int) -> None:
    if wanted > MAX_LINE_QUANTITY:
        already = f"; {in_cart} already in the cart" if in_cart else ""
        raise unprocessable(f"A cart line holds at most {MAX_LINE_QUANTITY} items{already}.",
                            type="quantity-limit", max_quantity=MAX_LINE_QUANTITY,
                            in_cart=in_cart)


def _check_stock(variant: VariantInfo, wanted: int, in_cart: int) -> None:
    """409 when ``wanted`` (the line's new total) is more than can be bought now."""
    available = variant.available
    if wanted <= available:
        return
    name = f"{variant.product_title} ({variant.title or variant.sku})"
    if not variant.for_sale:
        detail = f"{name} is no longer for sale."
    elif available == 0:
        detail = f"{name} is out of stock."
    elif in_cart:
        detail = (f"Only {available} of {name} available and {in_cart} already in the cart; "
                  f"you can add {max(available - in_cart, 0)} more.")
    else:
        detail = f"Only {available} of {name} available."
    raise conflict(detail, type="insufficient-stock", available=available, in_cart=in_cart,
                   requested=wanted - in_cart, variant_id=variant.id, sku=variant.sku)


def _check_currency(cart: Cart, variant: VariantInfo) -> None:
    if variant.currency != cart.currency:
        raise unprocessable(f"{variant.sku} is priced in {variant.currency} and this cart in "
                            f"{cart.currency}.", type="currency-mismatch")


async def add_item(session: AsyncSession, cart: Cart, variant: VariantInfo, quantity: int,
                   ctx: EventContext) -> CartLine:
    """Add ``quantity`` of ``variant``, counting what the cart already holds against stock."""
    _ensure_open(cart)
    _check_currency(cart, variant)
    line = _line_for(cart, variant.id, saved=False)
    in_cart = line.quantity if line else 0
    _check_line_limit(in_cart + quantity, in_cart)
    _check_stock(variant, in_cart + quantity, in_cart)
    if line is None:
        line = CartLine(variant_id=variant.id, quantity=quantity, saved_for_later=False,
                        added_at=utcnow())
        cart.lines.append(line)
    else:
        line.quantity += quantity
    _touch(cart, ctx)
    await session.flush()
    await _item_event(session, "add_to_cart", cart, ctx, variant, quantity)
    return line


async def update_line(session: AsyncSession, cart: Cart, line_id: int, ctx: EventContext, *,
                      quantity: int | None = None, saved_for_later: bool | None = None) -> None:
    """Change a line's quantity and/or move it between the cart and saved-for-later."""
    _ensure_open(cart)
    line = _find_line(cart, line_id)
    variant = await resolve_variant(session, variant_id=line.variant_id)
    target_saved = line.saved_for_later if saved_for_later is None else saved_for_later
    new_quantity = line.quantity if quantity is None else quantity
    if target_saved != line.saved_for_later:
        await _move_line(session, cart, line, variant, new_quantity, target_saved, ctx)
    elif new_quantity != line.quantity:
        await _set_quantity(session, cart, line, variant, new_quantity, ctx)
    _touch(cart, ctx)
    await session.flush()


async def _set_quantity(session: AsyncSession, cart: Cart, line: CartLine, variant: VariantInfo,
                        quantity: int, ctx: EventContext) -> None:
    change = quantity - line.quantity
    if not line.saved_for_later:
        if change > 0:
            _check_stock(variant, quantity, line.quantity)
        name = "add_to_cart" if change > 0 else "remove_from_cart"
        await _item_event(session, name, cart, ctx, variant, abs(change))
    line.quantity = quantity


async def _move_line(session: AsyncSession, cart: Cart, line: CartLine, variant: VariantInfo,
                     quantity: int, to_saved: bool, ctx: EventContext) -> None:
    """Save for later (or move back), merging with a line of the same variant already there."""
    other = _line_for(cart, variant.id, saved=to_saved)
    in_target = other.quantity if other else 0
    wanted = in_target + quantity
    _check_line_limit(wanted, in_target)
    if not to_saved:
        _check_stock(variant, wanted, in_target)
    left_the_cart = line.quantity  # what a save-for-later takes out of the cart
    if other is None:
        line.saved_for_later, line.quantity = to_saved, quantity
    else:
        other.quantity = wanted
        cart.lines.remove(line)
    if to_saved:
        await _item_event(session, "remove_from_cart", cart, ctx, variant, left_the_cart,
                          reason="saved_for_later")
    else:
        await _item_event(session, "add_to_cart", cart, ctx, variant, quantity,
                          reason="moved_from_saved_for_later")


async def remove_line(session: AsyncSession, cart: Cart, line_id: int, ctx: EventContext) -> None:
    _ensure_open(cart)
    line = _find_line(cart, line_id)
    if not line.saved_for_later:
        variant = await resolve_variant(session, variant_id=line.variant_id)
        await _item_event(session, "remove_from_cart", cart, ctx, variant, line.quantity)
    cart.lines.remove(line)
    _touch(cart, ctx)
    await session.flush()


async def clear_cart(session: AsyncSession, cart: Cart, ctx: EventContext) -> None:
    """Remove every line in the cart; saved-for-later lines stay."""
    _ensure_open(cart)
    active = [line for line in cart.lines if not line.saved_for_later]
    variants = await variants_by_ids(session, {line.variant_id for line in active})
    for line in active:
        await _item_event(session, "remove_from_cart", cart, ctx, variants[line.variant_id],
                          line.quantity, reason="cart_cleared")
        cart.lines.remove(line)
    _touch(cart, ctx)
    await session.flush()


# --- promo code and shipping ---------------------------------------------------------------

async def apply_promo_code(session: AsyncSession, cart: Cart, code: str, settings: Settings,
                           ctx: EventContext) -> None:
    """One code per cart; the code must be valid for the cart as it is now."""
    _ensure_open(cart)
    promo = await pricing.find_promo(session, code)
    if promo is None or not promo.active:
        raise pricing.invalid_code(code)
    if cart.promo_code_id is not None and cart.promo_code_id != promo.id:
        applied = await pricing.promo_by_id(session, cart.promo_code_id)
        applied_code = applied.code if applied else "another code"
        raise conflict(f"Code {applied_code} is already applied to this cart; remove it first "
                       f"(DELETE /api/carts/{{token}}/promo-code) to use {promo.code}.",
                       type="promo-code-already-applied", applied_code=applied_code)
    subtotal = sum(line.line_total for line in (await price_lines(session, cart))[0])
    status = pricing.check_promo(promo, subtotal, cart.currency)
    if not status.valid:
        extra = {"missing": money(status.missing, cart.currency)} if status.missing else {}
        raise unprocessable(status.reason or "", type=f"promo-code-{status.problem}",
                            code=promo.code, reason=status.problem, **extra)
    cart.promo_code_id = promo.id
    _touch(cart, ctx)
    await session.flush()


async def remove_promo_code(session: AsyncSession, cart: Cart, ctx: EventContext) -> None:
    _ensure_open(cart)
    cart.promo_code_id = None
    _touch(cart, ctx)
    await session.flush()


async def choose_shipping(session: AsyncSession, cart: Cart, country: str, method: str,
                          ctx: EventContext) -> None:
    """Set the destination country and method; 422 if either is not served."""
    _ensure_open(cart)
    await pricing.shipping_quote(session, country, method)  # raises when not served
    cart.country, cart.shipping_method = country, method
    _touch(cart, ctx)
    await session.flush()


# --- merging at sign-in --------------------------------------------------------------------

async def merge_carts(session: AsyncSession, guest: Cart, target: Cart,
                      ctx: EventContext) -> list[str]:
    """Move the guest cart's lines into ``target``; returns notices for the shopper.

    Quantities add up, capped at the stock available now (and at 99 a line). A line that is
    out of stock altogether goes to saved-for-later instead of being lost. The guest cart is
    marked ``merged`` and answers 410 from then on.
    """
    _ensure_open(guest)
    variants = await variants_by_ids(session, {line.variant_id for line in guest.lines})
    notices: list[str] = []
    for line in list(guest.lines):
        notice = _merge_line(target, variants[line.variant_id], line.quantity,
                             line.saved_for_later)
        if notice:
            notices.append(notice)
        guest.lines.remove(line)
    if target.promo_code_id is None:
        target.promo_code_id = guest.promo_code_id
    if target.country is None:
        target.country, target.shipping_method = guest.country, guest.shipping_method
    guest.status, guest.merged_into_id, guest.promo_code_id = "merged", target.id, None
    guest.updated_at = utcnow()
    _touch(target, EventContext(conversation_id=guest.conversation_id, channel=guest.channel))
    _touch(target, ctx)
    await session.flush()
    return notices


def _merge_line(target: Cart, variant: VariantInfo, quantity: int, saved: bool) -> str | None:
    existing = _line_for(target, variant.id, saved)
    have = existing.quantity if existing else 0
    cap = MAX_LINE_QUANTITY if saved else min(MAX_LINE_QUANTITY, variant.available)
    merged = max(have, min(have + quantity, cap))
    if merged == 0:  # nothing can be bought now: keep it for later rather than lose it
        return _merge_line(target, variant, quantity, True) or (
            f"{variant.product_title} is out of stock; it was saved for later.")
    if existing is None:
        target.lines.append(CartLine(variant_id=variant.id, quantity=merged,
                                     saved_for_later=saved, added_at=utcnow()))
    else:
        existing.quantity = merged
    if merged < have + quantity:
        return (f"Only {merged} of {variant.product_title} ({variant.title or variant.sku}) "
                f"could be kept in the cart.")
    return None


# --- pricing -------------------------------------------------------------------------------

@dataclass(frozen=True)
class PricedLine:
    line: CartLine
    variant: VariantInfo

    @property
    def line_total(self) -> int:
        return self.variant.price * self.line.quantity


@dataclass
class PricedCart:
    cart: Cart
    lines: list[PricedLine]
    saved: list[PricedLine]
    promo: pricing.PromoStatus | None
    shipping: pricing.ShippingQuote | None
    shipping_problem: str | None
    totals: pricing.Totals
    notices: list[str] = field(default_factory=list)

    @property
    def item_count(self) -> int:
        return sum(priced.line.quantity for priced in self.lines)


async def price_lines(session: AsyncSession,
                      cart: Cart) -> tuple[list[PricedLine], list[PricedLine]]:
    """(lines in the cart, saved-for-later lines) with their variants as they are now."""
    variants = await variants_by_ids(session, {line.variant_id for line in cart.lines})
    priced = [PricedLine(line, variants[line.variant_id]) for line in cart.lines
              if line.variant_id in variants]
    return ([p for p in priced if not p.line.saved_for_later],
            [p for p in priced if p.line.saved_for_later])


async def _shipping(session: AsyncSession, cart: Cart, merchandise: int,
                    free_shipping: bool) -> tuple[pricing.ShippingQuote | None, str | None]:
    if not (cart.country and cart.shipping_method):
        return None, None
    try:
        quote = await pricing.shipping_quote(session, cart.country, cart.shipping_method,
                                             merchandise, free_shipping)
    except Problem as problem:  # the zone changed since the shopper chose: say so, charge 0
        return None, problem.body_dict["detail"]
    return quote, None


async def price_cart(session: AsyncSession, cart: Cart, settings: Settings,
                     now: datetime | None = None) -> PricedCart:
    """Everything the cart costs right now, from current prices, codes, rates and stock."""
    lines, saved = await price_lines(session, cart)
    subtotal = sum(p.line_total for p in lines)
    promo = None
    if cart.promo_code_id is not None:
        code = await pricing.promo_by_id(session, cart.promo_code_id)
        promo = pricing.check_promo(code, subtotal, cart.currency, now) if code else None
    discount = pricing.discount_for(promo, subtotal)
    quote, shipping_problem = await _shipping(session, cart, subtotal - discount,
                                              bool(promo and promo.free_shipping))
    shipping = quote.price if quote and lines else 0
    rate = await pricing.tax_rate_bp(session, cart.country, settings) if cart.country else None
    totals = pricing.compute_totals(cart.currency, subtotal, discount, shipping, rate)
    return PricedCart(cart, lines, saved, promo, quote, shipping_problem, totals)


def view_event(priced: PricedCart, ctx: EventContext) -> tuple[str, EventContext, dict]:
    """The ``view_cart`` event of a priced cart, as arguments for the view-event buffer."""
    return "view_cart", _event_ctx(priced.cart, ctx), {
        "cart_id": str(priced.cart.id), "value": priced.totals.subtotal,
        "currency": priced.cart.currency,
        "properties": {"item_count": priced.item_count, "lines": len(priced.lines)}}

