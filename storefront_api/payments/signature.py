"""Stripe's webhook signature scheme, shared by both gateways.

The test gateway signs its events exactly as Stripe does, and both gateways verify with the
official library (``stripe.Webhook.construct_event``), so the webhook route runs the same code
whichever gateway is configured:

    Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

Events older than five minutes are refused (Stripe's default tolerance), so a captured
delivery cannot be replayed later. A header that is not ASCII is simply malformed: the
library compares signatures as ``str``, which raises on other characters.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import stripe

from .gateway import InvalidWebhook

TOLERANCE_SECONDS = 300


def sign_payload(payload: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value for ``payload``."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify_event(payload: bytes, signature_header: str | None, secret: str) -> dict[str, Any]:
    """The verified event as plain JSON data, or InvalidWebhook saying what was wrong."""
    if not secret:
        raise InvalidWebhook("no webhook secret is configured")
    if signature_header and not signature_header.isascii():
        raise InvalidWebhook("the Stripe-Signature header is malformed")
    try:
        stripe.Webhook.construct_event(payload, signature_header, secret,
                                       tolerance=TOLERANCE_SECONDS)
        event = json.loads(payload)
    except stripe.SignatureVerificationError as exc:
        raise InvalidWebhook(_reason(str(exc))) from None
    except Exception:  # a signed body that is not JSON: not an event, whatever the library says
        raise InvalidWebhook("the body is not a JSON event") from None
    if not isinstance(event, dict):
        raise InvalidWebhook("the body is not a JSON event")
    return event


def _reason(message: str) -> str:
    """The library's message, shortened to what a sender needs to fix its side."""
    if message.startswith("No Stripe-Signature header"):
        return "the Stripe-Signature header is missing"
    if message.startswith("Timestamp outside the tolerance zone"):
        return f"the signature is older than {TOLERANCE_SECONDS // 60} minutes"
    if message.startswith("Unable to extract timestamp"):
        return "the Stripe-Signature header is malformed"
    return "the signature does not match the body"
