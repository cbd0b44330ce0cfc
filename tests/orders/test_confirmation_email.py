"""The order confirmation e-mail, and one purchase from cart to delivery through the API."""

from __future__ import annotations

import asyncio
import email
from email import policy
from urllib.parse import urlsplit

from assistant_calls import from_the_assistant
from order_factories import (
    ADDRESS,
    ADMIN,
    get_json,
    make_order,
    make_variant,
    outbox_messages,
    post_json,
)

from storefront_api.db import utcnow
from storefront_api.orders.emails import enqueue_confirmation
from storefront_api.orders.service import order_by_number
from storefront_api.outbox.delivery import compose


async def test_confirmation_lists_the_order_and_links_to_it(client, db, settings):
    order = await make_order(db, quantity=3, shipping=599, tax=120)
    async with db.write() as session:
        await enqueue_confirmation(session, await order_by_number(session, order["number"]),
                                   settings)
    [queued] = await outbox_messages(db, to=order["email"])
    payload = queued.payload
    assert payload["tag"] == "order-confirmation"
    assert payload["subject"] == f"Order {order['number']} confirmed — {settings.shop_name}"
    text = payload["text"]
    variant = order["variant"]
    for expected in (order["number"], f"3 x {variant['product_title']} (Navy / M)",
                     f"SKU {variant['sku']}", "$25.00 each", "$75.00", "Shipping, Standard "
                     "delivery", "$5.99", "Tax", "$1.20", "Total paid", "$82.19",
                     "Delivery: Standard delivery to", ADDRESS["name"], "Arlington, VA 22201"):
        assert expected in text, expected
    link = next(line.strip() for line in text.splitlines() if "/api/orders/" in line)
    assert link.startswith(settings.storefront_url)
    parts = urlsplit(link)
    seen = await get_json(client, f"{parts.path}?{parts.query}")  # the link opens the order
    assert seen["number"] == order["number"]

    message = compose(queued.id, payload, settings, created_at=queued.created_at)
    parsed = email.message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed["To"] == order["email"] and parsed.get_content() == text


async def test_a_purchase_from_cart_to_delivery(client, db, settings):
    """Checkout, the test gateway's payment page, the webhook, then the merchant's side."""
    variant = await make_variant(db, stock=5, price=1800)
    shopper = from_the_assistant(f"conv-e2e-{variant['id']}", "web")
    cart = await (await client.post("/api/carts", json={}, headers=shopper)).json()
    added = await client.post(f"/api/carts/{cart['token']}/items",
                              json={"variant_id": variant["id"], "quantity": 2}, headers=shopper)
    assert added.status == 201, await added.text()
    email_address = f"e2e-{variant['id']}@example.com"
    checkout = await client.post(f"/api/carts/{cart['token']}/checkout", headers=shopper, json={
        "email": email_address, "shipping_address": ADDRESS, "shipping_method": "standard"})
    assert checkout.status == 201, await checkout.text()
    checkout = await checkout.json()
    paid = await client.post(urlsplit(checkout["payment_url"]).path, data={
        "number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123", "name": "G Hopper"})
    assert paid.status == 200, await paid.text()
    number = (await get_json(client, f"/api/checkouts/{checkout['token']}"))["order_number"]

    order = await get_json(client, f"/api/orders/{number}", params={"email": email_address})
    assert order["status"] == "awaiting_preparation"
    assert order["lines"][0]["quantity"] == 2 and order["lines"][0]["sku"] == variant["sku"]
    assert order["totals"]["total"] == checkout["totals"]["total"]

    shipped = await post_json(client, f"/api/admin/orders/{number}/shipments", {}, expect=201,
                              headers=ADMIN)
    tracking = shipped["shipments"][0]["tracking_number"]
    for _ in range(5):
        await post_json(client, f"/api/admin/shipments/{tracking}/events", {}, expect=201)
    order = await get_json(client, f"/api/orders/{number}", params={"email": email_address})
    assert [h["status"] for h in order["history"]] == [
        "awaiting_preparation", "being_prepared", "shipped", "delivered"]

    tags = [m.payload["tag"] for m in await outbox_messages(db, to=email_address)]
    assert tags == ["order-confirmation", "order-shipped", "order-out-for-delivery",
                    "order-delivered"]
    intents = [m.payload["intent"] for m in
               await outbox_messages(db, conversation_id=shopper["X-Conversation-Id"])]
    assert intents == ["EXTERNAL_payment_received", "EXTERNAL_order_shipped",
                       "EXTERNAL_order_delivered"]
    # The application's own sender writes the e-mails to var/outbox/ (no SMTP_URL here).
    deadline = utcnow().timestamp() + 10
    while utcnow().timestamp() < deadline:
        written = [email.message_from_bytes(path.read_bytes(), policy=policy.default)
                   for path in (settings.var_dir / "outbox").glob("*.eml")]
        mine = [m for m in written if m["To"] == email_address]
        if len(mine) == 4:
            break
        await asyncio.sleep(0.1)
    assert sorted(m["X-Aisle-Tag"] for m in mine) == sorted(tags)
