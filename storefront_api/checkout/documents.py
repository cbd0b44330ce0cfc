"""The checkout as the API shows it: the summary to confirm (preview) and the checkout with
its payment link; both show the priced content the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..money import money
from ..settings import Settings
from ..values import iso
from .models import Checkout

if TYPE_CHECKING:
    from .service import CheckoutRequest


def _summary_document(summary: dict[str, Any], currency: str) -> dict[str, Any]:
    """The priced content as the shopper reads it (checkout and preview alike)."""
    return {
        "shipping": {"method": summary["shipping_method"], "name": summary["shipping_name"],
                     "price": money(summary["shipping"], currency),
                     "delivery_days": summary["delivery_days"]},
        "lines": [{**{k: l[k] for k in ("variant_id", "sku", "title", "variant_title", "size",
                                        "color", "image", "quantity")},
                   "unit_price": money(l["unit_price"], currency),
                   "line_total": money(l["line_total"], currency)} for l in summary["lines"]],
        "promo_code": summary["promo_code"],
        "totals": {name: money(summary[name], currency)
                   for name in ("subtotal", "discount", "shipping", "tax", "total")},
        "tax_rate_bp": summary["tax_rate_bp"],
    }


def checkout_document(checkout: Checkout, order_number: str | None = None) -> dict[str, Any]:
    return {
        "token": checkout.token, "status": checkout.status, "email": checkout.email,
        "shipping_address": checkout.shipping_address,
        **_summary_document(checkout.summary, checkout.currency),
        "payment_url": checkout.payment_url if checkout.status == "open" else None,
        "expires_at": iso(checkout.expires_at),
        "failure_reason": checkout.failure_reason,
        "order_number": order_number,
    }


def preview_document(summary: dict[str, Any], request: CheckoutRequest,
                     settings: Settings) -> dict[str, Any]:
    """A summary before the payment link: no token, no link, nothing held yet."""
    return {
        "status": "preview", "email": request.email,
        "shipping_address": request.address.model_dump(),
        **_summary_document(summary, summary["currency"]),
        "payment_url": None,
        # what asking for the link will do: hold these units this long
        "hold": {"units": sum(line["quantity"] for line in summary["lines"]),
                 "minutes": settings.checkout_minutes,
                 "max_units": settings.max_held_units},
    }
