"""The cart as the API shows it: every cart, sign-in and customer-cart route returns
``cart_document`` of a cart priced now (``service.price_cart``)."""

from __future__ import annotations

from typing import Any

from ..money import money
from ..pricing import documents as pricing_documents
from ..pricing.service import SHIPPING_METHODS
from ..values import iso
from .service import PricedCart, PricedLine


def _line_document(priced: PricedLine, currency: str) -> dict[str, Any]:
    line, variant = priced.line, priced.variant
    return {
        "id": line.id, "variant_id": variant.id, "sku": variant.sku,
        "product_id": variant.product_id, "title": variant.product_title,
        "variant_title": variant.title, "size": variant.size, "color": variant.color,
        "image": variant.image, "quantity": line.quantity,
        "unit_price": money(variant.price, currency),
        "compare_at_price": (money(variant.compare_at_price, currency)
                             if variant.compare_at_price else None),
        "line_total": money(priced.line_total, currency),
        "available": variant.available,
        "in_stock": variant.available >= line.quantity,
    }


def _shipping_document(priced: PricedCart) -> dict | None:
    cart, quote = priced.cart, priced.shipping
    if quote is None:
        if not cart.country:
            return None
        return {"country": cart.country, "method": cart.shipping_method,
                "name": SHIPPING_METHODS.get(cart.shipping_method or "", None),
                "price": money(0, cart.currency), "regular_price": None, "free": False,
                "free_reason": None, "delivery_days": None, "valid": False,
                "reason": priced.shipping_problem}
    return {"country": cart.country, "method": quote.method, "name": quote.name,
            "price": money(quote.price, cart.currency),
            "regular_price": money(quote.regular_price, cart.currency),
            "free": quote.price == 0, "free_reason": quote.free_reason,
            "delivery_days": {"min": quote.min_days, "max": quote.max_days},
            "valid": True, "reason": None}


def cart_document(priced: PricedCart) -> dict[str, Any]:
    """The cart as every cart, sign-in and customer-cart route returns it."""
    cart, currency = priced.cart, priced.cart.currency
    document = {
        "token": cart.token, "status": cart.status, "currency": currency,
        "signed_in": cart.customer_id is not None,
        "lines": [_line_document(p, currency) for p in priced.lines],
        "saved_for_later": [_line_document(p, currency) for p in priced.saved],
        "item_count": priced.item_count,
        "promo_code": pricing_documents.promo_status_document(priced.promo, currency),
        "shipping": _shipping_document(priced),
        "totals": pricing_documents.totals_document(priced.totals),
        "created_at": iso(cart.created_at),
        "updated_at": iso(cart.updated_at),
    }
    if priced.notices:
        document["notices"] = priced.notices
    return document
