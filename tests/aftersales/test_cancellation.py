"""Cancelling before shipping: stock back, one full refund, idempotent, even when concurrent."""

from __future__ import annotations

import asyncio

import pytest
from aftersales_factories import (
    ADMIN,
    events_of,
    make_order,
    order_row,
    outbox_for,
    refunds_of,
    stock_of,
    token_for,
)
from assistant_calls import from_the_assistant
from cart_helpers import assert_problem, pick_variants

from storefront_api.payments.builtin.gateway import TestGateway
from storefront_api.payments.gateway import GatewayError


@pytest.fixture
def gateway_calls(monkeypatch):
    """Counts the refunds asked of the (real) test gateway."""
    calls = []
    real_refund = TestGateway.refund

    async def counted(self, *args, **kwargs):
        calls.append(kwargs["idempotency_key"])
        return await real_refund(self, *args, **kwargs)
    monkeypatch.setattr(TestGateway, "refund", counted)
    return calls


async def cancel(client, number, expect=200, **body):
    resp = await client.post(f"/api/orders/{number}/cancel", json=body,
                             headers=from_the_assistant("conv-cancel", "web"))
    data = await resp.json()
    assert resp.status == expect, data
    return data


@pytest.mark.parametrize("status", ["awaiting_preparation", "being_prepared"])
async def test_cancel_returns_stock_and_refunds_everything(client, db, status, gateway_calls):
    a, b = await pick_variants(db, 2, min_stock=5)
    before = {a["id"]: await stock_of(db, a["id"]), b["id"]: await stock_of(db, b["id"])}
    order = await make_order(db, [(a, 2), (b, 1)], status=status, shipping=500, tax=120,
                             conversation_id=f"conv-{status}")
    assert await stock_of(db, a["id"]) == before[a["id"]] - 2

    data = await cancel(client, order["number"], email=order["email"].upper(),
                        reason="Ordered the wrong size")
    assert data["status"] == "refunded" and data["already_cancelled"] is False
    assert data["refund"]["status"] == "succeeded"
    assert data["refund"]["amount"]["amount"] == order["total"]
    assert data["refund"]["reason"] == "cancellation"
    assert {a["id"]: await stock_of(db, a["id"]), b["id"]: await stock_of(db, b["id"])} == before

    row = await order_row(db, order["number"])
    assert (row.status, row.refunded) == ("refunded", order["total"])
    [refund] = await refunds_of(db, order["id"])
    assert refund.idempotency_key == f"refund:{order['number']}:cancel"
    assert refund.gateway_refund_id.startswith("re_test_")
    assert gateway_calls == [refund.idempotency_key]
    changes = [e.properties["to"] for e in await events_of(db, order["number"],
                                                           "order_status_changed")]
    assert changes == ["cancelled", "refunded"]
    [refund_event] = await events_of(db, order["number"], "refund")
    assert (refund_event.value, refund_event.currency) == (order["total"], "USD")
    tags = [m["tag"] for m in await outbox_for(db, email=order["email"])]
    assert tags == ["order-cancelled", "refund-issued"]
    [notice] = await outbox_for(db, conversation_id=f"conv-{status}")
    assert notice["intent"] == "EXTERNAL_refund_issued"
    assert notice["entities"]["order_number"] == order["number"]


async def test_cancel_with_the_order_token(client, db, settings):
    [variant] = await pick_variants(db, 1, min_stock=3)
    order = await make_order(db, [(variant, 1)])
    data = await cancel(client, order["number"], token=token_for(settings, order["number"]))
    assert data["status"] == "refunded"


async def test_cancelling_twice_refunds_once(client, db, gateway_calls):
    [variant] = await pick_variants(db, 1, min_stock=3)
    stock = await stock_of(db, variant["id"])
    order = await make_order(db, [(variant, 2)])
    first = await cancel(client, order["number"], email=order["email"])
    second = await cancel(client, order["number"], email=order["email"])
    assert second["already_cancelled"] is True
    assert second["refund"] == first["refund"] and second["status"] == "refunded"
    assert len(await refunds_of(db, order["id"])) == 1 and len(gateway_calls) == 1
    assert await stock_of(db, variant["id"]) == stock
    assert (await order_row(db, order["number"])).refunded == order["total"]


async def test_two_cancels_at_once_refund_once(client, db, gateway_calls):
    [variant] = await pick_variants(db, 1, min_stock=3)
    stock = await stock_of(db, variant["id"])
    order = await make_order(db, [(variant, 2)])
    answers = await asyncio.gather(*(
        cancel(client, order["number"], email=order["email"]) for _ in range(2)))
    assert sorted(a["already_cancelled"] for a in answers) == [False, True]
    assert len(await refunds_of(db, order["id"])) == 1 and len(gateway_calls) == 1
    assert await stock_of(db, variant["id"]) == stock
    assert (await order_row(db, order["number"])).refunded == order["total"]


