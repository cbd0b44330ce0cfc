"""Promo codes and shipping options as the API shows them (the merchant's list of codes, a
country's delivery options); the cart's document shows its code and totals with these."""

from __future__ import annotations

from typing import Any

from ..money import format_money, money
from ..values import iso
from .models import PromoCode
from .service import PromoStatus, ShippingQuote, Totals, promo_description


def promo_document(promo: PromoCode) -> dict[str, Any]:
    return {
        "code": promo.code, "kind": promo.kind, "value": promo.value,
        "description": promo_description(promo),
        "currency": promo.currency,
        "min_subtotal": money(promo.min_subtotal, promo.currency),
        "starts_at": iso(promo.starts_at), "expires_at": iso(promo.expires_at),
        "usage_limit": promo.usage_limit, "times_used": promo.times_used,
        "active": promo.active,
    }


def promo_status_document(status: PromoStatus | None, currency: str) -> dict | None:
    if status is None:
        return None
    return {"code": status.promo.code, "kind": status.promo.kind,
            "description": promo_description(status.promo), "valid": status.valid,
            "reason": status.reason,
            "missing": money(status.missing, currency) if status.missing else None}


def totals_document(totals: Totals) -> dict[str, Any]:
    c = totals.currency
    return {"subtotal": money(totals.subtotal, c), "discount": money(totals.discount, c),
            "shipping": money(totals.shipping, c), "tax": money(totals.tax, c),
            "tax_rate_bp": totals.tax_rate_bp, "total": money(totals.total, c)}


def shipping_option_document(quote: ShippingQuote, currency: str) -> dict[str, Any]:
    return {"method": quote.method, "name": quote.name, "zone": quote.zone,
            "price": money(quote.price, currency),
            "regular_price": money(quote.regular_price, currency),
            "free": quote.price == 0, "free_reason": quote.free_reason,
            "free_above": money(quote.free_above, currency) if quote.free_above else None,
            "delivery_days": {"min": quote.min_days, "max": quote.max_days},
            "description": _delivery_text(quote, currency)}


def _delivery_text(quote: ShippingQuote, currency: str) -> str:
    days = (f"{quote.min_days}-{quote.max_days}" if quote.min_days != quote.max_days
            else f"{quote.min_days}")
    price = "free" if quote.price == 0 else format_money(quote.price, currency)
    return f"{quote.name}: {price}, {days} business days"
