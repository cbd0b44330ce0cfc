"""Returns and exchanges: the shopper's request, the merchant's approve / reject / receive,
partial refunds, the return window and the legal transitions."""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from aftersales_factories import (
    ADMIN,
    events_of,
    exchangeable_pair,
    make_order,
    order_row,
    outbox_for,
    refunds_of,
    stock_of,
    token_for,
)
from assistant_calls import from_the_assistant
from cart_helpers import assert_problem, pick_variants
from sqlalchemy import select

from storefront_api.aftersales.service import refund_for_units
from storefront_api.orders.models import OrderLine

RMA = re.compile(r"RMA-[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}")


async def ask_return(client, order, items, *, kind="return", expect=201, **extra):
    body = {"email": order["email"], "kind": kind, "items": items, "reason": "Too small"}
    resp = await client.post(f"/api/orders/{order['number']}/returns", json=body | extra,
                             headers=from_the_assistant("conv-return"))
    data = await resp.json()
    assert resp.status == expect, data
    return data


async def admin(client, rma, action, expect=200, **body):
    resp = await client.post(f"/api/admin/returns/{rma}/{action}", json=body, headers=ADMIN)
    data = await resp.json()
    assert resp.status == expect, data
    return data


async def returned_quantity(db, order_id) -> list[int]:
    async with db.read() as session:
        return list((await session.scalars(select(OrderLine.returned_quantity).where(
            OrderLine.order_id == order_id).order_by(OrderLine.id))).all())


async def test_return_one_of_two_units_is_a_partial_refund(client, db):
    [variant] = await pick_variants(db, 1, min_stock=5)
    stock = await stock_of(db, variant["id"])
    order = await make_order(db, [(variant, 2)], status="delivered", shipping=500)
    sku = variant["sku"]

    created = await ask_return(client, order, [{"sku": sku.lower(), "quantity": 1}])
    assert RMA.fullmatch(created["rma_number"]) and created["status"] == "requested"
    assert created["items"] == [{"sku": sku, "title": f"Item {sku}", "quantity": 1,
                                 "exchange_sku": None}]
    [event] = await events_of(db, order["number"], "return_requested")
    assert event.value == variant["price"] and event.properties["kind"] == "return"
    assert event.conversation_id == "conv-return"

    rma = created["rma_number"]
    approved = await admin(client, rma, "approve", note="Use the prepaid label in the box.")
    assert approved["status"] == "approved" and approved["note"].startswith("Use the")
    received = await admin(client, rma, "receive")
    assert received["status"] == "refunded"
    assert received["refund"]["status"] == "succeeded"
    assert received["refund"]["amount"]["amount"] == variant["price"]  # shipping kept
    assert received["refund_amount"]["amount"] == variant["price"]
    row = await order_row(db, order["number"])
    assert (row.status, row.refunded) == ("delivered", variant["price"])
    assert await returned_quantity(db, order["id"]) == [1]
    assert await stock_of(db, variant["id"]) == stock - 1
    [refund_event] = await events_of(db, order["number"], "refund")
    assert refund_event.value == variant["price"]

    second = await ask_return(client, order, [{"sku": sku, "quantity": 1}])
    await admin(client, second["rma_number"], "approve")
    await admin(client, second["rma_number"], "receive")
    row = await order_row(db, order["number"])
    assert (row.status, row.refunded) == ("refunded", 2 * variant["price"])
    assert await stock_of(db, variant["id"]) == stock
    assert len(await refunds_of(db, order["id"])) == 2
    tags = [m["tag"] for m in await outbox_for(db, email=order["email"])]
    assert tags.count("return-requested") == 2 and tags.count("refund-issued") == 2

    resp = await client.get(f"/api/orders/{order['number']}/returns",
                            params={"email": order["email"]})
    listed = await resp.json()
    assert [r["status"] for r in listed["returns"]] == ["refunded", "refunded"]
    resp = await client.get(f"/api/orders/{order['number']}/refunds",
                            params={"email": order["email"]})
    refunds = await resp.json()
    assert [(r["reason"], r["status"], r["amount"]["amount"], r["rma_number"])
            for r in refunds["refunds"]] == [
        ("return", "succeeded", variant["price"], rma),
        ("return", "succeeded", variant["price"], second["rma_number"])]
    assert refunds["refunded"]["amount"] == 2 * variant["price"]
    assert refunds["order_status"] == "refunded"
    assert all(r["created_at"] and r["updated_at"] for r in refunds["refunds"])


