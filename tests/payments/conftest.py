"""Payment test fixtures: the fake Stripe server and the app on PAYMENT_GATEWAY=stripe
(helpers that take a cart to a payment session are in payment_helpers.py)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

# Imported as ``fake_stripe``, not ``fakes.fake_stripe``: tests/outbox/fakes.py is a module
# named ``fakes`` too, and whichever folder pytest put first on sys.path would win.
FAKES = str(Path(__file__).resolve().parent.parent / "fakes")
if FAKES not in sys.path:
    sys.path.insert(0, FAKES)

from fake_stripe import FakeStripe  # noqa: E402

from storefront_api.app import create_app  # noqa: E402


@pytest.fixture
async def fake_stripe():
    server = await FakeStripe().start()
    yield server
    await server.stop()


@pytest.fixture
def stripe_settings(settings, fake_stripe):
    return dataclasses.replace(settings, payment_gateway="stripe",
                               stripe_api_key=fake_stripe.api_key,
                               stripe_api_base=fake_stripe.url,
                               stripe_webhook_secret=fake_stripe.webhook_secret)


@pytest.fixture
async def stripe_client(aiohttp_client, stripe_settings):
    """The real app, with Stripe as its gateway, talking to the fake Stripe."""
    return await aiohttp_client(create_app(stripe_settings, migrate=False))
