"""Stripe's signature scheme, the test cards, and the fake Stripe's form decoding (no database)."""

from __future__ import annotations

import json
import time
from datetime import UTC

import pytest
import stripe
from fake_stripe import decode_form, sign_event

from storefront_api.payments.builtin.gateway import (
    TestGateway,
    classify_card,
    webhook_secret_for,
)
from storefront_api.payments.gateway import InvalidWebhook
from storefront_api.payments.gateways import gateway_for
from storefront_api.payments.signature import sign_payload, verify_event
from storefront_api.payments.stripe_gateway import line_items, session_expiry
from storefront_api.settings import Settings

SECRET = "whsec_unit_test_secret"
EVENT = json.dumps({"id": "evt_1", "type": "checkout.session.completed",
                    "data": {"object": {"id": "cs_test_1"}}}).encode()


def test_our_signature_is_stripes():
    t = int(time.time())
    ours = sign_payload(EVENT, SECRET, timestamp=t)
    theirs = stripe.WebhookSignature.generate_signature_header(EVENT.decode(), SECRET, timestamp=t)
    assert ours == theirs == sign_event(EVENT, SECRET, timestamp=t)
    assert verify_event(EVENT, ours, SECRET)["id"] == "evt_1"


@pytest.mark.parametrize("header,reason", [
    (None, "missing"),
    ("", "missing"),
    ("t=abc,v1=00", "malformed"),
    ("v1=deadbeef", "malformed"),
    (sign_payload(EVENT, "whsec_someone_else"), "does not match"),
    (sign_payload(EVENT, SECRET, timestamp=int(time.time()) - 301), "older than 5 minutes"),
])
def test_bad_signatures_are_refused_with_the_reason(header, reason):
    with pytest.raises(InvalidWebhook, match=reason):
        verify_event(EVENT, header, SECRET)


def test_a_signed_body_that_is_not_an_event_is_refused():
    for body in (b"not json", b"[1, 2]", b"\xff\xfe"):
        with pytest.raises(InvalidWebhook):
            verify_event(body, sign_payload(body, SECRET), SECRET)


def test_a_changed_body_breaks_the_signature():
    header = sign_payload(EVENT, SECRET)
    with pytest.raises(InvalidWebhook, match="does not match"):
        verify_event(EVENT.replace(b"evt_1", b"evt_2"), header, SECRET)


@pytest.mark.parametrize("number,kind", [
    ("4242 4242 4242 4242", "succeeds"), ("4242424242424242", "succeeds"),
    ("4000-0000-0000-0002", "declined"), ("4000 0025 0000 3155", "authentication_required"),
    ("5555 5555 5555 4444", "unknown"), ("", "unknown"),
])
def test_test_cards(number, kind):
    assert classify_card(number) == kind


def test_test_gateway_secret(tmp_path):
    base = Settings.from_env(var_dir=tmp_path, secret_key="k1", stripe_webhook_secret="")
    derived = webhook_secret_for(base)
    assert derived.startswith("whsec_test_") and derived != webhook_secret_for(
        Settings.from_env(var_dir=tmp_path, secret_key="k2", stripe_webhook_secret=""))
    configured = Settings.from_env(var_dir=tmp_path, stripe_webhook_secret="whsec_given")
    assert webhook_secret_for(configured) == "whsec_given"
    assert isinstance(gateway_for(base), TestGateway)


def test_stripe_needs_its_keys(tmp_path):
    with pytest.raises(ValueError, match="STRIPE_API_KEY"):
        gateway_for(Settings.from_env(var_dir=tmp_path, payment_gateway="stripe",
                                      stripe_api_key=""))
    with pytest.raises(ValueError, match="PAYMENT_GATEWAY"):
        gateway_for(Settings.from_env(var_dir=tmp_path, payment_gateway="paypal"))


def test_decode_form_rebuilds_nested_keys():
    body = ("mode=payment&line_items[0][price_data][currency]=usd"
            "&line_items[0][price_data][unit_amount]=500&line_items[0][quantity]=2"
            "&line_items[1][quantity]=1&metadata[cart]=cart-1&expand[0]=payment_intent")
    assert decode_form(body) == {
        "mode": "payment",
        "line_items": [{"price_data": {"currency": "usd", "unit_amount": "500"}, "quantity": "2"},
                       {"quantity": "1"}],
        "metadata": {"cart": "cart-1"}, "expand": ["payment_intent"]}


def test_session_expiry_stays_inside_stripes_window():
    from datetime import datetime, timedelta
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    naive = now.replace(tzinfo=None)
    assert session_expiry(naive + timedelta(minutes=30), now) == int(
        (now + timedelta(minutes=31)).timestamp())  # Stripe wants at least 30 minutes
    assert session_expiry(naive + timedelta(hours=2), now) == int(
        (now + timedelta(hours=2)).timestamp())
    assert session_expiry(naive + timedelta(days=3), now) < int(
        (now + timedelta(hours=24)).timestamp())


def test_line_items_always_add_up_to_the_total():
    from datetime import datetime

    from storefront_api.payments.gateway import LineItem, PaymentRequest
    request = PaymentRequest(
        checkout_token="t", cart_reference="cart-1", email="a@example.com", currency="EUR",
        line_items=[LineItem("Tee", 2500, 2), LineItem("Shipping", 495, 1)], total=5495,
        expires_at=datetime(2030, 1, 1), success_url="s", cancel_url="c", idempotency_key="k",
        metadata={})
    items = line_items(request, "Shop")
    assert [(i["price_data"]["unit_amount"], i["quantity"]) for i in items] == [(2500, 2), (495, 1)]
    assert items[0]["price_data"]["currency"] == "eur"
    off = line_items(PaymentRequest(**{**request.__dict__, "total": 5000}), "Shop")
    assert [(i["price_data"]["unit_amount"], i["quantity"]) for i in off] == [(5000, 1)]
