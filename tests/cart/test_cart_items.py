"""Cart lines: add (stock checked), change quantity, remove, save for later, clear, persist."""

from __future__ import annotations

from cart_helpers import (add_item, amount, cart_snapshot, cart_with, get_cart, new_cart,
                          out_of_stock_variant, pick_variant, pick_variants)

from storefront_api.app import create_app


async def test_new_cart_has_a_long_token_and_zero_totals(client):
    cart = await new_cart(client)
    assert len(cart["token"]) >= 43 and cart["status"] == "active"
    assert cart["lines"] == [] and cart["saved_for_later"] == [] and cart["item_count"] == 0
    assert cart["totals"]["total"] == {"amount": 0, "currency": "USD", "formatted": "$0.00"}
    assert cart["promo_code"] is None and cart["shipping"] is None
    other = await new_cart(client)
    assert other["token"] != cart["token"]


async def test_add_by_variant_id_and_by_sku(client, db):
    first, second = await pick_variants(db, 2, min_stock=3)
    cart = await new_cart(client)
    cart = await add_item(client, cart["token"], variant_id=first["id"], quantity=2)
    cart = await add_item(client, cart["token"], sku=second["sku"])
    by_variant = {line["variant_id"]: line for line in cart["lines"]}
    line = by_variant[first["id"]]
    assert line["quantity"] == 2 and line["sku"] == first["sku"]
    assert amount(line["unit_price"]) == first["price"]
    assert amount(line["line_total"]) == 2 * first["price"]
    assert line["available"] == first["stock"] and line["in_stock"] is True
    assert line["title"] and line["product_id"] == first["product_id"]
    assert by_variant[second["id"]]["quantity"] == 1
    assert cart["item_count"] == 3
    assert amount(cart["totals"]["subtotal"]) == 2 * first["price"] + second["price"]


async def test_adding_the_same_variant_again_increases_the_line(client, db):
    variant = await pick_variant(db, min_stock=5)
    cart = await cart_with(client, db, [(variant, 2)])
    cart = await add_item(client, cart["token"], sku=variant["sku"], quantity=3)
    assert [line["quantity"] for line in cart["lines"]] == [5]


async def test_more_than_available_answers_409_counting_the_cart(client, db):
    variant = await pick_variant(db, min_stock=2, max_stock=30)
    stock = variant["stock"]
    cart = await cart_with(client, db, [(variant, stock - 1)])
    before = await cart_snapshot(db, cart["token"])
    resp = await client.post(f"/api/carts/{cart['token']}/items",
                             json={"variant_id": variant["id"], "quantity": 2})
    problem = await resp.json()
    assert resp.status == 409 and resp.content_type == "application/problem+json"
    assert problem["available"] == stock and problem["in_cart"] == stock - 1
    assert "you can add 1 more" in problem["detail"]
    assert await cart_snapshot(db, cart["token"]) == before
    cart = await add_item(client, cart["token"], variant_id=variant["id"], quantity=1)
    assert cart["lines"][0]["quantity"] == stock


async def test_out_of_stock_variant_cannot_be_added(client, db):
    variant = await out_of_stock_variant(db)
    cart = await new_cart(client)
    problem = await add_item(client, cart["token"], sku=variant["sku"], expect=409)
    assert problem["available"] == 0 and "out of stock" in problem["detail"]
    assert (await get_cart(client, cart["token"]))["lines"] == []


async def test_a_line_holds_at_most_99(client, db):
    variant = await pick_variant(db, min_stock=100)
    cart = await cart_with(client, db, [(variant, 99)])
    problem = await add_item(client, cart["token"], variant_id=variant["id"], expect=422)
    assert problem["max_quantity"] == 99 and "99" in problem["detail"]
    assert cart["lines"][0]["quantity"] == 99


async def test_change_quantity_up_and_down(client, db):
    variant = await pick_variant(db, min_stock=4, max_stock=40)
    cart = await cart_with(client, db, [(variant, 1)])
    line_id = cart["lines"][0]["id"]
    url = f"/api/carts/{cart['token']}/items/{line_id}"
    resp = await client.patch(url, json={"quantity": 3})
    assert resp.status == 200
    assert (await resp.json())["lines"][0]["quantity"] == 3
    resp = await client.patch(url, json={"quantity": variant["stock"] + 1})
    problem = await resp.json()
    assert resp.status == 409 and problem["available"] == variant["stock"]
    resp = await client.patch(url, json={"quantity": 2})
    cart = await resp.json()
    assert cart["lines"][0]["quantity"] == 2 and cart["item_count"] == 2
    assert amount(cart["totals"]["subtotal"]) == 2 * variant["price"]


async def test_remove_a_line(client, db):
    first, second = await pick_variants(db, 2, min_stock=2)
    cart = await cart_with(client, db, [(first, 1), (second, 2)])
    line = next(line for line in cart["lines"] if line["variant_id"] == first["id"])
    resp = await client.delete(f"/api/carts/{cart['token']}/items/{line['id']}")
    assert resp.status == 200
    cart = await resp.json()
    assert [line["variant_id"] for line in cart["lines"]] == [second["id"]]
    resp = await client.delete(f"/api/carts/{cart['token']}/items/{line['id']}")
    assert resp.status == 404  # already gone


