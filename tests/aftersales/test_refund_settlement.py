"""A refund's money is counted once: settled twice (a retry's answer and a late webhook's),
or retried by the merchant while the first attempt is still at the gateway, the order's
refunded total grows by the refund once, with one ``refund`` event and one e-mail. And the
test gateway, like Stripe, refuses to pay back more than what is left of the payment."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aftersales_factories import events_of, make_order, order_row, outbox_for, refunds_of
from cart_helpers import pick_variants

from storefront_api.aftersales import refunds
from storefront_api.app_keys import DB, PAYMENT_GATEWAY
from storefront_api.events.service import EventContext
from storefront_api.payments.builtin.gateway import TestGateway
from storefront_api.payments.gateway import GatewayError, RefundResult
from storefront_api.problems import Problem


def money_path(client):
    """What paying a refund back needs: the database and the app's gateway."""
    return client.app[DB], client.app[PAYMENT_GATEWAY]


async def pending_cancellation_refund(db, client, *, total_units: int = 2):
    """A cancelled order with its pending full refund, not yet asked of the gateway."""
    [variant] = await pick_variants(db, 1, min_stock=total_units + 1)
    order = await make_order(db, [(variant, total_units)],
                             conversation_id=f"conv-refund-{uuid.uuid4().hex}")
    async with db.write() as session:
        from storefront_api.aftersales.service import cancel_order
        from storefront_api.orders.service import order_by_number
        locked = await order_by_number(session, order["number"], for_update=True)
        cancellation = await cancel_order(session, locked, "", EventContext())
        refund_id = cancellation.refund.id
    return {**order, "conversation_id": await _conversation(db, order)}, refund_id


async def _conversation(db, order) -> str:
    return (await order_row(db, order["number"])).conversation_id


async def money_back_records(db, order) -> tuple[int, int, int, int]:
    """(refunded total, refund events, refund e-mails, chat notices) of an order."""
    mails = [m for m in await outbox_for(db, email=order["email"])
             if m["tag"] == "refund-issued"]
    notices = [m for m in await outbox_for(db, conversation_id=order["conversation_id"])
               if m.get("intent") == "EXTERNAL_refund_issued"]
    return ((await order_row(db, order["number"])).refunded,
            len(await events_of(db, order["number"], "refund")), len(mails), len(notices))


async def test_a_refund_settled_twice_is_counted_once(client, db):
    order, refund_id = await pending_cancellation_refund(db, client)
    answer = RefundResult("re_1", "succeeded")
    for _ in range(2):  # the retry's answer, then the gateway's late webhook
        async with db.write() as session:
            settled = await refunds.settle(session, refund_id, answer)
            assert (settled.status, settled.gateway_refund_id) == ("succeeded", "re_1")
    assert await money_back_records(db, order) == (order["total"], 1, 1, 1)
    [event] = await events_of(db, order["number"], "refund")
    assert (event.value, event.currency, event.properties["refund_id"],
            event.properties["reason"]) == (order["total"], "USD", refund_id, "cancellation")
    assert (await order_row(db, order["number"])).status == "refunded"


async def test_a_retry_while_the_first_attempt_is_at_the_gateway_is_counted_once(client, db,
                                                                                monkeypatch):
    order, refund_id = await pending_cancellation_refund(db, client)
    asked = []
    real_refund = TestGateway.refund

    async def slow_refund(self, *args, **kwargs):  # both attempts are at the gateway at once
        asked.append(kwargs["idempotency_key"])
        await asyncio.sleep(0.2)
        return await real_refund(self, *args, **kwargs)
    monkeypatch.setattr(TestGateway, "refund", slow_refund)
    first, retried = await asyncio.gather(refunds.issue(*money_path(client), refund_id),
                                          refunds.retry(*money_path(client), refund_id))
    assert first.status == retried.status == "succeeded"
    assert asked == [f"refund:{order['number']}:cancel"] * 2  # one key: one payment back
    assert await money_back_records(db, order) == (order["total"], 1, 1, 1)
    [refund] = await refunds_of(db, order["id"])
    assert refund.status == "succeeded" and refund.gateway_refund_id.startswith("re_test_")


