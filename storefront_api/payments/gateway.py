"""The one small interface every payment gateway implements (``gateways.py`` chooses one).

PAYMENT_GATEWAY=test (default): the built-in test gateway (``builtin/``), a hosted payment
page served by storefront_api itself. PAYMENT_GATEWAY=stripe: Stripe Checkout through the official library.
Both deliver their outcome the same way: Stripe-shaped events, signed with Stripe's scheme,
POSTed to /api/payments/webhook.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class PaymentSession:
    id: str          # the gateway's id for this payment attempt (e.g. cs_test_...)
    url: str         # the payment link the shopper opens
    expires_at: datetime


@dataclass(frozen=True)
class RefundResult:
    id: str
    status: str      # succeeded | pending | failed
    failure_reason: str | None = None


@dataclass(frozen=True)
class LineItem:
    name: str
    unit_amount: int  # minor units
    quantity: int


@dataclass(frozen=True)
class PaymentRequest:
    """What a gateway needs to take one payment."""
    checkout_token: str
    cart_reference: str          # client_reference_id
    email: str
    currency: str
    line_items: list[LineItem]   # goods, then shipping and tax as their own lines
    total: int
    expires_at: datetime
    success_url: str
    cancel_url: str
    idempotency_key: str         # derived from the cart's content: a retry makes no second session
    metadata: dict[str, str]     # conversation id, checkout token, order draft...


class InvalidWebhook(Exception):
    """The webhook's signature is missing, wrong or too old, or its body is not an event."""


class GatewayError(Exception):
    """The gateway refused or could not be reached; the message is safe to show a shopper."""


class PaymentGateway(Protocol):
    name: str

    async def create_session(self, request: PaymentRequest) -> PaymentSession: ...

    async def expire_session(self, session_id: str) -> None: ...

    async def refund(self, payment_reference: str, amount: int, currency: str, *,
                     idempotency_key: str, reason: str) -> RefundResult: ...

    def verify_webhook(self, payload: bytes, signature_header: str) -> dict[str, Any]:
        """The event as a dict, or InvalidWebhook."""
        ...

    async def close(self) -> None:
        """Release connections (on shutdown)."""
        ...

