"""After-sales at the edges a shopper or a merchant reads: the exact words of a cancellation
e-mail and of a refused return, the return window to the minute, an order of one cent, the
order's history notes, the ``refund`` and ``return_requested`` events, and the order becoming
``refunded`` only once every unit came back for money."""

from __future__ import annotations

from datetime import timedelta

from aftersales_factories import (
    ADMIN,
    events_of,
    make_order,
    order_row,
    outbox_for,
    refunds_of,
)
from assistant_calls import from_the_assistant
from cart_helpers import pick_variants
from sqlalchemy import select

from storefront_api.db import utcnow
from storefront_api.orders.models import OrderStatusChange


def _dollars(cents: int) -> str:
    """How the shop writes a USD amount, worked out by hand: $1,234.56."""
    return f"${cents // 100:,}.{cents % 100:02d}"


async def _cancel(client, order, **body):
    resp = await client.post(f"/api/orders/{order['number']}/cancel",
                             json={"email": order["email"], **body})
    data = await resp.json()
    assert resp.status == 200, data
    return data


async def _ask(client, order, items, *, kind="return", expect=201):
    resp = await client.post(f"/api/orders/{order['number']}/returns", json={
        "email": order["email"], "kind": kind, "items": items, "reason": "Too small"},
        headers=from_the_assistant("conv-outcomes"))
    data = await resp.json()
    assert resp.status == expect, data
    return data


async def _admin(client, rma, action, expect=200, **body):
    resp = await client.post(f"/api/admin/returns/{rma}/{action}", json=body, headers=ADMIN)
    data = await resp.json()
    assert resp.status == expect, data
    return data


async def _notes(db, order_id: int) -> list[tuple[str, str]]:
    async with db.read() as session:
        rows = (await session.scalars(select(OrderStatusChange).where(
            OrderStatusChange.order_id == order_id).order_by(OrderStatusChange.id))).all()
    return [(r.to_status, r.note) for r in rows]


# --- cancelling ----------------------------------------------------------------------------

async def test_the_cancellation_e_mail_says_the_amount_and_the_history_the_reason(client, db):
    [variant] = await pick_variants(db, 1, min_stock=3)
    order = await make_order(db, [(variant, 2)], shipping=450, tax=99)
    data = await _cancel(client, order, reason="Found it cheaper")
    [refund] = await refunds_of(db, order["id"])
    mails = [m for m in await outbox_for(db, email=order["email"])
             if m["tag"] == "order-cancelled"]
    assert [(m["subject"], m["text"]) for m in mails] == [(
        f"Your order {order['number']} is cancelled",
        f"As you asked, we cancelled order {order['number']}; nothing will be shipped. "
        f"We are refunding {_dollars(order['total'])} to the card you paid with and will write "
        "again once it is on its way.")]
    assert await _notes(db, order["id"]) == [
        ("awaiting_preparation", "payment received"), ("cancelled", "Found it cheaper"),
        ("refunded", f"refund {refund.id}: cancellation")]
    assert data["refund"]["amount"]["amount"] == order["total"] == 2 * variant["price"] + 549


async def test_a_cancellation_without_a_reason_is_noted_as_the_shopper_s(client, db):
    [variant] = await pick_variants(db, 1, min_stock=3)
    order = await make_order(db, [(variant, 1)], discount=variant["price"])  # paid nothing
    data = await _cancel(client, order)
    assert data["refund"] is None
    assert ("cancelled", "cancelled by the shopper") in await _notes(db, order["id"])
    [mail] = [m for m in await outbox_for(db, email=order["email"])
              if m["tag"] == "order-cancelled"]
    assert mail["text"] == (f"As you asked, we cancelled order {order['number']}; nothing will "
                            "be shipped. ")


async def test_an_order_of_one_cent_gets_its_cent_back(client, db):
    [variant] = await pick_variants(db, 1, min_stock=3, min_price=2)
    order = await make_order(db, [(variant, 1)], discount=variant["price"] - 1)
    assert order["total"] == 1
    data = await _cancel(client, order)
    assert data["refund"]["amount"]["amount"] == 1 and data["refund"]["status"] == "succeeded"
    row = await order_row(db, order["number"])
    assert (row.status, row.refunded) == ("refunded", 1)


# --- the return request --------------------------------------------------------------------

async def test_the_return_window_ends_to_the_minute(client, db, settings):
    days = settings.return_window_days
    [variant] = await pick_variants(db, 1, min_stock=3)
    inside = await make_order(db, [(variant, 1)], status="delivered",
                              delivered_days_ago=days - 1 / 1440)
    await _ask(client, inside, [{"sku": variant["sku"], "quantity": 1}])
    late = await make_order(db, [(variant, 1)], status="delivered",
                            delivered_days_ago=days + 1 / 1440)
    problem = await _ask(client, late, [{"sku": variant["sku"], "quantity": 1}], expect=422)
    closed_on = (utcnow() - timedelta(minutes=1)).date().isoformat()
    assert problem["detail"] == (f"The {days}-day return window of order {late['number']} "
                                 f"closed on {closed_on}.")
    assert (problem["window_closed_on"], problem["window_days"]) == (closed_on, days)


