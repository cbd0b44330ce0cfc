"""The test gateway's hosted payment page: GET/POST /pay/{session_id} (plain HTML, not /api).

It plays the part of Stripe's hosted page. The card form only classifies the number against
Stripe's test cards (nothing is stored or logged); a successful payment is reported the way
Stripe reports one: a signed ``checkout.session.completed`` event POSTed to this server's
/api/payments/webhook, whose answer (the order number) the page then shows.

The page exists only while PAYMENT_GATEWAY=test, and only for checkouts made with it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from datetime import datetime
from html import escape

import aiohttp
from aiohttp import web

from ...app_keys import DB, PAYMENT_GATEWAY, SETTINGS
from ...auth import same_secret
from ...db import utcnow
from . import page_html as html
from .gateway import TestGateway, classify_card

log = logging.getLogger("storefront_api.payments")

CHALLENGE_SECONDS = 15 * 60  # how long a 3-D Secure confirmation may wait
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the URL holds the session id
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
_FIELD_LIMIT = 100


def register_pages(app: web.Application) -> None:
    app.router.add_get("/pay/{session_id}", show_payment_page)
    app.router.add_post("/pay/{session_id}", pay)
    app.router.add_post("/pay/{session_id}/authenticate", authenticate)


def _respond(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8",
                        headers=_HEADERS)


# --- the checkout behind a session ---------------------------------------------------------

async def _checkout_and_page(request: web.Request):
    """The open checkout of this session and its view; or the page to show instead."""
    from ...checkout.complete import checkout_by_gateway_session
    from ...orders.service import order_for_checkout
    settings, gateway = request.app[SETTINGS], request.app[PAYMENT_GATEWAY]
    session_id = request.match_info["session_id"]
    checkout, order_number = None, None
    if isinstance(gateway, TestGateway) and re.fullmatch(r"cs_test_[\w-]{8,80}", session_id):
        async with request.app[DB].read() as session:
            checkout = await checkout_by_gateway_session(session, session_id, for_update=False)
            if checkout is not None and checkout.status == "completed":
                order = await order_for_checkout(session, checkout.id)
                order_number = order.number if order else None
    shop = settings.shop_name
    if checkout is None or checkout.gateway != TestGateway.name:
        return None, _notice(shop, "This payment link is not valid", 404, "bad", (
            "We found no payment for this link. Check that you opened the whole link, or ask "
            "the assistant for a new one."))
    if checkout.status == "completed":
        return None, _notice(shop, "This order is already paid", 200, "ok",
                             _order_sentence(order_number, checkout.email))
    if checkout.status == "failed":
        return None, _notice(shop, "This payment can no longer be made", 410, "bad", (
            "Nothing more will be charged for this link. Ask the assistant to check out again "
            "for a new link."))
    if checkout.status != "open" or checkout.expires_at <= utcnow():
        return None, _notice(shop, "This payment link has expired", 410, "bad", (
            "Nothing was charged, and the items are no longer held for you. Ask the assistant "
            "for a new payment link."))
    view = html.PayView(shop_name=shop, session_id=session_id, summary=checkout.summary,
                        currency=checkout.currency, total=checkout.total, email=checkout.email,
                        expires_at=checkout.expires_at, now=utcnow())
    return (checkout, view), None


def _notice(shop: str, title: str, status: int, tone: str, *paragraphs: str) -> web.Response:
    """A page that only tells something; ``paragraphs`` are HTML, already escaped."""
    return _respond(html.message_page(shop, title, list(paragraphs), tone=tone), status)


def _order_sentence(order_number: str | None, email: str) -> str:
    if order_number:
        return (f"Your order number is <strong>{escape(order_number)}</strong>. A confirmation "
                f"is on its way to {escape(email)}.")
    return f"A confirmation is on its way to {escape(email)}."


# --- the card form -------------------------------------------------------------------------

def _form_errors(form, now: datetime) -> dict[str, str]:
    """Shape checks only: which test card it is is decided afterwards."""
    errors = {}
    number = re.sub(r"[\s-]", "", form.get("number", ""))
    if not re.fullmatch(r"\d{12,19}", number):
        errors["number"] = "Enter the card number (12 to 19 digits)."
    match = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*", form.get("expiry", ""))
    if not match or not 1 <= int(match.group(1)) <= 12:
        errors["expiry"] = "Enter the expiry date as MM/YY, e.g. 12/34."
    else:
        month, year = int(match.group(1)), int(match.group(2)) % 100 + 2000
        if (year, month) < (now.year, now.month):
            errors["expiry"] = "This card has expired: use a future expiry date."
    if not re.fullmatch(r"\d{3,4}", form.get("cvc", "").strip()):
        errors["cvc"] = "Enter the 3 or 4 digit security code."
    if not form.get("name", "").strip():
        errors["name"] = "Enter the name on the card."
    return errors


async def _read_form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {key: str(form.get(key, ""))[:_FIELD_LIMIT]
            for key in ("number", "expiry", "cvc", "name", "challenge", "result")}


async def show_payment_page(request: web.Request) -> web.Response:
    found, other = await _checkout_and_page(request)
    if other is not None:
        return other
    return _respond(html.payment_form(found[1], html.FormState()))


async def pay(request: web.Request) -> web.Response:
    found, other = await _checkout_and_page(request)
    if other is not None:
        return other
    checkout, view = found
    form = await _read_form(request)
    state = html.FormState(name=form["name"].strip(), errors=_form_errors(form, utcnow()))
    if state.errors:
        state.message = "Please correct the fields marked below."
        return _respond(html.payment_form(view, state), 422)
    outcome = classify_card(form["number"])  # the number goes no further than this line
    if outcome == "unknown":
        state.message = ("This page takes test cards only: use a test card listed below, "
                         "e.g. 4242 4242 4242 4242.")
        state.errors["number"] = "Not a test card."
        return _respond(html.payment_form(view, state), 422)
    if outcome == "declined":
        state.message = ("Your card was declined. Nothing was charged: try again, or use "
                         "another card.")
        return _respond(html.payment_form(view, state), 402)
    if outcome == "authentication_required":
        challenge = _challenge(request.app[PAYMENT_GATEWAY], view.session_id, int(time.time()))
        return _respond(html.authentication_page(view, challenge))
    return await _confirm(request, checkout, view)


async def authenticate(request: web.Request) -> web.Response:
    found, other = await _checkout_and_page(request)
    if other is not None:
        return other
    checkout, view = found
    form = await _read_form(request)
    if not _challenge_valid(request.app[PAYMENT_GATEWAY], view.session_id, form["challenge"]):
        state = html.FormState(message="The authentication timed out. Nothing was charged: "
                                       "enter your card again.")
        return _respond(html.payment_form(view, state), 422)
    if form["result"] != "complete":
        state = html.FormState(message="Authentication failed, so the card was not charged. "
                                       "Try again, or use another card.")
        return _respond(html.payment_form(view, state), 402)
    return await _confirm(request, checkout, view)


# --- 3-D Secure: a signed, short-lived proof that the card step happened --------------------

def _challenge(gateway: TestGateway, session_id: str, issued: int) -> str:
    mac = hmac.new(gateway.webhook_secret.encode(), f"3ds:{session_id}:{issued}".encode(),
                   hashlib.sha256).hexdigest()
    return f"{issued}.{mac}"


def _challenge_valid(gateway: TestGateway, session_id: str, challenge: str) -> bool:
    issued, _, _mac = challenge.partition(".")
    if not issued.isdigit() or time.time() - int(issued) > CHALLENGE_SECONDS:
        return False
    return same_secret(challenge, _challenge(gateway, session_id, int(issued)))


# --- telling the webhook, as Stripe would --------------------------------------------------

async def _confirm(request: web.Request, checkout, view: html.PayView) -> web.Response:
    """The payment succeeded: deliver the signed event and show what the webhook answered."""
    from ...checkout.service import payment_request
    gateway: TestGateway = request.app[PAYMENT_GATEWAY]
    shaped = payment_request(checkout, request.app[SETTINGS])  # what Stripe would echo back
    event = gateway.completed_event(checkout, metadata=shaped.metadata,
                                    client_reference_id=shaped.cart_reference)
    payload = json.dumps(event, separators=(",", ":")).encode()
    answer = await _deliver(_webhook_url(request), payload, gateway.sign(payload))
    shop = view.shop_name
    order_number = (answer or {}).get("order_number")
    paid = "Payment received — thank you"
    if order_number:
        return _notice(shop, paid, 200, "ok", f"We received {view.money(view.total)}.",
                       _order_sentence(order_number, checkout.email))
    if await _sold_out_meanwhile(request, view.session_id):
        return _notice(shop, "We could not complete your order", 200, "bad",
                       "An item sold out while you were paying, after the time we could hold "
                       "it for you.",
                       f"Your payment of {view.money(view.total)} is being refunded in full; "
                       f"an e-mail to {escape(checkout.email)} confirms it.")
    return _notice(shop, paid, 200, "ok",
                   f"We received {view.money(view.total)} and are confirming your payment.",
                   f"Your order confirmation will be sent to {escape(checkout.email)}; the "
                   "assistant will tell you the order number in the chat.")


async def _sold_out_meanwhile(request: web.Request, session_id: str) -> bool:
    """The webhook made no order: was the payment refused because the stock went meanwhile?"""
    from ...checkout.complete import checkout_by_gateway_session
    async with request.app[DB].read() as session:
        checkout = await checkout_by_gateway_session(session, session_id, for_update=False)
    return checkout is not None and checkout.status == "failed"


def _webhook_url(request: web.Request) -> str:
    """This very server, by the socket the page was served on: unlike the Host header, a
    client cannot point it elsewhere, and it works behind a proxy that terminates TLS."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        host, port = sockname[0], sockname[1]
        host = f"[{host}]" if ":" in host else host
        scheme = "https" if request.transport.get_extra_info("sslcontext") else "http"
        return f"{scheme}://{host}:{port}/api/payments/webhook"
    return str(request.url.with_path("/api/payments/webhook").with_query(None))


async def _deliver(url: str, payload: bytes, signature: str) -> dict | None:
    """POST the event like Stripe: a few quick retries on network errors and 5xx answers
    (Stripe keeps trying for days; a shopper waiting on the page cannot)."""
    headers = {"Content-Type": "application/json", "Stripe-Signature": signature,
               "User-Agent": "Aisle test gateway (Stripe-compatible webhook)"}
    timeout = aiohttp.ClientTimeout(total=20)
    for attempt, pause in enumerate((0.2, 0.6, 0.0)):
        try:
            # ssl=False: the page talks to its own socket, whose certificate names the public
            # host, not this address.
            async with aiohttp.ClientSession(timeout=timeout) as client, \
                    client.post(url, data=payload, headers=headers, ssl=False) as resp:
                if resp.status == 200:
                    return await resp.json()
                text = (await resp.text())[:300]
                log.warning("webhook answered %s on attempt %d: %s", resp.status,
                            attempt + 1, text)
                if resp.status < 500:
                    return None
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            log.warning("webhook delivery attempt %d failed: %s", attempt + 1, exc)
        if pause:
            await asyncio.sleep(pause)
    return None