def test_refunds_share_out_what_was_paid_without_drift():
    # 3 units of 999, a 10 % code, 4.95 shipping, 19 % tax on goods and shipping
    subtotal, discount, shipping = 2997, 300, 495
    tax = (subtotal - discount + shipping) * 19 // 100
    order = SimpleNamespace(subtotal=subtotal, discount=discount, shipping=shipping,
                            total=subtotal - discount + shipping + tax)
    parts = [refund_for_units(order, 999 * n, 999) for n in range(3)]
    goods_paid = order.total * (subtotal - discount) // (subtotal - discount + shipping)
    assert sum(parts) == goods_paid and max(parts) - min(parts) <= 1
    assert refund_for_units(order, 0, 2997) == goods_paid


def test_goods_that_were_free_refund_nothing_and_nothing_is_nothing():
    """A code that took the whole subtotal: the shopper paid only the shipping and its 20 %
    tax (kept), so a returned unit brings nothing back; an order of nothing neither."""
    free = SimpleNamespace(subtotal=1000, discount=1000, shipping=500, total=600)
    assert refund_for_units(free, 0, 1000) == 0
    assert refund_for_units(free, 500, 500) == 0
    empty = SimpleNamespace(subtotal=0, discount=0, shipping=0, total=0)
    assert refund_for_units(empty, 0, 0) == 0


@pytest.mark.parametrize("days,expect", [(29, 201), (31, 422)])
async def test_the_return_window_counts_from_delivery(client, db, settings, days, expect):
    [variant] = await pick_variants(db, 1, min_stock=3)
    order = await make_order(db, [(variant, 1)], status="delivered", delivered_days_ago=days)
    data = await ask_return(client, order, [{"sku": variant["sku"], "quantity": 1}],
                            expect=expect)
    if expect == 422:
        closed = (date.today() - timedelta(days=days - settings.return_window_days))
        assert data["type"].endswith("return-window-closed")
        assert abs(date.fromisoformat(data["window_closed_on"]) - closed) <= timedelta(days=1)
        assert data["window_closed_on"] in data["detail"]
        assert not await events_of(db, order["number"], "return_requested")


async def test_not_delivered_yet_is_a_409(client, db):
    [variant] = await pick_variants(db, 1, min_stock=3)
    for status in ("awaiting_preparation", "shipped"):
        order = await make_order(db, [(variant, 1)], status=status)
        resp = await client.post(f"/api/orders/{order['number']}/returns", json={
            "email": order["email"], "kind": "return", "reason": "x",
            "items": [{"sku": variant["sku"], "quantity": 1}]})
        body = await resp.json()
        assert_problem(resp.status, resp.content_type, body, 409)
        assert body["type"].endswith("order-not-delivered")


async def test_quantities_are_limited_to_what_is_left(client, db):
    a, b = await pick_variants(db, 2, min_stock=3)
    order = await make_order(db, [(a, 2), (b, 1)], status="delivered")
    too_many = await ask_return(client, order, [{"sku": a["sku"], "quantity": 3}], expect=422)
    assert too_many["type"].endswith("too-many-units") and too_many["returnable"] == 2
    unknown = await ask_return(client, order, [{"sku": "NOT-IN-ORDER", "quantity": 1}],
                               expect=422)
    assert unknown["skus"] == ["NOT-IN-ORDER"] and a["sku"] in unknown["order_skus"]
    first = await ask_return(client, order, [{"sku": a["sku"], "quantity": 2},
                                             {"sku": b["sku"], "quantity": 1}])
    again = await ask_return(client, order, [{"sku": a["sku"], "quantity": 1}], expect=422)
    assert again["returnable"] == 0
    await admin(client, first["rma_number"], "reject", note="Worn items cannot be returned.")
    resp = await client.get(f"/api/orders/{order['number']}/returns",
                            params={"email": order["email"]})
    [rejected] = (await resp.json())["returns"]
    assert rejected["status"] == "rejected" and rejected["note"].startswith("Worn")
    await ask_return(client, order, [{"sku": a["sku"], "quantity": 1}])  # freed again


async def test_only_legal_transitions(client, db):
    [variant] = await pick_variants(db, 1, min_stock=3)
    stock = await stock_of(db, variant["id"])
    order = await make_order(db, [(variant, 1)], status="delivered")
    rma = (await ask_return(client, order, [{"sku": variant["sku"], "quantity": 1}],
                            token=None))["rma_number"]
    early = await admin(client, rma, "receive", expect=409)
    assert early["type"].endswith("illegal-return-transition")
    assert early["allowed"] == ["approved", "rejected"]
    await admin(client, rma, "approve")
    await admin(client, rma, "approve", expect=409)
    await admin(client, rma, "receive", restock=False)
    await admin(client, rma, "receive", expect=409)
    await admin(client, rma, "reject", expect=409, note="too late")
    assert await stock_of(db, variant["id"]) == stock - 1  # damaged: not put back
    assert len(await refunds_of(db, order["id"])) == 1
    await admin(client, "RMA-ZZZZZZ", "approve", expect=404)
    resp = await client.post(f"/api/admin/returns/{rma}/approve", json={})
    assert resp.status == 401