async def test_save_for_later_and_move_back(client, db):
    first, second = await pick_variants(db, 2, min_stock=3)
    cart = await cart_with(client, db, [(first, 2), (second, 1)])
    line = next(line for line in cart["lines"] if line["variant_id"] == first["id"])
    url = f"/api/carts/{cart['token']}/items/{line['id']}"
    resp = await client.patch(url, json={"saved_for_later": True})
    cart = await resp.json()
    assert resp.status == 200
    assert [line["variant_id"] for line in cart["lines"]] == [second["id"]]
    assert [(s["variant_id"], s["quantity"]) for s in cart["saved_for_later"]] == [(first["id"], 2)]
    assert amount(cart["totals"]["subtotal"]) == second["price"]  # saved lines cost nothing
    assert cart["item_count"] == 1
    resp = await client.patch(url, json={"saved_for_later": False, "quantity": 3})
    cart = await resp.json()
    assert resp.status == 200 and cart["saved_for_later"] == []
    moved = next(line for line in cart["lines"] if line["variant_id"] == first["id"])
    assert moved["quantity"] == 3 and moved["id"] == line["id"]


async def test_moving_back_merges_with_the_same_variant_in_the_cart(client, db):
    variant = await pick_variant(db, min_stock=5)
    cart = await cart_with(client, db, [(variant, 2)])
    token, line_id = cart["token"], cart["lines"][0]["id"]
    await client.patch(f"/api/carts/{token}/items/{line_id}", json={"saved_for_later": True})
    cart = await add_item(client, token, variant_id=variant["id"], quantity=1)
    assert len(cart["lines"]) == 1 and len(cart["saved_for_later"]) == 1
    resp = await client.patch(f"/api/carts/{token}/items/{line_id}",
                              json={"saved_for_later": False})
    cart = await resp.json()
    assert [line["quantity"] for line in cart["lines"]] == [3] and cart["saved_for_later"] == []


async def test_clear_keeps_saved_for_later(client, db):
    first, second, third = await pick_variants(db, 3, min_stock=2)
    cart = await cart_with(client, db, [(first, 1), (second, 2), (third, 1)])
    saved = next(line for line in cart["lines"] if line["variant_id"] == third["id"])
    await client.patch(f"/api/carts/{cart['token']}/items/{saved['id']}",
                       json={"saved_for_later": True})
    resp = await client.delete(f"/api/carts/{cart['token']}/items")
    cart = await resp.json()
    assert resp.status == 200 and cart["lines"] == [] and cart["item_count"] == 0
    assert [s["variant_id"] for s in cart["saved_for_later"]] == [third["id"]]
    assert amount(cart["totals"]["total"]) == 0


async def test_cart_persists_across_app_instances(client, db, aiohttp_client, settings):
    variant = await pick_variant(db, min_stock=2)
    cart = await cart_with(client, db, [(variant, 2)])
    other_instance = await aiohttp_client(create_app(settings, migrate=False))
    seen = await get_cart(other_instance, cart["token"])
    assert [(line["variant_id"], line["quantity"]) for line in seen["lines"]] == [(variant["id"], 2)]
    assert seen["totals"] == cart["totals"]


async def test_totals_follow_the_current_price(client, db):
    """Prices are not stored on lines: a price change shows at the next read."""
    from sqlalchemy import update

    from storefront_api.catalog.models import Variant
    variant = await pick_variant(db, min_stock=2)
    cart = await cart_with(client, db, [(variant, 2)])
    async with db.write() as session:
        await session.execute(update(Variant).where(Variant.id == variant["id"])
                              .values(price=variant["price"] + 100))
    try:
        cart = await get_cart(client, cart["token"])
        assert amount(cart["lines"][0]["unit_price"]) == variant["price"] + 100
        assert amount(cart["totals"]["subtotal"]) == 2 * (variant["price"] + 100)
    finally:
        async with db.write() as session:
            await session.execute(update(Variant).where(Variant.id == variant["id"])
                                  .values(price=variant["price"]))


async def test_lines_show_when_stock_dropped_below_the_quantity(client, db):
    from sqlalchemy import update

    from storefront_api.catalog.models import Variant
    variant = await pick_variant(db, min_stock=3)
    cart = await cart_with(client, db, [(variant, 3)])
    async with db.write() as session:
        await session.execute(update(Variant).where(Variant.id == variant["id"]).values(stock=1))
    try:
        line = (await get_cart(client, cart["token"]))["lines"][0]
        assert line["available"] == 1 and line["in_stock"] is False
        # lowering the quantity is always allowed, raising it is checked against stock
        resp = await client.patch(f"/api/carts/{cart['token']}/items/{line['id']}",
                                  json={"quantity": 2})
        assert resp.status == 200
    finally:
        async with db.write() as session:
            await session.execute(update(Variant).where(Variant.id == variant["id"])
                                  .values(stock=variant["stock"]))


async def test_concurrent_adds_never_exceed_stock(client, db):
    import asyncio
    variant = await pick_variant(db, min_stock=2, max_stock=6)
    stock = variant["stock"]
    cart = await new_cart(client)
    url = f"/api/carts/{cart['token']}/items"
    responses = await asyncio.gather(*[
        client.post(url, json={"variant_id": variant["id"], "quantity": 1})
        for _ in range(stock + 3)])
    statuses = sorted(resp.status for resp in responses)
    assert statuses == [201] * stock + [409] * 3
    assert [line["quantity"] for line in (await get_cart(client, cart["token"]))["lines"]] == [stock]
