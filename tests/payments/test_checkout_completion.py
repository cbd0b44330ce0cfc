"""What a paid checkout becomes (checkout/complete.py), seen where a shopper or a merchant sees
it: the one order and what it changes (stock, the code's uses, the cart, the search, the chat
told), or, when the goods or the cart went elsewhere first, no order, the hold given back, the
whole amount refunded and the shopper told why, by e-mail and in the chat."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from assistant_calls import from_the_assistant
from payment_helpers import (
    expire_hold,
    cart_with,
    checkout_body,
    checkout_row,
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
from sqlalchemy import select, update

from storefront_api.app_keys import DB, PAYMENT_GATEWAY, SETTINGS
from storefront_api.catalog import inventory
from storefront_api.catalog.models import Variant
from storefront_api.catalog.search import snapshot
from storefront_api.checkout import complete
from storefront_api.checkout.models import Checkout
from storefront_api.checkout.payment_events import receive_payment_event
from storefront_api.outbox.models import OutboxMessage
from storefront_api.pricing.models import PromoCode

ADMIN = {"Authorization": "Bearer test-admin"}


def _dollars(cents: int) -> str:
    """How the shop writes a USD amount, worked out here by hand: $1,234.56."""
    return f"${cents // 100:,}.{cents % 100:02d}"


async def _outbox(db, *, email: str | None = None, conversation: str | None = None) -> list:
    async with db.read() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    return [m.payload for m in rows
            if (email and m.kind == "email" and m.payload["to"] == email)
            or (conversation and m.kind == "conversation"
                and m.payload["conversation_id"] == conversation)]


async def _chat_checkout(client, db, variant: dict, *, email: str = "ada@example.com",
                         token: str | None = None, quantity: int = 1) -> dict:
    """A payment link the assistant asked for in a conversation of its own."""
    conversation = f"conv-complete-{uuid.uuid4().hex[:10]}"
    chat = from_the_assistant(conversation, "telegram")
    token = token or await cart_with(client, variant["id"], quantity, headers=chat)
    response = await client.post(f"/api/carts/{token}/checkout", json=checkout_body(email),
                                 headers=chat)
    assert response.status == 201, await response.text()
    doc = await response.json()
    return {**doc, "variant": variant, "cart_token": token, "conversation": conversation,
            "session_id": doc["payment_url"].rsplit("/", 1)[1]}


# --- the order, once, and what it changes ---------------------------------------------------

async def test_a_paid_checkout_tells_its_chat_the_order_and_closes_the_cart(client, db):
    variant = await make_variant(db, stock=4, price=1234)
    checkout = await _chat_checkout(client, db, variant, quantity=2)
    response = await deliver(client, session_event(checkout), webhook_secret(client))
    [order] = await orders_of(db, checkout["token"])
    assert (await response.json())["order_number"] == order.number
    assert order.total == checkout["totals"]["total"]["amount"] > 2 * 1234  # shipping to GB
    [notice] = await _outbox(db, conversation=checkout["conversation"])
    assert notice["intent"] == "EXTERNAL_payment_received"
    assert set(notice["entities"]) == {"order_number", "order_total", "order_token"}
    assert notice["entities"]["order_number"] == order.number
    assert notice["entities"]["order_total"] == _dollars(order.total)
    # the token the bot links to opens this order (and only this one)
    token = notice["entities"]["order_token"]
    shown = await client.get(f"/api/orders/{order.number}", params={"token": token})
    assert shown.status == 200 and (await shown.json())["number"] == order.number
    # the cart became the order: it cannot be checked out again
    cart = await (await client.get(f"/api/carts/{checkout['cart_token']}")).json()
    assert cart["status"] == "converted"
    again = await client.post(f"/api/carts/{checkout['cart_token']}/checkout",
                              json=checkout_body())
    assert again.status == 409


async def test_a_single_use_code_is_used_up_by_the_paid_order_only(client, db):
    code_body = {"code": f"ONCE{uuid.uuid4().hex[:8]}".upper(), "kind": "fixed_amount",
                 "value": 500, "usage_limit": 1}
    created = await client.post("/api/admin/promo-codes", json=code_body, headers=ADMIN)
    assert created.status == 201, await created.text()
    variant = await make_variant(db, stock=5, price=3000)
    token = await cart_with(client, variant["id"])
    with_code = checkout_body(promo_code=code_body["code"])
    response = await client.post(f"/api/carts/{token}/checkout", json=with_code)
    assert response.status == 201, await response.text()
    doc = await response.json()
    checkout = {**doc, "session_id": doc["payment_url"].rsplit("/", 1)[1]}
    assert checkout["totals"]["discount"]["amount"] == 500

    async def times_used() -> int:
        async with db.read() as session:
            return await session.scalar(select(PromoCode.times_used).where(
                PromoCode.code == code_body["code"]))
    assert await times_used() == 0  # a link is not a use
    await deliver(client, session_event(checkout), webhook_secret(client))
    assert await times_used() == 1
    await deliver(client, session_event(checkout), webhook_secret(client))  # paid "again"
    assert await times_used() == 1
    other = await cart_with(client, variant["id"])
    refused = await client.put(f"/api/carts/{other}/promo-code",
                               json={"code": code_body["code"]})
    assert refused.status >= 400
    assert "maximum number of times" in (await refused.json())["detail"]


async def test_selling_the_last_unit_takes_the_product_out_of_in_stock_search(client, db,
                                                                              monkeypatch):
    monkeypatch.setattr(snapshot, "CHECK_EVERY", 0)  # no second of lag: read every change
    variant = await make_variant(db, stock=1, price=4321)

    async def in_stock_search() -> set[int]:
        body = await (await client.get("/api/products", params={
            "min_price": "4321", "max_price": "4321", "in_stock": "true", "page_size": "100",
            "facets": "false"})).json()
        return {item["id"] for item in body["items"]}
    checkout = await open_checkout(client, db, variant=variant)
    assert variant["product_id"] in await in_stock_search()  # held, not sold: still stocked
    await deliver(client, session_event(checkout), webhook_secret(client))
    assert await stock_of(db, variant["id"]) == (0, 0)
    assert variant["product_id"] not in await in_stock_search()


async def test_the_second_event_of_a_paid_checkout_names_the_first_order(client, db):
    checkout = await open_checkout(client, db, stock=3)
    secret = webhook_secret(client)
    await deliver(client, session_event(checkout), secret)
    later = session_event(checkout, "checkout.session.async_payment_succeeded")
    response = await deliver(client, later, secret)
    [order] = await orders_of(db, checkout["token"])
    assert await response.json() == {"received": True, "order_number": order.number}
    assert (await event_row(db, later["id"])).outcome == \
        f"already completed: order {order.number}"
    assert await stock_of(db, checkout["variant"]["id"]) == (2, 2)  # taken once


async def test_a_checkout_completed_without_an_order_makes_none_later(client, db):
    """A checkout marked completed by hand (a repaired row) has no order to name: a payment
    event for it says so and creates nothing."""
    checkout = await open_checkout(client, db, stock=2)
    async with db.write() as session:
        await session.execute(update(Checkout).where(Checkout.token == checkout["token"])
                              .values(status="completed"))
    event = session_event(checkout)
    response = await deliver(client, event, webhook_secret(client))
    assert await response.json() == {"received": True}
    assert (await event_row(db, event["id"])).outcome == "already completed: order ?"
    assert await orders_of(db, checkout["token"]) == []
    assert await refunds_of(db, checkout["token"]) == []


async def test_a_crash_after_the_order_is_written_loses_nothing(client, db, monkeypatch):
    """AISLE_CRASH_AT=order-created (the fault test's power cut, tests/checkout/
    test_crash_recovery.py) stops the process with the order written but not committed: the
    event and the order roll back together, and the redelivery makes the one order."""
    class PowerCut(Exception):
        pass

    def cut(code):
        raise PowerCut(code)
    crashing = SimpleNamespace(environ={"AISLE_CRASH_AT": "order-created"}, _exit=cut)
    monkeypatch.setattr("storefront_api.faults.os", crashing)
    checkout = await open_checkout(client, db, stock=2)
    event = session_event(checkout)
    app = client.app
    with pytest.raises(PowerCut):
        await receive_payment_event(app[DB], app[PAYMENT_GATEWAY], app[SETTINGS], event)
    assert await orders_of(db, checkout["token"]) == [] and await event_row(db, event["id"]) is None
    assert (await checkout_row(db, checkout["token"])).status == "open"
    crashing.environ.clear()
    receipt = await receive_payment_event(app[DB], app[PAYMENT_GATEWAY], app[SETTINGS], event)
    [order] = await orders_of(db, checkout["token"])
    assert receipt.order_number == order.number
    assert await stock_of(db, checkout["variant"]["id"]) == (1, 1)


# --- no order: the money goes back, the shopper is told why -------------------------------

async def test_an_old_link_paid_after_the_cart_was_ordered_is_refunded_in_full(client, db):
    """One cart, one order: the link the shopper replaced (another e-mail) is paid after the
    new one became the order."""
    variant = await make_variant(db, stock=5, price=1500)
    old = await _chat_checkout(client, db, variant, email="first@example.com")
    new = await _chat_checkout(client, db, variant, email="second@example.com",
                               token=old["cart_token"])
    assert (await checkout_row(db, old["token"])).status == "expired"  # replaced
    secret = webhook_secret(client)
    await deliver(client, session_event(new), secret)
    late = session_event(old)
    response = await deliver(client, late, secret)
    assert response.status == 200 and await response.json() == {"received": True}
    assert await orders_of(db, old["token"]) == [] and len(await orders_of(db, new["token"])) == 1
    row = await checkout_row(db, old["token"])
    assert (row.status, row.failure_reason) == ("failed",
                                                "paid after this cart was already ordered")
    [refund] = await refunds_of(db, old["token"])
    assert (refund.amount, refund.status) == (old["totals"]["total"]["amount"], "succeeded")
    assert (await event_row(db, late["id"])).outcome == \
        "paid after this cart was already ordered: full refund"
    assert await stock_of(db, variant["id"]) == (4, 4)  # one unit sold, none held
    [mail] = await _outbox(db, email="first@example.com")
    assert mail["tag"] == "payment-refunded-cart_already_ordered"
    assert mail["subject"] == \
        "We could not complete your order — your payment is being refunded"
    assert mail["text"] == (
        "Sorry: this cart was already ordered. We are refunding the full "
        f"{_dollars(old['totals']['total']['amount'])}; it reaches your account within a few "
        "days. Nothing else is needed from you.")
    notices = [(n["intent"], n["entities"]) for n in
               await _outbox(db, conversation=old["conversation"])]
    assert notices == [("EXTERNAL_payment_failed", {"reason": "cart_already_ordered"})]


async def test_sold_out_while_paying_tells_the_shopper_what_and_why(client, db):
    variant = await make_variant(db, stock=1, price=2000)
    slow = await _chat_checkout(client, db, variant, email="slow@example.com")
    await expire_hold(db, slow["token"])
    fast = await open_checkout(client, db, variant=variant)
    secret = webhook_secret(client)
    await deliver(client, session_event(fast), secret)
    await deliver(client, session_event(slow), secret)
    row = await checkout_row(db, slow["token"])
    assert (row.status, row.failure_reason) == ("failed", f"paid after {variant['sku']} sold out")
    [mail] = await _outbox(db, email="slow@example.com")
    assert mail["tag"] == "payment-refunded-sold_out"
    tag = variant["sku"].split("-")[1]  # the product is "Test Tee <tag>"
    assert mail["text"].startswith(f"Sorry: Test Tee {tag} sold out while your "
                                   "payment was being processed, after your reservation had "
                                   "expired. We are refunding the full "
                                   f"{_dollars(slow['totals']['total']['amount'])};")
    notices = [(n["intent"], n["entities"]) for n in
               await _outbox(db, conversation=slow["conversation"])]
    assert notices == [("EXTERNAL_payment_failed", {"reason": "sold_out", "sku": variant["sku"]})]


async def test_a_refused_payment_gives_its_hold_back_at_once(client, db):
    """The merchant counted the shelf while a link held two units and found one: the payment
    cannot become an order, and the held units are for sale again at once (not when the
    link would have expired)."""
    variant = await make_variant(db, stock=2, price=900)
    checkout = await open_checkout(client, db, variant=variant, quantity=2)
    assert await stock_of(db, variant["id"]) == (2, 0)
    async with db.write() as session:
        await session.execute(update(Variant).where(Variant.id == variant["id"]).values(stock=1))
    await deliver(client, session_event(checkout), webhook_secret(client))
    assert await orders_of(db, checkout["token"]) == []
    assert (await checkout_row(db, checkout["token"])).status == "failed"
    assert await stock_of(db, variant["id"]) == (1, 1)
    [refund] = await refunds_of(db, checkout["token"])
    assert refund.amount == checkout["totals"]["total"]["amount"]


# --- other open checkouts of the cart, and closing ------------------------------------------

async def test_paying_one_checkout_closes_the_cart_s_other_open_ones(client, db):
    """Two open checkouts of one cart (left by an older version, which did not close the old
    link when a new one was asked for): the one not paid is closed and its hold given back;
    another cart's open checkout is left alone."""
    variant = await make_variant(db, stock=4, price=1100)
    first = await open_checkout(client, db, variant=variant)
    token = first["cart_token"]
    response = await client.post(f"/api/carts/{token}/checkout",
                                 json=checkout_body("other@example.com"))
    assert response.status == 201, await response.text()
    doc = await response.json()
    second = {**doc, "session_id": doc["payment_url"].rsplit("/", 1)[1]}
    stranger = await open_checkout(client, db, variant=variant)  # another shopper's cart
    async with db.write() as session:  # the first link, open again with its hold
        row = await session.scalar(select(Checkout).where(Checkout.token == first["token"]))
        row.status, row.failure_reason = "open", None
        await inventory.reserve(session, row.id, {variant["id"]: 1}, row.expires_at)
    assert await stock_of(db, variant["id"]) == (4, 1)  # three links hold a unit each
    await deliver(client, session_event(second), webhook_secret(client))
    closed = await checkout_row(db, first["token"])
    assert (closed.status, closed.failure_reason) == \
        ("expired", "another checkout of this cart was paid")
    assert (await checkout_row(db, stranger["token"])).status == "open"
    assert (await checkout_row(db, second["token"])).status == "completed"
    assert await stock_of(db, variant["id"]) == (3, 2)  # sold one, the stranger holds one


async def test_closing_keeps_a_completed_checkout_and_refuses_other_statuses(client, db):
    checkout = await open_checkout(client, db, stock=2)
    await deliver(client, session_event(checkout), webhook_secret(client))
    async with db.write() as session:
        row = await session.scalar(select(Checkout).where(Checkout.token == checkout["token"]))
        assert await complete.close_checkout(session, row, status="expired",
                                             reason="late sweep") is False
        with pytest.raises(ValueError, match="^completed$"):
            await complete.close_checkout(session, row, status="completed", reason="no")
    assert (await checkout_row(db, checkout["token"])).status == "completed"


async def test_a_long_reason_is_cut_to_250_characters(client, db):
    checkout = await open_checkout(client, db, stock=2)
    async with db.write() as session:
        row = await session.scalar(select(Checkout).where(Checkout.token == checkout["token"]))
        assert await complete.close_checkout(session, row, status="failed",
                                             reason="x" * 249 + "yz" + "z" * 50)
    row = await checkout_row(db, checkout["token"])
    assert (row.status, row.failure_reason) == ("failed", "x" * 249 + "y")
    assert await stock_of(db, checkout["variant"]["id"]) == (2, 2)
