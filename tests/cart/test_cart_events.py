"""Cart actions record GA4-named events, keyed by the cart's row id, never by its token."""

from __future__ import annotations

import uuid

from assistant_calls import from_the_assistant
from cart_helpers import add_item, cart_id, cart_with, get_cart, new_cart, pick_variants
from sqlalchemy import select

from storefront_api.app_keys import VIEW_EVENTS
from storefront_api.cart.models import Cart
from storefront_api.events.models import Event


async def events_of(db, token: str) -> list[Event]:
    ident = str(await cart_id(db, token))
    async with db.read() as session:
        return list((await session.execute(
            select(Event).where(Event.cart_id == ident).order_by(Event.ts, Event.name)
        )).scalars())


async def test_add_remove_and_view_events(client, db):
    first, second = await pick_variants(db, 2, min_stock=3)
    cart = await cart_with(client, db, [(first, 2), (second, 1)])
    token = cart["token"]
    line = next(line for line in cart["lines"] if line["variant_id"] == second["id"])
    await client.delete(f"/api/carts/{token}/items/{line['id']}")
    await get_cart(client, token)
    await client.app[VIEW_EVENTS].flush()  # views are written in batches

    events = await events_of(db, token)
    assert [e.name for e in events] == ["add_to_cart", "add_to_cart", "remove_from_cart",
                                        "view_cart"]
    added = events[0]
    assert added.item_id == first["sku"] and added.value == 2 * first["price"]
    assert added.currency == "USD" and added.properties["quantity"] == 2
    assert events[2].item_id == second["sku"] and events[2].value == second["price"]
    assert events[3].value == 2 * first["price"]
    for event in events:
        assert event.cart_id == str(await cart_id(db, token)) and event.cart_id != token
        assert token not in str(event.properties)


async def test_quantity_changes_and_save_for_later_are_events(client, db):
    variant, = await pick_variants(db, 1, min_stock=5)
    cart = await cart_with(client, db, [(variant, 1)])
    url = f"/api/carts/{cart['token']}/items/{cart['lines'][0]['id']}"
    await client.patch(url, json={"quantity": 4})
    await client.patch(url, json={"quantity": 2})
    await client.patch(url, json={"saved_for_later": True})
    await client.patch(url, json={"saved_for_later": False})
    await client.delete(f"/api/carts/{cart['token']}/items")
    events = [(e.name, e.properties["quantity"], e.properties.get("reason"))
              for e in await events_of(db, cart["token"])]
    assert events == [("add_to_cart", 1, None), ("add_to_cart", 3, None),
                      ("remove_from_cart", 2, None), ("remove_from_cart", 2, "saved_for_later"),
                      ("add_to_cart", 2, "moved_from_saved_for_later"),
                      ("remove_from_cart", 2, "cart_cleared")]


async def test_empty_cart_view_and_refused_adds_record_nothing(client, db):
    variant, = await pick_variants(db, 1, min_stock=1, max_stock=20)
    cart = await new_cart(client)
    await get_cart(client, cart["token"])
    await add_item(client, cart["token"], variant_id=variant["id"],
                   quantity=variant["stock"] + 1, expect=409)
    assert await events_of(db, cart["token"]) == []


async def test_conversation_headers_go_on_the_cart_and_the_events(client, db):
    conversation = f"conv-{uuid.uuid4().hex}"
    headers = from_the_assistant(conversation, "telegram")
    variant, = await pick_variants(db, 1, min_stock=2)
    cart = await cart_with(client, db, [(variant, 1)], headers=headers)
    async with db.read() as session:
        row = (await session.execute(select(Cart).where(Cart.token == cart["token"]))).scalar_one()
    assert (row.conversation_id, row.channel) == (conversation, "telegram")
    event, = await events_of(db, cart["token"])
    assert (event.conversation_id, event.channel) == (conversation, "telegram")


async def test_customer_id_only_with_consent(client, db):
    email = f"events-{uuid.uuid4().hex[:8]}@example.com"
    resp = await client.post("/api/customers", json={"email": email, "password": "long enough"})
    customer = await resp.json()
    resp = await client.post("/api/customers/sign-in",
                             json={"email": email, "password": "long enough"})
    token = (await resp.json())["cart"]["token"]
    first, second = await pick_variants(db, 2, min_stock=2)
    await add_item(client, token, variant_id=first["id"])
    await add_item(client, token, variant_id=second["id"], headers={"X-Consent": "granted"})
    without, with_consent = await events_of(db, token)
    assert without.customer_id is None and without.consent is False
    assert with_consent.customer_id == str(customer["id"]) and with_consent.consent is True
