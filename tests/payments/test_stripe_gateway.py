"""PAYMENT_GATEWAY=stripe end to end: the real stripe library against the fake Stripe server."""

from __future__ import annotations

import time
from datetime import timedelta

from payment_helpers import (
    WEBHOOK,
    cart_with,
    checkout_body,
    checkout_row,
    make_variant,
    open_checkout,
    orders_of,
    refunds_of,
)
from sqlalchemy import update

from storefront_api.catalog.models import StockReservation
from storefront_api.checkout.models import Checkout
from storefront_api.db import utcnow
from storefront_api.payments.stripe_gateway import StripeGateway


async def pay_at_stripe(client, fake, session_id: str):
    """The shopper pays on Stripe's page; Stripe tells the webhook."""
    fake.pay(session_id)
    payload, headers = fake.signed(fake.event(session_id))
    return await client.post(WEBHOOK, data=payload, headers=headers)


async def test_checkout_creates_a_stripe_session_with_the_summary(stripe_client, fake_stripe, db):
    checkout = await open_checkout(stripe_client, db, stock=5, price=4000, quantity=2)
    [call] = fake_stripe.calls("POST", "/v1/checkout/sessions")
    session = fake_stripe.sessions[checkout["session_id"]]
    assert checkout["payment_url"] == session["url"]
    assert call.headers["Authorization"] == f"Bearer {fake_stripe.api_key}"
    assert call.headers["Idempotency-Key"].startswith("checkout-")
    assert call.headers.get("Stripe-Version")
    params, totals = call.params, checkout["totals"]
    assert params["mode"] == "payment" and params["customer_email"] == "ada@example.com"
    lines = [(i["price_data"]["product_data"]["name"], int(i["price_data"]["unit_amount"]),
              int(i["quantity"]), i["price_data"]["currency"]) for i in params["line_items"]]
    assert lines[0][1:] == (4000, 2, "usd") and checkout["variant"]["sku"] not in lines[0][0]
    assert checkout["lines"][0]["title"] in lines[0][0]
    assert sum(amount * quantity for _, amount, quantity, _ in lines) == totals["total"]["amount"]
    assert session["amount_total"] == totals["total"]["amount"]  # Stripe charges what we showed
    assert params["metadata"]["checkout_token"] == checkout["token"]
    assert params["metadata"]["order_draft"] == f"2x {checkout['variant']['sku']}"
    assert params["payment_intent_data"]["metadata"] == params["metadata"]
    assert params["client_reference_id"].startswith("cart-")
    assert 30 * 60 <= int(params["expires_at"]) - time.time() <= 24 * 3600
    assert params["success_url"].startswith("http") and params["cancel_url"].startswith("http")


async def test_a_stripe_payment_makes_the_order(stripe_client, fake_stripe, db):
    checkout = await open_checkout(stripe_client, db, stock=2)
    response = await pay_at_stripe(stripe_client, fake_stripe, checkout["session_id"])
    body = await response.json()
    assert response.status == 200, body
    [order] = await orders_of(db, checkout["token"])
    assert body["order_number"] == order.number and order.payment_gateway == "stripe"
    assert order.payment_reference == fake_stripe.sessions[checkout["session_id"]]["payment_intent"]
    status = await (await stripe_client.get(f"/api/checkouts/{checkout['token']}")).json()
    assert status["status"] == "completed" and status["order_number"] == order.number
    # Stripe signs with its own secret: the test gateway's signature is refused here.
    forged = fake_stripe.event(checkout["session_id"])
    forged["id"] = "evt_forged"
    payload, headers = fake_stripe.signed(forged)
    headers["Stripe-Signature"] = headers["Stripe-Signature"].replace("v1=", "v1=0")
    assert (await stripe_client.post(WEBHOOK, data=payload, headers=headers)).status == 400