async def test_exchange_swaps_stock_and_refunds_nothing(client, db, settings):
    original, other = await exchangeable_pair(db)
    order = await make_order(db, [(original, 1)], status="delivered")
    stock = {v["id"]: await stock_of(db, v["id"]) for v in (original, other)}
    resp = await client.post(f"/api/orders/{order['number']}/returns", json={
        "token": token_for(settings, order["number"]), "kind": "exchange",
        "reason": "Too small, one size up please",
        "items": [{"sku": original["sku"], "quantity": 1, "exchange_sku": other["sku"]}]})
    created = await resp.json()
    assert resp.status == 201, created
    assert created["kind"] == "exchange" and created["items"][0]["exchange_sku"] == other["sku"]
    await admin(client, created["rma_number"], "approve")
    received = await admin(client, created["rma_number"], "receive")
    assert received["status"] == "exchanged" and received["refund"] is None
    assert await stock_of(db, original["id"]) == stock[original["id"]] + 1
    assert await stock_of(db, other["id"]) == stock[other["id"]] - 1
    assert not await refunds_of(db, order["id"])
    assert (await order_row(db, order["number"])).status == "delivered"


async def test_exchange_must_be_the_same_product(client, db):
    a, b = await pick_variants(db, 2, min_stock=3)
    order = await make_order(db, [(a, 1)], status="delivered")
    data = await ask_return(client, order, [{"sku": a["sku"], "quantity": 1,
                                             "exchange_sku": b["sku"]}],
                            kind="exchange", expect=422)
    assert data["type"].endswith("exchange-not-possible")
    data = await ask_return(client, order, [{"sku": a["sku"], "quantity": 1,
                                             "exchange_sku": "NO-SUCH-SKU"}],
                            kind="exchange", expect=422)
    assert data["type"].endswith("unknown-exchange-sku")


async def test_admin_lists_returns(client, db):
    [variant] = await pick_variants(db, 1, min_stock=3)
    order = await make_order(db, [(variant, 1)], status="delivered")
    rma = (await ask_return(client, order, [{"sku": variant["sku"], "quantity": 1}]))[
        "rma_number"]
    resp = await client.get("/api/admin/returns", params={"status": "requested"}, headers=ADMIN)
    listed = (await resp.json())["returns"]
    assert rma in [r["rma_number"] for r in listed]
    assert all(r["status"] == "requested" for r in listed)


async def test_concurrent_requests_and_receipts_never_oversell_or_refund_twice(client, db):
    [variant] = await pick_variants(db, 1, min_stock=3)
    order = await make_order(db, [(variant, 1)], status="delivered")
    body = {"email": order["email"], "kind": "return", "reason": "x",
            "items": [{"sku": variant["sku"], "quantity": 1}]}
    answers = await asyncio.gather(*(
        client.post(f"/api/orders/{order['number']}/returns", json=body) for _ in range(2)))
    assert sorted(r.status for r in answers) == [201, 422]
    [created] = [await r.json() for r in answers if r.status == 201]
    rma = created["rma_number"]
    await admin(client, rma, "approve")
    receipts = await asyncio.gather(*(
        client.post(f"/api/admin/returns/{rma}/receive", json={}, headers=ADMIN)
        for _ in range(2)))
    assert sorted(r.status for r in receipts) == [200, 409]
    assert len(await refunds_of(db, order["id"])) == 1
    row = await order_row(db, order["number"])
    assert (row.status, row.refunded) == ("refunded", variant["price"])


async def _product_in_sizes(db, stocks: dict[str, int], price: int = 3000) -> dict[str, dict]:
    """A product of the test's own, one variant per size at one price (exchangeable)."""
    import uuid

    from storefront_api.catalog.models import Product, Variant
    from storefront_api.catalog.search import reindex_products
    tag = uuid.uuid4().hex[:8]
    async with db.write() as session:
        product = Product(handle=f"swap-{tag}", title=f"Swap Tee {tag}", vendor="Aisle Test",
                          product_type="T-Shirt", min_price=price, max_price=price,
                          in_stock=True, colors="|white|", sizes="|s|m|l|")
        session.add(product)
        await session.flush()
        variants = {size: Variant(product_id=product.id, sku=f"SW-{tag}-{size}", size=size,
                                  color="White", price=price, stock=stock)
                    for size, stock in stocks.items()}
        session.add_all(variants.values())
        await session.flush()
        await reindex_products(session, [product.id])
        return {size: {"id": v.id, "sku": v.sku, "price": price}
                for size, v in variants.items()}


