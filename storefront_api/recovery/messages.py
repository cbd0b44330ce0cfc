"""What a reminder says: the e-mail (plain text, like the shop's other e-mails) and the chat
notice's entities, which the bot's rule for ``EXTERNAL_cart_reminder`` turns into a message."""

from __future__ import annotations

from typing import Any

from ..cart.service import PricedCart
from ..chat import notices
from ..money import format_money
from ..pricing.models import PromoCode
from ..settings import Settings

CHAT_INTENT = notices.CART_REMINDER


def cart_link(settings: Settings, token: str) -> str:
    """Where the shopper finds the cart again (the token is the cart's only key)."""
    return f"{settings.storefront_url.rstrip('/')}/api/carts/{token}"


def _item_lines(priced: PricedCart) -> list[str]:
    currency = priced.cart.currency
    rows = []
    for line in priced.lines:
        variant = line.variant
        what = (f"{variant.product_title} ({variant.title})" if variant.title
                else variant.product_title)
        rows.append(f"  {line.line.quantity} x {what}  {format_money(line.line_total, currency)}")
    return rows


def _promo_lines(promo: PromoCode | None) -> list[str]:
    if promo is None:
        return []
    until = f", until {promo.expires_at:%d %B %Y %H:%M} UTC" if promo.expires_at else ""
    return [f"Use code {promo.code} for {promo.value}% off your items (one use{until}).", ""]


def reminder_email(priced: PricedCart, settings: Settings,
                   promo: PromoCode | None) -> tuple[str, str]:
    """(subject, text) of the reminder e-mail."""
    currency = priced.cart.currency
    subtotal = format_money(priced.totals.subtotal, currency)
    text = "\n".join([
        "Hello,", "",
        f"You left {priced.item_count} item{'s' if priced.item_count != 1 else ''} in your cart "
        f"at {settings.shop_name}. We kept them for you:", "",
        *_item_lines(priced), "",
        f"  Subtotal {subtotal}", "",
        *_promo_lines(promo),
        "Pick up where you left off:", f"  {cart_link(settings, priced.cart.token)}",
        "or ask our shopping assistant in the chat.", "",
        "You receive this because you agreed to hear from us. Prices and stock can change "
        "until you check out.", "",
        f"{settings.shop_name}",
    ])
    return f"Your cart at {settings.shop_name} is waiting", text


def chat_entities(priced: PricedCart, promo: PromoCode | None) -> dict[str, Any]:
    """Entities of the EXTERNAL_cart_reminder intent (amounts formatted for people)."""
    return {"item_count": priced.item_count,
            "cart_total": format_money(priced.totals.subtotal, priced.cart.currency),
            "promo_code": promo.code if promo else None}
