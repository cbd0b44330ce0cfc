"""The gateway this shop takes payments with, chosen by PAYMENT_GATEWAY.

Apart from the interface (``gateway.py``) because it imports every implementation, and
each implementation imports the interface.
"""

from __future__ import annotations

from ..settings import Settings
from .gateway import PaymentGateway


def gateway_for(settings: Settings) -> PaymentGateway:
    if settings.payment_gateway == "stripe":
        from .stripe_gateway import StripeGateway
        return StripeGateway(settings)
    if settings.payment_gateway == "test":
        from .builtin.gateway import TestGateway
        return TestGateway(settings)
    raise ValueError(f"PAYMENT_GATEWAY must be 'test' or 'stripe', not {settings.payment_gateway!r}")
