"""The payment webhook's rules at their edges: what counts as an event, the amount that must
match to the minor unit, what each kind of event does to a checkout (and what the merchant
reads in its stored outcome), and a refund the webhook owes: asked once, its answer kept, never
a 500 for the gateway."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from types import SimpleNamespace

import pytest
from payment_helpers import (
    checkout_row,
    count_events,
    deliver,
    event_row,
    open_checkout,
    orders_of,
    refunds_of,
    session_event,
    stock_of,
    webhook_secret,
)
from sqlalchemy import select, update

from storefront_api.app_keys import DB, PAYMENT_GATEWAY
from storefront_api.catalog.models import StockReservation
from storefront_api.checkout import payment_events
from storefront_api.checkout.models import Checkout
from storefront_api.db import utcnow
from storefront_api.payments import refunds
from storefront_api.outbox.models import OutboxMessage
from storefront_api.outbox.service import enqueue_email
from storefront_api.payments.builtin.gateway import TestGateway
from storefront_api.payments.gateway import GatewayError, InvalidWebhook, RefundResult
from storefront_api.payments.models import Refund
from storefront_api.payments.webhooks import check_event_shape, receive_event

NOT_AN_EVENT = "the body is not an event (id, type and data.object are needed)"


# --- what counts as an event ----------------------------------------------------------------

@pytest.mark.parametrize("event_id,kind", [
    ("e", "t"), ("e" * 255, "checkout.session.completed"), ("evt_1", "k" * 80)])
def test_an_event_needs_an_id_of_1_to_255_and_a_type_of_1_to_80_characters(event_id, kind):
    obj = {"id": "cs_1"}
    assert check_event_shape({"id": event_id, "type": kind, "data": {"object": obj}}) == \
        (event_id, kind, obj)


@pytest.mark.parametrize("event", [
    {"id": "", "type": "t", "data": {"object": {}}},
    {"id": "e" * 256, "type": "t", "data": {"object": {}}},
    {"id": 12, "type": "t", "data": {"object": {}}},
    {"type": "t", "data": {"object": {}}},
    {"id": "e", "type": "", "data": {"object": {}}},
    {"id": "e", "type": "k" * 81, "data": {"object": {}}},
    {"id": "e", "type": ["t"], "data": {"object": {}}},
    {"id": "e", "data": {"object": {}}},
    {"id": "e", "type": "t"},
    {"id": "e", "type": "t", "data": [{"object": {}}]},
    {"id": "e", "type": "t", "data": {"object": ["x"]}},
    {"id": "e", "type": "t", "data": {}},
])
def test_anything_else_is_not_an_event(event):
    with pytest.raises(InvalidWebhook) as refused:
        check_event_shape(event)
    assert str(refused.value) == NOT_AN_EVENT


@pytest.mark.parametrize("length,status", [(255, 200), (256, 400)])
async def test_the_longest_event_id_is_stored_and_one_more_is_refused(client, db, length,
                                                                      status):
    checkout = await open_checkout(client, db)
    event = session_event(checkout)
    event["id"] = ("evt_" + secrets.token_hex(8) + "x" * length)[:length]
    response = await deliver(client, event, webhook_secret(client))
    body = await response.json()
    assert response.status == status, body
    if status == 400:
        assert body["detail"] == f"Webhook refused: {NOT_AN_EVENT}."
        assert await count_events(db, event["id"]) == 0 and not await orders_of(
            db, checkout["token"])
    else:
        stored = await event_row(db, event["id"])
        assert stored.checkout_id == (await checkout_row(db, checkout["token"])).id
        assert len(await orders_of(db, checkout["token"])) == 1


async def test_a_stored_event_says_when_and_from_which_gateway_it_came(client, db):
    checkout = await open_checkout(client, db)
    before = utcnow()
    event = session_event(checkout, "checkout.session.expired", payment_status="unpaid")
    await deliver(client, event, webhook_secret(client))
    stored = await event_row(db, event["id"])
    assert (stored.type, stored.gateway, stored.outcome) == (
        "checkout.session.expired", "test", "checkout expired")
    assert before - timedelta(seconds=1) <= stored.received_at <= utcnow()


async def test_an_event_applied_without_an_outcome_is_kept_as_received(client, db, caplog):
    """``receive_event`` is generic: what ``apply`` does not say, the row says ("received"),
    and a second delivery is logged and applied no more."""
    applied = []

    async def apply(session, stored, kind, obj):
        applied.append((stored.id, kind, obj["id"]))
        return "done"
    event = {"id": "evt_plain_" + secrets.token_hex(8), "type": "invoice.paid",
             "data": {"object": {"id": "in_1"}}}
    app = client.app
    assert await receive_event(app[DB], app[PAYMENT_GATEWAY], event, apply) == "done"
    caplog.set_level(logging.INFO, logger="storefront_api.payments")
    assert await receive_event(app[DB], app[PAYMENT_GATEWAY], event, apply) is None
    assert applied == [(event["id"], "invoice.paid", "in_1")]
    stored = await event_row(db, event["id"])
    assert (stored.outcome, stored.gateway, stored.payload) == ("received", "test", event)
    assert stored.received_at is not None
    assert f"payment event {event['id']} received again; ignored" in _logged(caplog)


def _logged(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records]


# --- the amount, to the minor unit ------------------------------------------------------------

@pytest.mark.parametrize("off", [-1, 1])
async def test_a_payment_one_minor_unit_off_makes_no_order(client, db, off, caplog):
    checkout = await open_checkout(client, db, price=2500)
    total = checkout["totals"]["total"]["amount"]
    event = session_event(checkout, amount_total=total + off)
    response = await deliver(client, event, webhook_secret(client))
    assert await response.json() == {"received": True}
    problem = f"paid {total + off} USD (Stripe's units), the checkout is {total} USD"
    assert (await event_row(db, event["id"])).outcome == f"needs review: {problem}"
    row_id = (await checkout_row(db, checkout["token"])).id
    assert f"payment for checkout {row_id} not applied: {problem}" in _logged(caplog)
    assert await orders_of(db, checkout["token"]) == []
    assert (await checkout_row(db, checkout["token"])).status == "open"  # still held, payable
    assert await stock_of(db, checkout["variant"]["id"]) == (5, 4)


@pytest.mark.parametrize("changes,paid", [
    ({"currency": "eur"}, "{total} EUR"),
    ({"currency": None}, "{total} NONE"),
    ({"amount_total": None}, "None USD"),
])
async def test_the_currency_must_match_too(client, db, changes, paid):
    checkout = await open_checkout(client, db)
    total = checkout["totals"]["total"]["amount"]
    event = session_event(checkout, **changes)
    await deliver(client, event, webhook_secret(client))
    assert (await event_row(db, event["id"])).outcome == (
        f"needs review: paid {paid.format(total=total)} (Stripe's units), "
        f"the checkout is {total} USD")
    assert await orders_of(db, checkout["token"]) == []


@pytest.mark.parametrize("currency,total,reported,matches", [
    ("ISK", 5, 500, True),  # Stripe counts ISK with two decimals that must be 00
    ("ISK", 5, 5, False),
    ("JPY", 500, 500, True),
    ("USD", 4999, 4999, True),
])
def test_the_amount_is_compared_in_stripe_s_units(currency, total, reported, matches):
    checkout = SimpleNamespace(total=total, currency=currency)
    problem = payment_events._amount_problem(checkout, {"amount_total": reported,
                                                        "currency": currency.lower()})
    assert problem == (None if matches else
                       f"paid {reported} {currency} (Stripe's units), the checkout is "
                       f"{total * 100} {currency}")


@pytest.mark.parametrize("currency", ["usd", "USD"])
async def test_the_exact_amount_in_either_letter_case_makes_the_order(client, db, currency):
    checkout = await open_checkout(client, db)
    event = session_event(checkout, currency=currency)
    response = await deliver(client, event, webhook_secret(client))
    [order] = await orders_of(db, checkout["token"])
    assert await response.json() == {"received": True, "order_number": order.number}


async def test_an_event_without_amounts_is_trusted_as_paid(client, db):
    """Older API versions send async_payment_succeeded without amount and currency."""
    checkout = await open_checkout(client, db)
    event = session_event(checkout, "checkout.session.async_payment_succeeded",
                          amount_total=None, currency=None)
    await deliver(client, event, webhook_secret(client))
    [order] = await orders_of(db, checkout["token"])
    assert (await event_row(db, event["id"])).outcome == f"order {order.number} created"


async def test_a_very_long_outcome_is_cut_to_the_column(client, db):
    """What the gateway sent is quoted in the outcome: 255 characters of it at most."""
    checkout = await open_checkout(client, db)
    event = session_event(checkout, amount_total="9" * 300)
    response = await deliver(client, event, webhook_secret(client))
    assert response.status == 200
    outcome = (await event_row(db, event["id"])).outcome
    assert outcome == ("needs review: paid " + "9" * 300)[:255] and len(outcome) == 255


# --- what each kind of event does -----------------------------------------------------------

async def test_a_completed_session_not_yet_paid_waits(client, db):
    checkout = await open_checkout(client, db)
    event = session_event(checkout, payment_status="unpaid")
    response = await deliver(client, event, webhook_secret(client))
    assert await response.json() == {"received": True}
    assert (await event_row(db, event["id"])).outcome == "waiting for the payment (unpaid)"
    assert (await checkout_row(db, checkout["token"])).status == "open"
    assert await orders_of(db, checkout["token"]) == []


@pytest.mark.parametrize("kind,status,reason", [
    ("checkout.session.expired", "expired", "the payment link expired"),
    ("checkout.session.async_payment_failed", "failed", "the payment failed"),
])
async def test_an_unpaid_end_closes_the_checkout_with_its_reason(client, db, kind, status,
                                                                 reason):
    checkout = await open_checkout(client, db, stock=2)
    event = session_event(checkout, kind, payment_status="unpaid")
    await deliver(client, event, webhook_secret(client))
    row = await checkout_row(db, checkout["token"])
    assert (row.status, row.failure_reason) == (status, reason)
    stored = await event_row(db, event["id"])
    assert (stored.outcome, stored.checkout_id) == (f"checkout {status}", row.id)
    assert await stock_of(db, checkout["variant"]["id"]) == (2, 2)


async def test_another_session_event_is_kept_against_its_checkout_and_ignored(client, db):
    checkout = await open_checkout(client, db)
    event = session_event(checkout, "checkout.session.updated")
    await deliver(client, event, webhook_secret(client))
    stored = await event_row(db, event["id"])
    row = await checkout_row(db, checkout["token"])
    assert (stored.outcome, stored.checkout_id) == (
        "ignored: checkout.session.updated is not handled", row.id)
    assert row.status == "open" and await orders_of(db, checkout["token"]) == []


async def test_an_event_about_something_else_never_touches_a_checkout(client, db):
    """A payment_intent event whose object id happens to equal a session id is not a
    checkout's event."""
    checkout = await open_checkout(client, db)
    event = session_event(checkout, "payment_intent.succeeded")
    await deliver(client, event, webhook_secret(client))
    stored = await event_row(db, event["id"])
    assert (stored.outcome, stored.checkout_id) == (
        "ignored: payment_intent.succeeded is not handled", None)
    assert await orders_of(db, checkout["token"]) == []


