"""Stripe Checkout through the official library (PAYMENT_GATEWAY=stripe).

One Checkout Session per checkout attempt; the shopper pays on Stripe's hosted page, and
Stripe tells /api/payments/webhook. Calls use the library's async methods over its aiohttp
client (no extra dependency), with Stripe's own retries and our idempotency keys, so a retried
request never makes a second session or a second refund.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import stripe

from ..money import stripe_amount
from ..settings import Settings
from .gateway import (
    GatewayError,
    PaymentRequest,
    PaymentSession,
    RefundResult,
)
from .signature import verify_event

log = logging.getLogger("storefront_api.payments")

# Stripe refuses a session that expires less than 30 minutes or more than 24 hours after it
# is created (by its own clock): keep a margin on both sides.
MIN_SESSION_LIFETIME = timedelta(minutes=31)
MAX_SESSION_LIFETIME = timedelta(hours=23, minutes=55)
# Stripe's limits on metadata: 50 keys, keys up to 40 characters, values up to 500.
_METADATA_KEYS, _METADATA_KEY_LEN, _METADATA_VALUE_LEN = 50, 40, 500
_STRIPE_REASONS = {"duplicate", "fraudulent", "requested_by_customer"}
_REFUND_STATUS = {"succeeded": "succeeded", "pending": "pending", "requires_action": "pending",
                  "failed": "failed", "canceled": "failed"}


def _metadata(values: dict[str, str]) -> dict[str, str]:
    clean = {str(k)[:_METADATA_KEY_LEN]: str(v)[:_METADATA_VALUE_LEN]
             for k, v in values.items() if v is not None and v != ""}
    return dict(list(clean.items())[:_METADATA_KEYS])


def _unix(moment: datetime) -> int:
    """Naive datetimes in this code base are UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def session_expiry(wanted: datetime, now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    lowest, highest = _unix(now + MIN_SESSION_LIFETIME), _unix(now + MAX_SESSION_LIFETIME)
    return min(max(_unix(wanted), lowest), highest)


def line_items(request: PaymentRequest, shop_name: str) -> list[dict[str, Any]]:
    """Stripe line items, in Stripe's units, that add up to exactly the total the shopper
    confirmed.

    Stripe computes what it charges from the lines. If ours do not add up to the total in
    Stripe's units (a discount, which Stripe cannot take as a negative line; a three-decimal
    price Stripe cannot take to the last digit) the shopper is charged one line with the
    total, so the amount is always the one shown in the chat."""
    currency = request.currency
    total = stripe_amount(request.total, currency)
    items = [(i.name, i.unit_amount, i.quantity) for i in request.line_items]
    if any(amount < 0 or quantity < 1 for _, amount, quantity in items) or \
            sum(stripe_amount(a, currency) * q for _, a, q in items) != total:
        items = [(f"Order from {shop_name}", request.total, 1)]
    return [{"price_data": {"currency": currency.lower(),
                            "unit_amount": stripe_amount(amount, currency),
                            "product_data": {"name": name[:250] or "Item"}},
             "quantity": quantity} for name, amount, quantity in items]


class StripeGateway:
    name = "stripe"

    def __init__(self, settings: Settings):
        if not settings.stripe_api_key:
            raise ValueError("PAYMENT_GATEWAY=stripe needs STRIPE_API_KEY "
                             "(sk_live_... or sk_test_...)")
        if not settings.stripe_webhook_secret:
            raise ValueError("PAYMENT_GATEWAY=stripe needs STRIPE_WEBHOOK_SECRET (whsec_...), "
                             "the signing secret of the endpoint /api/payments/webhook")
        self.settings = settings
        self._http = stripe.AIOHTTPClient(timeout=aiohttp.ClientTimeout(total=30))
        self._client = stripe.StripeClient(
            settings.stripe_api_key, http_client=self._http, max_network_retries=2,
            base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None)

    async def create_session(self, request: PaymentRequest) -> PaymentSession:
        metadata = _metadata(request.metadata)
        params = {
            "mode": "payment",
            "line_items": line_items(request, self.settings.shop_name),
            "customer_email": request.email,
            "client_reference_id": request.cart_reference,
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "expires_at": session_expiry(request.expires_at),
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
        }
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                params, {"idempotency_key": request.idempotency_key})
        except stripe.StripeError as exc:
            raise _gateway_error("create a checkout session", exc) from None
        expires_at = datetime.fromtimestamp(session.expires_at, UTC).replace(tzinfo=None)
        return PaymentSession(id=session.id, url=session.url, expires_at=expires_at)

    async def expire_session(self, session_id: str) -> None:
        try:
            await self._client.v1.checkout.sessions.expire_async(session_id)
        except stripe.InvalidRequestError as exc:
            # Already complete or expired: nothing left to stop, and the webhook tells us which.
            log.info("Stripe did not expire %s: %s", session_id, exc.user_message)
        except stripe.StripeError as exc:
            raise _gateway_error("expire a checkout session", exc) from None

    async def refund(self, payment_reference: str, amount: int, currency: str, *,
                     idempotency_key: str, reason: str) -> RefundResult:
        params: dict[str, Any] = {"payment_intent": payment_reference,
                                  "amount": stripe_amount(amount, currency),
                                  "metadata": {"reason": reason[:_METADATA_VALUE_LEN]}}
        if reason in _STRIPE_REASONS:  # Stripe refuses any other reason; ours go in metadata
            params["reason"] = reason
        try:
            refund = await self._client.v1.refunds.create_async(
                params, {"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            raise _gateway_error("refund a payment", exc) from None
        return RefundResult(id=refund.id, status=_REFUND_STATUS.get(refund.status, "pending"),
                            failure_reason=getattr(refund, "failure_reason", None))

    def verify_webhook(self, payload: bytes, signature_header: str) -> dict[str, Any]:
        return verify_event(payload, signature_header, self.settings.stripe_webhook_secret)

    async def close(self) -> None:
        await self._http.close_async()


def _gateway_error(action: str, exc: stripe.StripeError) -> GatewayError:
    """Log what Stripe said (with its request id, for their support); tell the caller a
    sentence that is safe to pass on to a shopper."""
    log.warning("Stripe refused to %s: %s %s (request %s)", action, type(exc).__name__,
                exc.user_message or exc, getattr(exc, "request_id", None))
    if isinstance(exc, (stripe.APIConnectionError, stripe.RateLimitError)) or \
            (exc.http_status or 0) >= 500:
        return GatewayError("The payment provider is not answering right now; please try "
                            "again in a minute.")
    return GatewayError("The payment provider refused the request; the shop has been told.")
