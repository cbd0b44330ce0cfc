"""Where the payment provider sends the shopper back: GET /checkout/{token}/done and
GET /checkout/{token}/cancelled (Stripe Checkout's success_url and cancel_url).

The done page does not decide anything: the order exists only once the signed webhook has
landed. Until then it says the payment is being confirmed and polls GET /api/checkouts/{token}
(/static/checkout-status.js) until the order number is there. The cancelled page offers the
same payment link again while it is open, and the way back to the chat once it is not.

The checkout token in the URL is the credential (unguessable, as the cart's); the pages show
no address or e-mail, only the order number, the total and the link.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

from ..app_keys import DB, SETTINGS
from ..html_page import page
from ..money import format_money
from ..orders.service import order_for_checkout
from .models import Checkout
from .service import checkout_by_token

_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the URL holds the checkout token
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; connect-src 'self'; "
                               "style-src 'unsafe-inline'; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'none'",
}


def register_checkout_pages(app: web.Application) -> None:
    app.router.add_get("/checkout/{token}/done", payment_done)
    app.router.add_get("/checkout/{token}/cancelled", payment_cancelled)


def _respond(title: str, body: str, shop_name: str, status: int = 200) -> web.Response:
    return web.Response(text=page(title, body, shop_name), status=status,
                        content_type="text/html", charset="utf-8", headers=_HEADERS)


async def _checkout(request: web.Request) -> tuple[Checkout | None, str | None]:
    async with request.app[DB].read() as session:
        checkout = await checkout_by_token(session, request.match_info["token"][:100])
        if checkout is None:
            return None, None
        order = await order_for_checkout(session, checkout.id)
        return checkout, order.number if order else None


def _unknown(shop_name: str) -> web.Response:
    return _respond("Payment not found", '<section class="card"><h1>We cannot find this '
                    "payment</h1><p>The link may be incomplete. Your order confirmation, if "
                    "you paid, is in your e-mail; you can also ask in the chat.</p>"
                    '<p><a href="/chat">Back to the chat</a></p></section>', shop_name, 404)


def _total(checkout: Checkout) -> str:
    return escape(format_money(checkout.total, checkout.currency))


def _paid(number: str, checkout: Checkout) -> str:
    return (f'<div class="ok" role="status"><h2>Payment received</h2><p>Thank you! Your '
            f'order number is <strong data-order-number>{escape(number)}</strong> '
            f"({_total(checkout)}). A confirmation is on its way by e-mail, and the chat "
            "has it too.</p></div>")


async def payment_done(request: web.Request) -> web.Response:
    shop_name = request.app[SETTINGS].shop_name
    checkout, number = await _checkout(request)
    if checkout is None:
        return _unknown(shop_name)
    if number:
        body = _paid(number, checkout)
    elif checkout.status in ("open", "completed"):  # paid at the provider, webhook on its way
        body = ('<div class="card" role="status" aria-live="polite" id="checkout-status" '
                f'data-checkout="{escape(checkout.token)}"><h2>Confirming your payment…</h2>'
                "<p>This takes a few seconds: the page shows your order number as soon as "
                "the payment provider confirms it.</p><noscript><p>Reload this page in a "
                "moment to see your order number.</p></noscript></div>"
                '<script src="/static/checkout-status.js" defer></script>')
    else:
        body = ('<div class="bad" role="alert"><h2>This payment did not go through</h2>'
                f"<p>{escape(checkout.failure_reason or 'The payment link expired.')} "
                "Nothing was charged for an order. Ask for a new payment link in the chat."
                "</p></div>")
    return _respond("Your payment", body + '<p><a href="/chat">Back to the chat</a></p>',
                    shop_name)


async def payment_cancelled(request: web.Request) -> web.Response:
    shop_name = request.app[SETTINGS].shop_name
    checkout, number = await _checkout(request)
    if checkout is None:
        return _unknown(shop_name)
    if number:  # paid after all (another tab): say so rather than offer to pay twice
        body = _paid(number, checkout)
    elif checkout.status == "open" and checkout.payment_url:
        body = ('<section class="card"><h1>Payment not completed</h1><p>Nothing was '
                f"charged. Your basket ({_total(checkout)}) is kept, and the same payment "
                f"link works until {checkout.expires_at:%H:%M} UTC.</p>"
                f'<p><a class="button" href="{escape(checkout.payment_url)}" '
                'rel="noreferrer">Pay now</a></p></section>')
    else:
        body = ('<section class="card"><h1>Payment not completed</h1><p>Nothing was '
                "charged. This payment link is no longer valid: ask for a new one in the "
                "chat and your basket is still there.</p></section>")
    return _respond("Payment not completed",
                    body + '<p><a href="/chat">Back to the chat</a></p>', shop_name)