async def test_a_session_event_without_a_session_id_is_ignored(client, db):
    checkout = await open_checkout(client, db)
    event = session_event(checkout, id=12345)
    await deliver(client, event, webhook_secret(client))
    stored = await event_row(db, event["id"])
    assert (stored.outcome, stored.checkout_id) == (
        "ignored: no checkout has this payment session", None)
    assert await orders_of(db, checkout["token"]) == []


async def test_an_expanded_payment_intent_is_not_taken_for_a_reference(client, db):
    """Only Stripe's id string is a payment reference (an expanded object is not)."""
    checkout = await open_checkout(client, db)
    await deliver(client, session_event(checkout, payment_intent={"id": "pi_x"}),
                  webhook_secret(client))
    [order] = await orders_of(db, checkout["token"])
    assert order.payment_reference is None


# --- a refund the webhook owes -------------------------------------------------------------

async def _sold_while_paying(client, db) -> dict:
    """A checkout whose hold lapsed and whose last unit another shopper paid for."""
    slow = await open_checkout(client, db, stock=1, price=1800)
    past = utcnow() - timedelta(minutes=1)
    async with db.write() as session:
        checkout_id = (await checkout_row(db, slow["token"])).id
        await session.execute(update(Checkout).where(Checkout.id == checkout_id)
                              .values(expires_at=past))
        await session.execute(update(StockReservation).where(
            StockReservation.checkout_id == checkout_id).values(expires_at=past))
    fast = await open_checkout(client, db, variant=slow["variant"])
    await deliver(client, session_event(fast), webhook_secret(client))
    return slow