async def test_a_refused_request_names_the_units_left(client, db):
    a, b = await pick_variants(db, 2, min_stock=3)
    order = await make_order(db, [(a, 3), (b, 1)], status="delivered")
    first = await _ask(client, order, [{"sku": a["sku"], "quantity": 2}])
    too_many = await _ask(client, order, [{"sku": a["sku"], "quantity": 2}], expect=422)
    assert too_many["detail"] == (f"You bought 3 of {a['sku']} and 2 are already in a return: "
                                  "at most 1 can be returned now.")
    assert (too_many["sku"], too_many["returnable"]) == (a["sku"], 1)
    unknown = await _ask(client, order, [{"sku": "NOPE-1", "quantity": 1},
                                         {"sku": b["sku"], "quantity": 1},
                                         {"sku": "nope-2", "quantity": 1}], expect=422)
    assert unknown["detail"] == f"Order {order['number']} has no item with SKU 'NOPE-1', 'nope-2'."
    assert unknown["skus"] == ["NOPE-1", "nope-2"]
    assert unknown["order_skus"] == [a["sku"], b["sku"]]
    # a rejected request frees its units; one that is only requested does not
    await _admin(client, first["rma_number"], "reject", note="Worn")
    await _ask(client, order, [{"sku": a["sku"], "quantity": 3}])


async def test_a_request_is_recorded_and_acknowledged(client, db):
    a, b = await pick_variants(db, 2, min_stock=3)
    order = await make_order(db, [(a, 2), (b, 1)], status="delivered")
    created = await _ask(client, order, [{"sku": a["sku"].lower(), "quantity": 2},
                                         {"sku": b["sku"], "quantity": 1}])
    rma = created["rma_number"]
    [event] = await events_of(db, order["number"], "return_requested")
    assert (event.value, event.currency, event.conversation_id) == (
        2 * a["price"] + b["price"], "USD", "conv-outcomes")
    assert event.properties == {"rma_number": rma, "kind": "return", "items": [
        {"sku": a["sku"], "quantity": 2}, {"sku": b["sku"], "quantity": 1}]}
    [mail] = [m for m in await outbox_for(db, email=order["email"])
              if m["tag"] == "return-requested"]
    assert mail["subject"] == f"Your return request {rma} for order {order['number']}"
    assert mail["text"] == (f"We received your return request {rma}. We will check it and "
                            "write again with where to send the parcel; please do not send "
                            "anything yet.")


async def test_a_return_moves_only_forward_and_says_where_it_can_go(client, db):
    [variant] = await pick_variants(db, 1, min_stock=3)
    order = await make_order(db, [(variant, 1)], status="delivered")
    rma = (await _ask(client, order, [{"sku": variant["sku"], "quantity": 1}]))["rma_number"]
    early = await _admin(client, rma, "receive", expect=409)
    assert early["detail"] == (f"Return {rma} is requested; it can become approved, rejected, "
                               "not received.")
    assert (early["return_status"], early["allowed"]) == ("requested", ["approved", "rejected"])
    await _admin(client, rma, "approve")
    await _admin(client, rma, "receive")
    done = await _admin(client, rma, "reject", expect=409, note="late")
    assert done["detail"] == f"Return {rma} is refunded; it can become nothing else, not rejected."
    assert done["allowed"] == []


# --- money back for returns ----------------------------------------------------------------

async def test_the_order_is_refunded_only_when_its_last_unit_is_back(client, db):
    [variant] = await pick_variants(db, 1, min_stock=4)
    order = await make_order(db, [(variant, 3)], status="delivered",
                             conversation_id="conv-last-unit")
    first = (await _ask(client, order, [{"sku": variant["sku"], "quantity": 2}]))["rma_number"]
    await _admin(client, first, "approve")
    await _admin(client, first, "receive")
    row = await order_row(db, order["number"])
    assert (row.status, row.refunded) == ("delivered", 2 * variant["price"])  # one unit kept
    second = (await _ask(client, order, [{"sku": variant["sku"], "quantity": 1}]))["rma_number"]
    await _admin(client, second, "approve")
    await _admin(client, second, "receive")
    row = await order_row(db, order["number"])
    assert (row.status, row.refunded) == ("refunded", 3 * variant["price"])
    events = await events_of(db, order["number"], "refund")
    refunds = await refunds_of(db, order["id"])
    assert [(e.value, e.properties) for e in events] == [
        (r.amount, {"transaction_id": order["number"], "refund_id": r.id, "reason": "return",
                    "rma_number": rma}) for r, rma in zip(refunds, (first, second))]
    assert [r.amount for r in refunds] == [2 * variant["price"], variant["price"]]
    assert (await _notes(db, order["id"]))[-1] == ("refunded", f"refund {refunds[1].id}: return")


async def test_free_goods_come_back_for_nothing_and_close_the_order(client, db):
    """A code took the whole subtotal; the shopper paid shipping only (kept): the return is
    settled with no money and no refund, and the order is refunded once all is back."""
    [variant] = await pick_variants(db, 1, min_stock=3)
    order = await make_order(db, [(variant, 1)], status="delivered",
                             discount=variant["price"], shipping=500)
    rma = (await _ask(client, order, [{"sku": variant["sku"], "quantity": 1}]))["rma_number"]
    await _admin(client, rma, "approve")
    received = await _admin(client, rma, "receive")
    assert received["status"] == "refunded" and received["refund"] is None
    assert received["refund_amount"]["amount"] == 0
    assert await refunds_of(db, order["id"]) == []
    row = await order_row(db, order["number"])
    assert (row.status, row.refunded) == ("refunded", 0)
    assert (await _notes(db, order["id"]))[-1] == ("refunded", rma)