async def test_a_failed_answer_then_a_success_counts_once(client, db):
    order, refund_id = await pending_cancellation_refund(db, client)
    async with db.write() as session:
        failed = await refunds.settle(session, refund_id,
                                      RefundResult("", "failed", "card expired"))
        assert (failed.status, failed.failure_reason) == ("failed", "card expired")
    assert await money_back_records(db, order) == (0, 0, 0, 0)
    async with db.write() as session:
        pending = await refunds.settle(session, refund_id, RefundResult("re_2", "pending"))
        assert (pending.status, pending.failure_reason, pending.gateway_refund_id) == \
            ("pending", None, "re_2")
    async with db.write() as session:
        done = await refunds.settle(session, refund_id, RefundResult("", "succeeded"))
        assert (done.status, done.failure_reason, done.gateway_refund_id) == \
            ("succeeded", None, "re_2")  # an answer without an id keeps the one known
    assert await money_back_records(db, order) == (order["total"], 1, 1, 1)


async def test_a_succeeded_refund_is_not_retried(client, db):
    order, refund_id = await pending_cancellation_refund(db, client)
    await refunds.issue(*money_path(client), refund_id)
    with pytest.raises(Problem) as refused:
        await refunds.retry(*money_path(client), refund_id)
    assert refused.value.status == 409
    assert refused.value.body_dict["type"].endswith("/refund-already-succeeded")
    assert refused.value.body_dict["detail"] == \
        f"Refund {refund_id} already succeeded; there is nothing to retry."
    again = await refunds.issue(*money_path(client), refund_id)  # issuing again changes nothing
    assert again.status == "succeeded"
    assert await money_back_records(db, order) == (order["total"], 1, 1, 1)


async def test_an_order_without_a_payment_gets_a_failed_refund_and_no_money(client, db):
    [variant] = await pick_variants(db, 1, min_stock=2)
    order = await make_order(db, [(variant, 1)], payment_reference=None)
    async with client.app[DB].write() as session:
        from storefront_api.orders.service import order_by_number
        locked = await order_by_number(session, order["number"], for_update=True)
        refund = await refunds.new_refund(session, locked, order["total"], reason="return",
                                          idempotency_key=f"k-{order['number']}")
    issued = await refunds.issue(*money_path(client), refund.id)
    assert (issued.status, issued.failure_reason) == \
        ("failed", "The order has no payment to refund.")
    assert (await order_row(db, order["number"])).refunded == 0


# --- the test gateway refuses what Stripe refuses ----------------------------------------------

async def test_the_test_gateway_refuses_a_refund_above_what_is_left(settings):
    gateway = TestGateway(settings)
    gateway.record_payment("pi_test_abc", 5000, "USD")
    first = await gateway.refund("pi_test_abc", 3000, "USD", idempotency_key="k1",
                                 reason="return")
    assert first.status == "succeeded"
    with pytest.raises(GatewayError) as refused:
        await gateway.refund("pi_test_abc", 2001, "USD", idempotency_key="k2", reason="return")
    assert str(refused.value) == ("Refund amount ($20.01) is greater than the unrefunded "
                                  "amount of the payment ($20.00).")
    last = await gateway.refund("pi_test_abc", 2000, "USD", idempotency_key="k3",
                                reason="return")
    assert last.status == "succeeded" and last.id != first.id
    # a repeat of an earlier request is answered with its refund, as at Stripe
    assert await gateway.refund("pi_test_abc", 3000, "USD", idempotency_key="k1",
                                reason="return") == first
    with pytest.raises(GatewayError):
        await gateway.refund("pi_test_abc", 1, "USD", idempotency_key="k4", reason="return")


async def test_retrying_a_refund_that_does_not_exist_says_so(client):
    with pytest.raises(Problem) as missing:
        await refunds.retry(*money_path(client), 987_654_321)
    assert (missing.value.status, missing.value.body_dict["detail"]) == (
        404, "No refund with id 987654321.")
