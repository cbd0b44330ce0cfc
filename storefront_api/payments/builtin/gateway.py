"""The built-in test gateway (PAYMENT_GATEWAY=test, the default), like Shopify's.

Its payment link opens a hosted page served by storefront_api itself (``pages.py``) that takes
Stripe's test card numbers. A successful payment is delivered the way Stripe delivers one: a
``checkout.session.completed`` event, signed with Stripe's scheme and POSTed to
/api/payments/webhook, so the whole purchase path runs as in production, without a network
or an account. No card number is stored, logged or sent anywhere: it is only classified.

Refunds follow Stripe's rules for the payments this gateway took while it runs: a repeat
of a request (same idempotency key) is answered with its first refund, and a refund above
what is left of the payment is refused, so a bug asking too much fails here as it would at
Stripe. A payment it did not see (taken before a restart, or written straight into the
database by a test) is refunded as asked: nothing tells it that payment's amount.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from typing import Any

from ...money import format_money, stripe_amount
from ...settings import Settings
from ..gateway import GatewayError, PaymentRequest, PaymentSession, RefundResult
from ..signature import sign_payload, verify_event

# Stripe's test cards (https://docs.stripe.com/testing) and what each does on this page.
TEST_CARDS = {
    "4242424242424242": "succeeds",
    "4000000000000002": "declined",
    "4000002500003155": "authentication_required",  # 3-D Secure
}


def classify_card(number: str) -> str:
    """succeeds | declined | authentication_required | unknown (not a test card)."""
    return TEST_CARDS.get(re.sub(r"[\s-]", "", number), "unknown")


def webhook_secret_for(settings: Settings) -> str:
    """STRIPE_WEBHOOK_SECRET when set, else a secret of its own derived from SECRET_KEY."""
    if settings.stripe_webhook_secret:
        return settings.stripe_webhook_secret
    return "whsec_test_" + hashlib.sha256(
        f"aisle test gateway webhook:{settings.secret_key}".encode()).hexdigest()


def payment_intent_id(secret: str, session_id: str) -> str:
    """One payment per session, as at Stripe: paying twice gives the same PaymentIntent id."""
    digest = hmac.new(secret.encode(), f"pi:{session_id}".encode(), hashlib.sha256).hexdigest()
    return "pi_test_" + digest[:24]


class TestGateway:
    __test__ = False  # a gateway, not a pytest test class
    name = "test"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.webhook_secret = webhook_secret_for(settings)
        self._left: dict[str, int] = {}  # payment reference -> minor units not refunded yet
        self._refunds: dict[str, RefundResult] = {}  # idempotency key -> its refund

    async def create_session(self, request: PaymentRequest) -> PaymentSession:
        session_id = "cs_test_" + secrets.token_urlsafe(24)
        return PaymentSession(id=session_id, url=f"{self.settings.storefront_url}/pay/{session_id}",
                              expires_at=request.expires_at)

    async def expire_session(self, session_id: str) -> None:
        """Nothing to do: the page reads the checkout, which the caller closes."""

    def record_payment(self, payment_reference: str, amount: int, currency: str) -> None:
        """A payment this gateway took (the hosted page's), what its refunds draw on."""
        self._left.setdefault(payment_reference, amount)

    async def refund(self, payment_reference: str, amount: int, currency: str, *,
                     idempotency_key: str, reason: str) -> RefundResult:
        if idempotency_key in self._refunds:
            return self._refunds[idempotency_key]
        left = self._left.get(payment_reference)
        if left is not None and amount > left:
            raise GatewayError(f"Refund amount ({format_money(amount, currency)}) is greater "
                               "than the unrefunded amount of the payment "
                               f"({format_money(left, currency)}).")
        if left is not None:
            self._left[payment_reference] = left - amount
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        result = RefundResult(id="re_test_" + digest, status="succeeded")
        self._refunds[idempotency_key] = result
        return result

    def verify_webhook(self, payload: bytes, signature_header: str) -> dict[str, Any]:
        return verify_event(payload, signature_header, self.webhook_secret)

    async def close(self) -> None:
        """Nothing held open."""

    # --- what the hosted page sends -------------------------------------------------------

    def completed_event(self, checkout, *, metadata: dict[str, str],
                        client_reference_id: str | None) -> dict[str, Any]:
        """A ``checkout.session.completed`` event for a paid checkout, shaped like Stripe's."""
        intent = payment_intent_id(self.webhook_secret, checkout.gateway_session_id)
        self.record_payment(intent, checkout.total, checkout.currency)
        return {
            "id": "evt_test_" + secrets.token_urlsafe(18),
            "object": "event",
            "type": "checkout.session.completed",
            "created": int(time.time()),
            "livemode": False,
            "api_version": None,
            "pending_webhooks": 1,
            "data": {"object": {
                "id": checkout.gateway_session_id,
                "object": "checkout.session",
                "mode": "payment",
                "livemode": False,
                "client_reference_id": client_reference_id,
                "metadata": metadata,
                "payment_status": "paid",
                "status": "complete",
                "payment_intent": intent,
                "amount_total": stripe_amount(checkout.total, checkout.currency),
                "currency": checkout.currency.lower(),
                "customer_details": {"email": checkout.email},
            }},
        }

    def sign(self, payload: bytes) -> str:
        return sign_payload(payload, self.webhook_secret)
