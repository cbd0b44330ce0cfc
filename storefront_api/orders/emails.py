"""The e-mails about an order, written into the outbox in the transaction that causes them.

Plain text on purpose: it reads the same in every mail client and in var/outbox/*.eml.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import utcnow
from ..money import format_money
from ..outbox.service import enqueue_email
from ..pricing.service import SHIPPING_METHODS
from ..settings import Settings
from .models import Order, OrderLine
from .service import order_token


def lookup_url(order: Order, settings: Settings) -> str:
    """Where the shopper sees the order without signing in (the token opens this one only)."""
    return (f"{settings.storefront_url.rstrip('/')}/api/orders/{order.number}"
            f"?token={order_token(settings.secret_key, order.number)}")


def delivery_name(method: str) -> str:
    return SHIPPING_METHODS.get(method, method.replace("_", " ").capitalize())


def address_lines(address: dict[str, Any]) -> list[str]:
    """The address as the post of its country writes it (roughly: three styles)."""
    city, region = address.get("city") or "", address.get("region") or ""
    postal, country = address.get("postal_code") or "", address.get("country") or ""
    if country in ("US", "CA", "AU"):  # Arlington, VA 22201
        town = [f"{city}, {region} {postal}".strip(" ,")]
    elif country in ("GB", "IE"):  # London / W1U 4PQ
        town = [city, postal]
    else:  # 75001 Paris
        town = [" ".join(p for p in (postal, city) if p) + (f", {region}" if region else "")]
    parts = [address.get("name"), address.get("line1"), address.get("line2"), *town, country]
    return [str(p) for p in parts if p]


def _line_text(line: OrderLine, currency: str) -> str:
    what = f"{line.title} ({line.variant_title})" if line.variant_title else line.title
    return (f"  {line.quantity} x {what}\n"
            f"      SKU {line.sku}, {format_money(line.unit_price, currency)} each"
            f"  {format_money(line.line_total, currency):>12}")


def _totals_text(order: Order) -> list[str]:
    money = lambda amount: format_money(amount, order.currency)  # noqa: E731
    rows = [("Subtotal", money(order.subtotal))]
    if order.discount:
        code = f" ({order.promo_code})" if order.promo_code else ""
        rows.append((f"Discount{code}", "-" + money(order.discount)))
    rows += [(f"Shipping, {delivery_name(order.shipping_method)}", money(order.shipping)),
             ("Tax", money(order.tax)), ("Total paid", money(order.total))]
    width = max(len(label) for label, _ in rows) + 2
    return [f"  {label:<{width}}{value:>12}" for label, value in rows]


async def enqueue_confirmation(session: AsyncSession, order: Order, settings: Settings) -> None:
    """'Thank you, here is your order': lines, totals, delivery, and the link to follow it."""
    lines = (await session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)
                                   .order_by(OrderLine.id))).all()
    text = "\n".join([
        "Hello,", "",
        f"Thank you for your order at {settings.shop_name}. We have received your payment "
        "and will prepare your parcel shortly.", "",
        f"Order {order.number}, placed {(order.created_at or utcnow()):%d %B %Y at %H:%M} UTC",
        "",
        *[_line_text(line, order.currency) for line in lines], "",
        *_totals_text(order), "",
        f"Delivery: {delivery_name(order.shipping_method)} to",
        *[f"  {line}" for line in address_lines(order.shipping_address or {})], "",
        "Follow your order at any time:", f"  {lookup_url(order, settings)}",
        "or ask our shopping assistant in the chat, with your order number.", "",
        f"— {settings.shop_name}", ""])
    await enqueue_email(session, to=order.email, tag="order-confirmation",
                        subject=f"Order {order.number} confirmed — {settings.shop_name}",
                        text=text)