async def test_the_refund_owed_is_the_checkout_s_total_under_a_key_of_its_own(client, db):
    slow = await _sold_while_paying(client, db)
    event = session_event(slow)
    await deliver(client, event, webhook_secret(client))
    row = await checkout_row(db, slow["token"])
    [refund] = await refunds_of(db, slow["token"])
    assert (refund.order_id, refund.amount, refund.currency, refund.reason, refund.status,
            refund.idempotency_key, refund.failure_reason) == (
        None, slow["totals"]["total"]["amount"], "USD", "out_of_stock", "succeeded",
        f"refund-checkout-{row.id}-out-of-stock", None)
    assert row.payment_reference == event["data"]["object"]["payment_intent"]


async def test_a_payment_without_a_reference_leaves_a_failed_refund_saying_so(client, db,
                                                                              monkeypatch):
    asked = []

    async def refund(self, *args, **kwargs):
        asked.append(args)
        raise AssertionError("nothing to refund at the gateway without a payment reference")
    monkeypatch.setattr(TestGateway, "refund", refund)
    slow = await _sold_while_paying(client, db)
    await deliver(client, session_event(slow, payment_intent=None), webhook_secret(client))
    [refund_row] = await refunds_of(db, slow["token"])
    assert (refund_row.status, refund_row.failure_reason) == (
        "failed", "the gateway gave no payment reference")
    assert asked == []


