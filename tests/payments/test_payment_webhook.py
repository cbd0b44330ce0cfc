"""POST /api/payments/webhook: verified, stored once, applied once, in any order."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from assistant_calls import from_the_assistant
from fake_stripe import sign_event
from payment_helpers import (
    expire_hold,
    WEBHOOK,
    cart_with,
    checkout_body,
    checkout_row,
    count_events,
    deliver,
    event_row,
    make_variant,
    open_checkout,
    orders_of,
    refunds_of,
    session_event,
    stock_of,
    webhook_secret,
)
from sqlalchemy import select

from storefront_api.checkout.models import Checkout
from storefront_api.outbox.models import OutboxMessage


async def test_a_paid_session_makes_one_order(client, db):
    checkout = await open_checkout(client, db, stock=3, quantity=2)
    event = session_event(checkout)
    response = await deliver(client, event, webhook_secret(client))
    body = await response.json()
    orders = await orders_of(db, checkout["token"])
    assert response.status == 200 and len(orders) == 1
    assert body == {"received": True, "order_number": orders[0].number}
    assert orders[0].payment_reference == event["data"]["object"]["payment_intent"]
    stored = await event_row(db, event["id"])
    assert stored.type == "checkout.session.completed" and stored.gateway == "test"
    assert stored.outcome == f"order {orders[0].number} created"
    assert stored.payload == event  # kept as received, for the merchant and for audits
    assert await stock_of(db, checkout["variant"]["id"]) == (1, 1)


@pytest.mark.parametrize("case", ["forged", "stale", "no header", "garbage", "not an event",
                                  "changed body"])
async def test_unverified_deliveries_are_400_and_change_nothing(client, db, case):
    checkout = await open_checkout(client, db)
    event = session_event(checkout)
    secret = webhook_secret(client)
    payload = json.dumps(event).encode()
    if case == "forged":
        response = await deliver(client, event, "whsec_not_the_shops")
    elif case == "stale":  # a captured delivery replayed six minutes later
        response = await deliver(client, event, secret, timestamp=int(time.time()) - 360)
    elif case == "no header":
        response = await client.post(WEBHOOK, data=payload,
                                     headers={"Content-Type": "application/json"})
    elif case == "garbage":
        response = await deliver(client, b"\x00{not json", secret)
    elif case == "not an event":
        response = await deliver(client, {"id": event["id"], "hello": "world"}, secret)
    else:
        response = await deliver(client, event, secret, headers={  # signed for another body
            "Stripe-Signature": sign_event(payload + b" ", secret)})
    body = await response.json()
    assert response.status == 400 and response.content_type == "application/problem+json"
    assert body["type"].endswith("/invalid-webhook") and body["detail"], body
    assert await count_events(db, event["id"]) == 0
    assert await orders_of(db, checkout["token"]) == []
    assert (await checkout_row(db, checkout["token"])).status == "open"


async def test_the_same_event_twice_makes_one_order(client, db):
    checkout = await open_checkout(client, db)
    event = session_event(checkout)
    first = await (await deliver(client, event, webhook_secret(client))).json()
    second = await deliver(client, event, webhook_secret(client))
    assert second.status == 200 and await second.json() == {"received": True, "duplicate": True}
    assert "order_number" in first and len(await orders_of(db, checkout["token"])) == 1
    assert await count_events(db, event["id"]) == 1


async def test_three_concurrent_deliveries_of_one_event_make_one_order(client, db):
    checkout = await open_checkout(client, db, stock=2)
    event = session_event(checkout)
    responses = await asyncio.gather(*(deliver(client, event, webhook_secret(client))
                                       for _ in range(3)))
    bodies = [await r.json() for r in responses]
    assert [r.status for r in responses] == [200, 200, 200], bodies
    assert sorted(b.get("duplicate", False) for b in bodies) == [False, True, True]
    orders = await orders_of(db, checkout["token"])
    assert len(orders) == 1 and await count_events(db, event["id"]) == 1
    assert await stock_of(db, checkout["variant"]["id"]) == (1, 1)  # taken once


async def test_different_events_for_one_payment_at_once_make_one_order(client, db):
    """A shopper clicking Pay twice, or completed and async_payment_succeeded together."""
    checkout = await open_checkout(client, db, stock=2)
    events = [session_event(checkout), session_event(checkout),
              session_event(checkout, "checkout.session.async_payment_succeeded")]
    responses = await asyncio.gather(*(deliver(client, e, webhook_secret(client))
                                       for e in events))
    bodies = [await r.json() for r in responses]
    orders = await orders_of(db, checkout["token"])
    assert len(orders) == 1, bodies
    assert all(b.get("order_number") == orders[0].number for b in bodies), bodies
    assert await count_events(db, *(e["id"] for e in events)) == 3
    assert await stock_of(db, checkout["variant"]["id"]) == (1, 1)


async def test_expired_after_completed_leaves_the_order(client, db):
    checkout = await open_checkout(client, db)
    secret = webhook_secret(client)
    await deliver(client, session_event(checkout), secret)
    expired = session_event(checkout, "checkout.session.expired", status="expired",
                            payment_status="unpaid")
    response = await deliver(client, expired, secret)
    assert response.status == 200 and "order_number" not in await response.json()
    row = await checkout_row(db, checkout["token"])
    orders = await orders_of(db, checkout["token"])
    assert row.status == "completed" and len(orders) == 1
    assert orders[0].status == "awaiting_preparation"
    assert (await event_row(db, expired["id"])).outcome == "ignored: checkout already completed"
    failed = session_event(checkout, "checkout.session.async_payment_failed")
    await deliver(client, failed, secret)
    assert (await checkout_row(db, checkout["token"])).status == "completed"


async def test_expired_gives_the_stock_back(client, db):
    checkout = await open_checkout(client, db, stock=1)
    assert await stock_of(db, checkout["variant"]["id"]) == (1, 0)
    expired = session_event(checkout, "checkout.session.expired", status="expired",
                            payment_status="unpaid")
    await deliver(client, expired, webhook_secret(client))
    assert (await checkout_row(db, checkout["token"])).status == "expired"
    assert await stock_of(db, checkout["variant"]["id"]) == (1, 1)
    assert (await event_row(db, expired["id"])).outcome == "checkout expired"


async def test_a_delayed_payment_waits_then_completes_or_fails(client, db):
    secret = webhook_secret(client)
    later = await open_checkout(client, db)
    pending = session_event(later, payment_status="unpaid")
    assert "order_number" not in await (await deliver(client, pending, secret)).json()
    assert (await event_row(db, pending["id"])).outcome.startswith("waiting for the payment")
    assert (await checkout_row(db, later["token"])).status == "open"
    succeeded = await deliver(client, session_event(
        later, "checkout.session.async_payment_succeeded"), secret)
    assert "order_number" in await succeeded.json()
    assert len(await orders_of(db, later["token"])) == 1

    never = await open_checkout(client, db, stock=1)
    await deliver(client, session_event(never, payment_status="unpaid"), secret)
    await deliver(client, session_event(never, "checkout.session.async_payment_failed",
                                        payment_status="unpaid"), secret)
    row = await checkout_row(db, never["token"])
    assert row.status == "failed" and await orders_of(db, never["token"]) == []
    assert await stock_of(db, never["variant"]["id"]) == (1, 1)


async def _chat_checkout(client, db, conversation_id: str) -> dict:
    """A checkout the assistant opened for a chat conversation."""
    chat = from_the_assistant(conversation_id, "telegram")
    variant = await make_variant(db, stock=5, price=2500)
    token = await cart_with(client, variant["id"], headers=chat)
    response = await client.post(f"/api/carts/{token}/checkout", json=checkout_body(),
                                 headers=chat)
    assert response.status == 201, await response.text()
    doc = await response.json()
    return {**doc, "session_id": doc["payment_url"].rsplit("/", 1)[1]}


async def _chat_notices(db, conversation_id: str) -> list[dict]:
    async with db.read() as session:
        rows = (await session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "conversation").order_by(OutboxMessage.id))).all()
    return [m.payload for m in rows if m.payload["conversation_id"] == conversation_id]


async def test_a_failed_payment_is_told_in_the_chat_it_came_from_once(client, db):
    """A delayed payment that fails after the shopper left the page: the conversation hears
    it (no reason: nothing to refund, the bot offers a new link), once however often the
    event comes; a link that merely expired tells nobody."""
    secret = webhook_secret(client)
    failing = await _chat_checkout(client, db, "conv-payment-fails")
    failed = session_event(failing, "checkout.session.async_payment_failed",
                           payment_status="unpaid")
    await deliver(client, failed, secret)
    await deliver(client, failed, secret)
    await deliver(client, session_event(failing, "checkout.session.expired",
                                        payment_status="unpaid"), secret)
    assert [(n["intent"], n["entities"]) for n in await _chat_notices(
        db, "conv-payment-fails")] == [("EXTERNAL_payment_failed", {})]
    expiring = await _chat_checkout(client, db, "conv-link-expires")
    await deliver(client, session_event(expiring, "checkout.session.expired",
                                        payment_status="unpaid"), secret)
    assert (await checkout_row(db, expiring["token"])).status == "expired"
    assert await _chat_notices(db, "conv-link-expires") == []


async def test_unknown_events_and_sessions_are_acknowledged_and_kept(client, db):
    secret = webhook_secret(client)
    other = {"id": "evt_test_other_" + str(time.time_ns()), "type": "customer.created",
             "object": "event", "data": {"object": {"id": "cus_123", "object": "customer"}}}
    response = await deliver(client, other, secret)
    assert response.status == 200 and await response.json() == {"received": True}
    assert (await event_row(db, other["id"])).outcome == "ignored: customer.created is not handled"
    stranger = session_event({"session_id": "cs_test_nobody_knows_this", "email": "x@example.com",
                              "totals": {"total": {"amount": 100, "currency": "USD"}}})
    response = await deliver(client, stranger, secret)
    assert response.status == 200 and await response.json() == {"received": True}
    stored = await event_row(db, stranger["id"])
    assert stored.outcome.startswith("ignored") and stored.checkout_id is None


async def test_a_wrong_amount_makes_no_order(client, db):
    checkout = await open_checkout(client, db)
    event = session_event(checkout, amount_total=1)
    response = await deliver(client, event, webhook_secret(client))
    assert response.status == 200 and await orders_of(db, checkout["token"]) == []
    assert (await event_row(db, event["id"])).outcome.startswith("needs review: paid 1 USD")


async def test_paid_after_the_last_unit_was_sold_is_refunded_once(client, db):
    secret = webhook_secret(client)
    slow = await open_checkout(client, db, stock=1)
    await expire_hold(db, slow["token"])
    fast = await open_checkout(client, db, variant=slow["variant"])
    await deliver(client, session_event(fast), secret)  # the last unit goes to someone else
    late = session_event(slow)
    response = await deliver(client, late, secret)
    assert response.status == 200 and await response.json() == {"received": True}
    assert await orders_of(db, slow["token"]) == []
    row = await checkout_row(db, slow["token"])
    assert row.status == "failed" and row.failure_reason.startswith("paid after")
    [refund] = await refunds_of(db, slow["token"])
    assert (refund.order_id, refund.reason, refund.status) == (None, "out_of_stock", "succeeded")
    assert refund.amount == slow["totals"]["total"]["amount"]
    assert refund.gateway_refund_id.startswith("re_test_")
    assert (await event_row(db, late["id"])).outcome.startswith("paid after")
    # The same payment reported again (another event id): no order, no second refund.
    again = session_event(slow, "checkout.session.async_payment_succeeded")
    await deliver(client, again, secret)
    assert len(await refunds_of(db, slow["token"])) == 1
    assert await orders_of(db, slow["token"]) == []
    assert (await event_row(db, again["id"])).outcome == \
        "ignored: this payment was already refunded"


async def test_paid_after_expiry_with_stock_left_still_makes_the_order(client, db):
    checkout = await open_checkout(client, db, stock=3)
    await expire_hold(db, checkout["token"])
    await deliver(client, session_event(checkout, "checkout.session.expired",
                                        payment_status="unpaid"), webhook_secret(client))
    response = await deliver(client, session_event(checkout), webhook_secret(client))
    assert "order_number" in await response.json()
    assert (await checkout_row(db, checkout["token"])).status == "completed"
    assert await stock_of(db, checkout["variant"]["id"]) == (2, 2)


async def test_webhook_is_in_the_openapi_document(client):
    spec = await (await client.get("/api/openapi.json")).json()
    operation = spec["paths"]["/api/payments/webhook"]["post"]
    assert "Stripe-Signature" in operation["description"]
    assert "/pay/{session_id}" not in spec["paths"]  # the page is HTML, not API