async def test_an_exchange_into_fewer_units_than_needed_waits_for_a_restock(client, db,
                                                                           settings):
    """Two returned units (an S and an L) both exchanged for the one M left: the receipt is
    refused, saying what is short by how much, and changes nothing; once M is restocked the
    same receipt goes through and takes both units."""
    from sqlalchemy import update

    from storefront_api.catalog.models import Variant
    sizes = await _product_in_sizes(db, {"S": 5, "M": 1, "L": 5})
    order = await make_order(db, [(sizes["S"], 1), (sizes["L"], 1)], status="delivered")
    resp = await client.post(f"/api/orders/{order['number']}/returns", json={
        "token": token_for(settings, order["number"]), "kind": "exchange",
        "reason": "Both in M please",
        "items": [{"sku": sizes["S"]["sku"], "quantity": 1, "exchange_sku": sizes["M"]["sku"]},
                  {"sku": sizes["L"]["sku"], "quantity": 1, "exchange_sku": sizes["M"]["sku"]}]})
    created = await resp.json()
    assert resp.status == 201, created
    rma = created["rma_number"]
    await admin(client, rma, "approve")
    stocks = {size: await stock_of(db, v["id"]) for size, v in sizes.items()}
    refused = await admin(client, rma, "receive", expect=409)
    assert refused["type"].endswith("/exchange-out-of-stock")
    assert refused["detail"] == (f"{sizes['M']['sku']} is out of stock (1 left, 2 needed); "
                                 f"restock it, then receive {rma} again.")
    assert (refused["exchange_sku"], refused["available"]) == (sizes["M"]["sku"], 1)
    assert {size: await stock_of(db, v["id"]) for size, v in sizes.items()} == stocks
    async with db.write() as session:
        await session.execute(update(Variant).where(Variant.id == sizes["M"]["id"])
                              .values(stock=2))
    received = await admin(client, rma, "receive")
    assert received["status"] == "exchanged" and received["refund"] is None
    assert {size: await stock_of(db, v["id"]) for size, v in sizes.items()} == {
        "S": stocks["S"] + 1, "M": 0, "L": stocks["L"] + 1}


async def test_an_exchange_is_for_the_same_product_at_the_same_price_or_a_known_sku(
        client, db, settings):
    """The shopper asks at the request: a size of the same product that costs more (XL here)
    is a return plus a new order, an unknown SKU is named back; both refused with the exact
    problem, and no return is opened."""
    from sqlalchemy import update

    from storefront_api.catalog.models import Variant
    sizes = await _product_in_sizes(db, {"M": 5, "XL": 5})
    async with db.write() as session:  # same product, a dearer size
        await session.execute(update(Variant).where(Variant.id == sizes["XL"]["id"])
                              .values(price=3500))
    order = await make_order(db, [(sizes["M"], 1)], status="delivered")

    async def ask(exchange_sku):
        resp = await client.post(f"/api/orders/{order['number']}/returns", json={
            "token": token_for(settings, order["number"]), "kind": "exchange",
            "reason": "Another size",
            "items": [{"sku": sizes["M"]["sku"], "quantity": 1, "exchange_sku": exchange_sku}]})
        return resp.status, await resp.json()

    status, dearer = await ask(sizes["XL"]["sku"])
    assert status == 422 and dearer["type"].endswith("/exchange-not-possible"), dearer
    assert dearer["detail"] == (
        f"{sizes['XL']['sku']} cannot replace {sizes['M']['sku']}: an exchange is for another "
        "size or colour of the same product at the same price. Return the item and order the "
        "other one instead.")
    assert (dearer["sku"], dearer["exchange_sku"]) == (sizes["M"]["sku"], sizes["XL"]["sku"])
    status, unknown = await ask("NO-SUCH-SKU-42")
    assert status == 422 and unknown["type"].endswith("/unknown-exchange-sku"), unknown
    assert unknown["detail"] == "There is no product with SKU 'NO-SUCH-SKU-42' to exchange for."
    assert unknown["sku"] == "NO-SUCH-SKU-42"
    assert await returned_quantity(db, order["id"]) == [0]