async def test_a_late_payment_for_sold_stock_is_refunded_at_stripe(stripe_client, fake_stripe,
                                                                   db):
    slow = await open_checkout(stripe_client, db, stock=1, price=1999)
    past = utcnow() - timedelta(minutes=1)
    async with db.write() as session:  # the hold lapsed while the shopper was paying
        row_id = (await checkout_row(db, slow["token"])).id
        await session.execute(update(Checkout).where(Checkout.id == row_id).values(expires_at=past))
        await session.execute(update(StockReservation).where(
            StockReservation.checkout_id == row_id).values(expires_at=past))
    fast = await open_checkout(stripe_client, db, variant=slow["variant"])
    assert "order_number" in await (await pay_at_stripe(
        stripe_client, fake_stripe, fast["session_id"])).json()
    response = await pay_at_stripe(stripe_client, fake_stripe, slow["session_id"])
    assert response.status == 200 and await orders_of(db, slow["token"]) == []
    [call] = fake_stripe.calls("POST", "/v1/refunds")
    intent = fake_stripe.sessions[slow["session_id"]]["payment_intent"]
    assert call.params["payment_intent"] == intent
    assert int(call.params["amount"]) == slow["totals"]["total"]["amount"]
    assert call.params["metadata"] == {"reason": "out_of_stock"} and "reason" not in call.params
    assert call.headers["Idempotency-Key"] == f"refund-checkout-{row_id}-out-of-stock"
    [refund] = await refunds_of(db, slow["token"])
    assert refund.status == "succeeded" and refund.gateway_refund_id in fake_stripe.refunds
    assert fake_stripe.payment_intents[intent]["refunded"] == refund.amount


async def test_stripe_refusing_the_session_is_a_502_and_holds_nothing(stripe_client, fake_stripe,
                                                                      db):
    variant = await make_variant(db, stock=1)
    token = await cart_with(stripe_client, variant["id"])
    fake_stripe.api_key = "sk_test_rotated"  # the shop's key no longer works
    response = await stripe_client.post(f"/api/carts/{token}/checkout", json=checkout_body())
    body = await response.json()
    assert response.status == 502 and body["type"].endswith("payment-provider-unavailable")
    assert "sk_test" not in body["detail"]  # Stripe's message stays in the log
    assert fake_stripe.requests[-1].path == "/v1/checkout/sessions"


async def test_a_stripe_outage_is_retried_with_the_same_idempotency_key(stripe_client,
                                                                        fake_stripe, db):
    fake_stripe.fail_next.append((500, "An unexpected error occurred."))
    checkout = await open_checkout(stripe_client, db)
    calls = fake_stripe.calls("POST", "/v1/checkout/sessions")
    assert len(calls) == 2 and len(fake_stripe.sessions) == 1
    assert calls[0].headers["Idempotency-Key"] == calls[1].headers["Idempotency-Key"]
    assert checkout["session_id"] in fake_stripe.sessions


async def test_expire_and_refund_through_the_gateway(stripe_settings, fake_stripe):
    gateway = StripeGateway(stripe_settings)
    try:
        session = fake_stripe._new_session(None, {
            "mode": "payment", "customer_email": "a@example.com",
            "line_items": [{"price_data": {"currency": "usd", "unit_amount": "700",
                                           "product_data": {"name": "Tee"}}, "quantity": "1"}]})
        await gateway.expire_session(session["id"])
        assert fake_stripe.sessions[session["id"]]["status"] == "expired"
        await gateway.expire_session(session["id"])  # already expired: nothing to do, no error
        other = fake_stripe._new_session(None, {
            "mode": "payment", "customer_email": "a@example.com",
            "line_items": [{"price_data": {"currency": "usd", "unit_amount": "700",
                                           "product_data": {"name": "Tee"}}, "quantity": "2"}]})
        intent = fake_stripe.pay(other["id"])["payment_intent"]
        first = await gateway.refund(intent, 500, "USD", idempotency_key="refund-x",
                                     reason="requested_by_customer")
        again = await gateway.refund(intent, 500, "USD", idempotency_key="refund-x",
                                     reason="requested_by_customer")
        assert first == again and first.status == "succeeded"  # one refund, replayed
        assert fake_stripe.payment_intents[intent]["refunded"] == 500
        assert fake_stripe.calls("POST", "/v1/refunds")[0].params["reason"] == \
            "requested_by_customer"
    finally:
        await gateway.close()