async def test_a_refund_that_cannot_be_recorded_is_no_500(client, db, monkeypatch, caplog):
    """The event and the refund owed are committed before the gateway is asked: if paying
    back breaks, the webhook still answers 200 (no redelivery that would change nothing) and
    the refund stays pending for the merchant's retry."""
    async def broken(*args, **kwargs):
        raise RuntimeError("database went away")
    monkeypatch.setattr(payment_events, "pay_back", broken)
    slow = await _sold_while_paying(client, db)
    event = session_event(slow)
    response = await deliver(client, event, webhook_secret(client))
    assert response.status == 200 and await response.json() == {"received": True}
    [refund] = await refunds_of(db, slow["token"])
    assert (refund.status, refund.failure_reason) == ("pending", None)  # a reference was given
    assert (await event_row(db, event["id"])).outcome.endswith(": full refund")
    assert f"refund {refund.id} could not be recorded; it stays pending" in _logged(caplog)


async def _owed(client, db, *, amount: int = 700, status: str = "pending") -> int:
    """A refund a checkout owes (as the webhook writes it), not yet asked of the gateway."""
    checkout = await open_checkout(client, db)
    async with db.write() as session:
        row = Refund(checkout_id=(await checkout_row(db, checkout["token"])).id, order_id=None,
                     amount=amount, currency="USD", reason="out_of_stock", status=status,
                     idempotency_key=f"refund-test-{secrets.token_hex(8)}")
        session.add(row)
        await session.flush()
        return row.id