async def test_an_exchange_asked_for_more_than_is_left_is_refused_at_the_request(
        client, db, settings):
    sizes = await _product_in_sizes(db, {"S": 5, "M": 1})
    order = await make_order(db, [(sizes["S"], 2)], status="delivered")
    resp = await client.post(f"/api/orders/{order['number']}/returns", json={
        "token": token_for(settings, order["number"]), "kind": "exchange",
        "reason": "Both in M please",
        "items": [{"sku": sizes["S"]["sku"], "quantity": 2, "exchange_sku": sizes["M"]["sku"]}]})
    problem = await resp.json()
    assert resp.status == 409 and problem["type"].endswith("/exchange-out-of-stock"), problem
    assert problem["detail"] == f"{sizes['M']['sku']} has 1 left; 2 wanted for the exchange."
    assert (problem["exchange_sku"], problem["available"]) == (sizes["M"]["sku"], 1)
    assert await returned_quantity(db, order["id"]) == [0]
    # exactly what is left is enough
    resp = await client.post(f"/api/orders/{order['number']}/returns", json={
        "token": token_for(settings, order["number"]), "kind": "exchange",
        "reason": "One in M please",
        "items": [{"sku": sizes["S"]["sku"], "quantity": 1, "exchange_sku": sizes["M"]["sku"]}]})
    created = await resp.json()
    assert resp.status == 201, created
    assert created["items"][0]["exchange_sku"] == sizes["M"]["sku"]


async def test_unit_returns_of_a_discounted_order_add_up_to_what_the_goods_cost(client, db):
    """Three units at $9.99 with $3.00 off, $4.95 shipping and 19 % tax: total $37.98, of
    which the goods (net of the discount, with their tax, without shipping) cost $32.09.
    Returned one unit at a time, each refund is the unit's share counted over the returns
    the order already received (1069, then 1070, 1070: never a cent lost to rounding).
    Worked out by hand: goods = 3798 * 2697 // 3192 = 3209; shares 3209 * 999 // 2997 = 1069,
    3209 * 1998 // 2997 = 2139. Only this order's received returns count: not another
    order's, not one still on its way, not the return being received."""
    sizes = await _product_in_sizes(db, {"M": 10}, price=999)
    unit = sizes["M"]
    other = await make_order(db, [(unit, 1)], status="delivered")
    elsewhere = await ask_return(client, other, [{"sku": unit["sku"], "quantity": 1}])
    await admin(client, elsewhere["rma_number"], "approve")
    assert (await admin(client, elsewhere["rma_number"], "receive"))["refund"]["amount"][
        "amount"] == 999  # the other order's unit: all it paid for it (no discount there)
    order = await make_order(db, [(unit, 3)], status="delivered", discount=300, shipping=495,
                             tax=606)
    assert order["total"] == 3798
    on_its_way, first, last = [
        (await ask_return(client, order, [{"sku": unit["sku"], "quantity": 1}]))["rma_number"]
        for _ in range(3)]
    for rma in (on_its_way, first, last):
        await admin(client, rma, "approve")

    async def refund_on_receipt(rma):
        received = await admin(client, rma, "receive")
        assert received["refund"]["status"] == "succeeded", received
        return received["refund"]["amount"]["amount"]
    assert await refund_on_receipt(first) == 1069  # the approved one has not arrived yet
    assert await refund_on_receipt(on_its_way) == 1070
    assert await refund_on_receipt(last) == 1070
    assert (await order_row(db, order["number"])).refunded == 3209 == 1069 + 1070 + 1070


async def test_an_exchange_for_another_product_at_the_same_price_is_refused(client, db,
                                                                           settings):
    """Same price, same size, another product: not an exchange (return it, order the other)."""
    mine, theirs = await _product_in_sizes(db, {"M": 5}), await _product_in_sizes(db, {"M": 5})
    order = await make_order(db, [(mine["M"], 1)], status="delivered")
    resp = await client.post(f"/api/orders/{order['number']}/returns", json={
        "token": token_for(settings, order["number"]), "kind": "exchange", "reason": "Other",
        "items": [{"sku": mine["M"]["sku"], "quantity": 1, "exchange_sku": theirs["M"]["sku"]}]})
    problem = await resp.json()
    assert resp.status == 422 and problem["type"].endswith("/exchange-not-possible"), problem
    assert (problem["sku"], problem["exchange_sku"]) == (mine["M"]["sku"], theirs["M"]["sku"])
    assert await returned_quantity(db, order["id"]) == [0]