@pytest.mark.parametrize("status", ["shipped", "delivered"])
async def test_too_late_to_cancel(client, db, status):
    [variant] = await pick_variants(db, 1, min_stock=3)
    order = await make_order(db, [(variant, 1)], status=status)
    stock = await stock_of(db, variant["id"])
    resp = await client.post(f"/api/orders/{order['number']}/cancel",
                             json={"email": order["email"]})
    body = await resp.json()
    assert_problem(resp.status, resp.content_type, body, 409)
    assert body["type"].endswith("order-not-cancellable") and "return" in body["detail"]
    assert body["return_request"] == f"/api/orders/{order['number']}/returns"
    assert (await order_row(db, order["number"])).status == status
    assert await stock_of(db, variant["id"]) == stock and not await refunds_of(db, order["id"])


async def test_gateway_failure_leaves_a_refund_to_retry(client, db, monkeypatch):
    [variant] = await pick_variants(db, 1, min_stock=3)
    order = await make_order(db, [(variant, 1)], shipping=700)

    async def refused(self, *args, **kwargs):
        raise GatewayError("The payment provider is not answering right now.")
    real_refund = TestGateway.refund
    monkeypatch.setattr(TestGateway, "refund", refused)
    data = await cancel(client, order["number"], email=order["email"])
    assert data["status"] == "cancelled"
    assert data["refund"]["status"] == "failed"
    assert "not answering" in data["refund"]["failure_reason"] and "retry" in data["message"]
    row = await order_row(db, order["number"])
    assert (row.status, row.refunded) == ("cancelled", 0)

    resp = await client.get(f"/api/orders/{order['number']}/refunds",
                            params={"email": order["email"]})
    listed = await resp.json()
    assert [r["status"] for r in listed["refunds"]] == ["failed"]
    again = await cancel(client, order["number"], email=order["email"])
    assert again["already_cancelled"] and again["refund"]["status"] == "failed"

    refund_id = data["refund"]["id"]
    resp = await client.get("/api/admin/refunds", params={"status": "failed"}, headers=ADMIN)
    assert refund_id in [r["id"] for r in (await resp.json())["refunds"]]
    still_down = await client.post(f"/api/admin/refunds/{refund_id}/retry", headers=ADMIN)
    assert (await still_down.json())["status"] == "failed"

    monkeypatch.setattr(TestGateway, "refund", real_refund)
    resp = await client.post(f"/api/admin/refunds/{refund_id}/retry")
    assert resp.status == 401
    resp = await client.post(f"/api/admin/refunds/{refund_id}/retry", headers=ADMIN)
    retried = await resp.json()
    assert resp.status == 200 and retried["status"] == "succeeded"
    assert retried["failure_reason"] is None
    row = await order_row(db, order["number"])
    assert (row.status, row.refunded) == ("refunded", order["total"])
    resp = await client.post(f"/api/admin/refunds/{refund_id}/retry", headers=ADMIN)
    assert_problem(resp.status, resp.content_type, await resp.json(), 409)
    assert len(await refunds_of(db, order["id"])) == 1
    assert len(await events_of(db, order["number"], "refund")) == 1
    resp = await client.post("/api/admin/refunds/2147483000/retry", headers=ADMIN)
    assert resp.status == 404


async def test_an_order_paid_nothing_is_cancelled_without_refund(client, db, gateway_calls):
    [variant] = await pick_variants(db, 1, min_stock=3)
    order = await make_order(db, [(variant, 1)], discount=variant["price"])
    data = await cancel(client, order["number"], email=order["email"])
    assert data["status"] == "cancelled" and data["refund"] is None and not gateway_calls


async def test_retry_also_pays_a_refund_without_order(client, db):
    """The payments webhook owes a refund when goods sold out while paying (no order)."""
    from storefront_api.payments.models import Refund
    [variant] = await pick_variants(db, 1, min_stock=3)
    order = await make_order(db, [(variant, 1)])
    async with db.write() as session:
        checkout_id = (await order_row(db, order["number"])).checkout_id
        refund = Refund(checkout_id=checkout_id, order_id=None, amount=1234, currency="USD",
                        reason="out_of_stock", status="failed",
                        idempotency_key=f"refund-checkout-{checkout_id}-out-of-stock",
                        failure_reason="The payment provider is not answering right now.")
        session.add(refund)
        await session.flush()
        refund_id = refund.id
    resp = await client.get("/api/admin/refunds", params={"status": "failed"}, headers=ADMIN)
    [listed] = [r for r in (await resp.json())["refunds"] if r["id"] == refund_id]
    assert listed["order_number"] is None and listed["checkout_id"] == checkout_id
    resp = await client.post(f"/api/admin/refunds/{refund_id}/retry", headers=ADMIN)
    assert resp.status == 200 and (await resp.json())["status"] == "succeeded"