async def _refund(db, refund_id: int) -> Refund:
    async with db.read() as session:
        return await session.get(Refund, refund_id)


@pytest.fixture
def gateway_asked(monkeypatch):
    """The test gateway's refunds, counted: (reference, amount, currency, key, reason)."""
    asked = []
    real = TestGateway.refund

    async def counted(self, reference, amount, currency, *, idempotency_key, reason):
        asked.append((reference, amount, currency, idempotency_key, reason))
        return await real(self, reference, amount, currency, idempotency_key=idempotency_key,
                          reason=reason)
    monkeypatch.setattr(TestGateway, "refund", counted)
    return asked


async def test_paying_back_asks_the_gateway_once_for_the_exact_amount(client, db,
                                                                       gateway_asked):
    refund_id = await _owed(client, db, amount=701)
    key = (await _refund(db, refund_id)).idempotency_key
    paid = await refunds.pay_back(client.app[DB], client.app[PAYMENT_GATEWAY], refund_id,
                                  "pi_test_owed")
    assert (paid.status, paid.failure_reason) == ("succeeded", None)
    assert paid.gateway_refund_id.startswith("re_test_")
    again = await refunds.pay_back(client.app[DB], client.app[PAYMENT_GATEWAY], refund_id,
                                   "pi_test_owed")
    assert again.gateway_refund_id == paid.gateway_refund_id
    assert gateway_asked == [("pi_test_owed", 701, "USD", key, "out_of_stock")]


async def test_what_follows_a_refund_runs_with_its_success_only(client, db):
    """``then`` runs once, in the transaction that records the success (what it writes is
    committed with it)."""
    followed = []

    async def then(session, refund):
        followed.append((refund.id, refund.status, refund.amount))
        await enqueue_email(session, to="owed@example.com", subject=f"refund {refund.id}",
                            text="sent back", tag="refund-test")
    refund_id = await _owed(client, db, amount=650)
    await refunds.pay_back(client.app[DB], client.app[PAYMENT_GATEWAY], refund_id, "pi_test_t",
                           then=then)
    await refunds.pay_back(client.app[DB], client.app[PAYMENT_GATEWAY], refund_id, "pi_test_t",
                           then=then)
    assert followed == [(refund_id, "succeeded", 650)]
    async with db.read() as session:
        mails = (await session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "email"))).all()
    assert [m.payload["subject"] for m in mails if m.payload["to"] == "owed@example.com"
            and m.payload["subject"] == f"refund {refund_id}"] == [f"refund {refund_id}"]


async def test_a_failed_refund_of_an_order_is_logged_with_its_order(client, db, monkeypatch,
                                                                    caplog):
    async def failing(self, *args, **kwargs):
        raise GatewayError("Charge disputed.")
    monkeypatch.setattr(TestGateway, "refund", failing)
    checkout = await open_checkout(client, db)
    await deliver(client, session_event(checkout), webhook_secret(client))
    [order] = await orders_of(db, checkout["token"])
    async with db.write() as session:
        row = Refund(order_id=order.id, amount=100, currency="USD", reason="return",
                     status="pending", idempotency_key=f"refund-test-{secrets.token_hex(8)}")
        session.add(row)
        await session.flush()
        refund_id = row.id
    await refunds.pay_back(client.app[DB], client.app[PAYMENT_GATEWAY], refund_id, "pi_test_o")
    assert f"refund {refund_id} (order {order.id}, checkout None) failed: Charge disputed." \
        in _logged(caplog)


async def test_the_test_gateway_refuses_more_than_is_left_and_the_refund_stays_owed(client,
                                                                                   db):
    gateway = client.app[PAYMENT_GATEWAY]
    gateway.record_payment("pi_test_small", 700, "USD")
    too_much = await _owed(client, db, amount=701)
    refused = await refunds.pay_back(client.app[DB], gateway, too_much, "pi_test_small")
    assert (refused.status, refused.failure_reason) == (
        "failed", "Refund amount ($7.01) is greater than the unrefunded amount of the payment "
                  "($7.00).")
    exact = await _owed(client, db, amount=700)
    assert (await refunds.pay_back(client.app[DB], gateway, exact, "pi_test_small")).status \
        == "succeeded"


