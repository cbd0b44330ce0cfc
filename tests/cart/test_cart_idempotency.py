"""A cart change sent again with the same Idempotency-Key is applied once (the assistant's
calls cut off by a crash are sent again): storefront_api/cart/idempotency.py."""

from __future__ import annotations

import asyncio
import uuid

from assistant_calls import SERVICE
from cart_helpers import get_cart, new_cart, pick_variant


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"chat-{uuid.uuid4().hex}"}


async def add(client, token: str, variant_id: int, headers: dict, quantity: int = 1):
    return await client.post(f"/api/carts/{token}/items", headers=headers,
                             json={"variant_id": variant_id, "quantity": quantity})


async def test_the_same_add_sent_again_adds_once(client, db):
    variant = await pick_variant(db, min_stock=5)
    cart = await new_cart(client)
    headers = key()
    first = await add(client, cart["token"], variant["id"], headers)
    again = await add(client, cart["token"], variant["id"], headers)
    assert first.status == again.status == 201
    assert (await again.json())["lines"] == (await first.json())["lines"]
    assert (await get_cart(client, cart["token"]))["item_count"] == 1
    # a new change (a new key) is a new change
    assert (await add(client, cart["token"], variant["id"], key())).status == 201
    assert (await get_cart(client, cart["token"]))["item_count"] == 2


async def test_sent_again_at_the_same_moment_it_is_still_applied_once(client, db):
    variant = await pick_variant(db, min_stock=5)
    cart = await new_cart(client)
    headers = key()
    answers = await asyncio.gather(*(add(client, cart["token"], variant["id"], headers)
                                     for _ in range(6)))
    assert {answer.status for answer in answers} == {201}
    assert (await get_cart(client, cart["token"]))["item_count"] == 1


async def test_every_cart_change_takes_a_key(client, db):
    variant = await pick_variant(db, min_stock=5)
    cart = await new_cart(client)
    token = cart["token"]
    line = (await (await add(client, token, variant["id"], key(), 2)).json())["lines"][0]["id"]
    headers = key()
    for _ in range(2):  # 2 -> 3, once
        changed = await client.patch(f"/api/carts/{token}/items/{line}", headers=headers,
                                     json={"quantity": 3})
        assert changed.status == 200
    assert (await get_cart(client, token))["item_count"] == 3
    headers = key()
    for _ in range(2):  # removed once; the repeat answers the cart as it is, not a 404
        removed = await client.delete(f"/api/carts/{token}/items/{line}", headers=headers)
        assert removed.status == 200, await removed.text()
    assert (await get_cart(client, token))["lines"] == []


async def test_the_same_key_for_another_change_is_refused_and_changes_nothing(client, db):
    variant = await pick_variant(db, min_stock=5)
    cart = await new_cart(client)
    headers = key()
    assert (await add(client, cart["token"], variant["id"], headers)).status == 201
    reused = await add(client, cart["token"], variant["id"], headers, quantity=3)
    assert reused.status == 422
    assert (await reused.json())["type"].endswith("/idempotency-key-reused")
    assert (await get_cart(client, cart["token"]))["item_count"] == 1


async def test_a_malformed_key_is_a_400_and_changes_nothing(client, db):
    variant = await pick_variant(db, min_stock=5)
    cart = await new_cart(client)
    for bad in ("short", "x" * 121, "with space here", "ключ-ключ-ключ"):
        answer = await add(client, cart["token"], variant["id"], {"Idempotency-Key": bad})
        assert answer.status == 400, bad
        assert (await answer.json())["type"].endswith("/bad-idempotency-key")
    assert (await get_cart(client, cart["token"]))["item_count"] == 0


async def test_keys_count_per_cart(client, db):
    variant = await pick_variant(db, min_stock=5)
    one, two = await new_cart(client), await new_cart(client)
    headers = key()
    for cart in (one, two):
        assert (await add(client, cart["token"], variant["id"], headers)).status == 201
        assert (await get_cart(client, cart["token"]))["item_count"] == 1


async def test_the_assistant_creating_a_cart_again_gets_the_same_cart(client):
    headers = {**SERVICE, **key()}
    first = await new_cart(client, headers)
    again = await new_cart(client, headers)
    assert again["token"] == first["token"]
    assert (await new_cart(client, {**SERVICE, **key()}))["token"] != first["token"]


async def test_attack_a_key_without_the_service_credential_never_hands_out_a_cart(client):
    """Someone who learns (or guesses) the key the assistant used gets a cart of their own,
    not the shopper's."""
    headers = key()
    shoppers = await new_cart(client, {**SERVICE, **headers})
    strangers = await new_cart(client, headers)
    assert strangers["token"] != shoppers["token"]
    assert (await new_cart(client, headers))["token"] != strangers["token"]  # ignored
