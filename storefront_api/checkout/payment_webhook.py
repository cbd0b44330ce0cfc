"""The payment gateway's webhook, POST /api/payments/webhook (listed under "payments").

Here, not in payments/, because what the events mean is the checkout's business: the route
verifies the event (``payments/webhooks.py``) and hands it to ``payment_events.py``.
"""

from __future__ import annotations

from aiohttp import web

from ..app_keys import DB, PAYMENT_GATEWAY, SETTINGS
from ..problems import Problem, bad_request
from .. import responses
from ..routing import ApiRoutes, json_response
from ..observability import count_webhook
from ..payments.gateway import InvalidWebhook
from ..payments.webhooks import verified_event
from .payment_events import receive_payment_event

routes = ApiRoutes("payments")

# Stripe's checkout.session events are a few kilobytes; leave room, refuse the absurd.
MAX_EVENT_BYTES = 256 * 1024


async def _raw_body(request: web.Request) -> bytes:
    if request.content_length and request.content_length > MAX_EVENT_BYTES:
        raise Problem(413, "Request too large", f"An event is limited to {MAX_EVENT_BYTES} bytes.")
    payload = await request.read()
    if len(payload) > MAX_EVENT_BYTES:
        raise Problem(413, "Request too large", f"An event is limited to {MAX_EVENT_BYTES} bytes.")
    return payload


@routes.post("/api/payments/webhook", summary="Receive a payment event from the gateway",
             errors=(400, 413), raw_body=True,
             response=responses.WebhookReceipt)
async def payment_webhook(request: web.Request) -> web.Response:
    """For the payment gateway only (Stripe, or the built-in test gateway): a Stripe event,
    JSON, signed in the ``Stripe-Signature`` header with the webhook secret. A missing, wrong
    or older than five minutes signature answers 400 and nothing is stored. Each event id is
    processed once: a repeat answers ``{"received": true, "duplicate": true}``. Handled:
    ``checkout.session.completed`` (paid), ``checkout.session.async_payment_succeeded`` and
    ``..._failed``, ``checkout.session.expired``; other events are stored and acknowledged.
    The answer carries ``order_number`` when the payment made (or had made) an order."""
    payload = await _raw_body(request)  # verified as received: never parsed before
    gateway = request.app[PAYMENT_GATEWAY]
    try:
        event = verified_event(gateway, payload, request.headers.get("Stripe-Signature", ""))
    except InvalidWebhook as exc:
        count_webhook("refused")
        raise bad_request(f"Webhook refused: {exc}.", type="invalid-webhook") from None
    receipt = await receive_payment_event(request.app[DB], gateway, request.app[SETTINGS],
                                           event)
    count_webhook("duplicate" if receipt.duplicate else
                  "order" if receipt.order_number else "accepted")
    return json_response(receipt.document())