@pytest.mark.parametrize("error,reason", [
    (GatewayError("Your card was closed."), "Your card was closed."),
    (GatewayError(""), refunds.UNREACHABLE),
    (RuntimeError("odd answer"), refunds.UNREACHABLE),
])
async def test_a_gateway_that_fails_leaves_a_failed_refund_to_retry(client, db, monkeypatch,
                                                                     caplog, error, reason):
    async def failing(self, *args, **kwargs):
        raise error
    monkeypatch.setattr(TestGateway, "refund", failing)
    refund_id = await _owed(client, db)
    failed = await refunds.pay_back(client.app[DB], client.app[PAYMENT_GATEWAY], refund_id,
                                    "pi_test_x")
    assert (failed.status, failed.failure_reason, failed.gateway_refund_id) == (
        "failed", reason, None)
    stored = await _refund(db, refund_id)
    assert stored.status == "failed"
    logged = _logged(caplog)
    assert f"refund {refund_id} (order None, checkout {stored.checkout_id}) failed: {reason}" \
        in logged
    assert (f"refund {refund_id}: the gateway call failed" in logged) == \
        isinstance(error, RuntimeError)


async def test_no_payment_reference_fails_with_the_reason_known_or_a_default(client, db,
                                                                             gateway_asked):
    plain = await _owed(client, db)
    failed = await refunds.pay_back(client.app[DB], client.app[PAYMENT_GATEWAY], plain, None)
    assert (failed.status, failed.failure_reason, failed.gateway_refund_id) == (
        "failed", "The order has no payment to refund.", None)
    explained = await _owed(client, db)
    async with db.write() as session:
        (await session.get(Refund, explained)).failure_reason = "no reference from Stripe"
    again = await refunds.pay_back(client.app[DB], client.app[PAYMENT_GATEWAY], explained, "")
    assert again.failure_reason == "no reference from Stripe"
    assert gateway_asked == []


async def test_recording_an_answer(client, db):
    """Pending keeps waiting, an odd status counts as pending, a long reason is cut to the
    column, an empty one is none, an answer without an id keeps the id known, and then
    ``then`` runs once, with the refund, on success only."""
    refund_id = await _owed(client, db)
    followed = []

    async def then(session, refund):
        followed.append((refund.id, refund.status))

    async def answer(result: RefundResult) -> Refund:
        async with db.write() as session:
            return await refunds.record(session, refund_id, result, then)
    first = await _refund(db, refund_id)
    pending = await answer(RefundResult("re_a", "pending", ""))
    assert (pending.status, pending.failure_reason, pending.gateway_refund_id) == (
        "pending", None, "re_a")
    assert pending.updated_at >= first.updated_at
    odd = await answer(RefundResult("", "requires_action", "r" * 300))
    assert (odd.status, odd.failure_reason, odd.gateway_refund_id) == (
        "pending", "r" * 255, "re_a")
    failed = await answer(RefundResult("", "failed", None))
    assert (failed.status, failed.failure_reason) == ("failed", None)
    assert followed == []
    done = await answer(RefundResult("re_b", "succeeded", "ignored"))
    assert (done.status, done.failure_reason, done.gateway_refund_id) == (
        "succeeded", None, "re_b")
    late = await answer(RefundResult("re_c", "failed", "too late"))  # already succeeded
    assert (late.status, late.failure_reason, late.gateway_refund_id) == (
        "succeeded", None, "re_b")
    assert followed == [(refund_id, "succeeded")]
    stored = await _refund(db, refund_id)
    assert (stored.status, stored.gateway_refund_id) == ("succeeded", "re_b")
