"""Recovery measured: a reminded cart bought within the window is recovered, after it lost;
the job writes the outcome and the admin route reports it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from recovery_factories import abandoned_cart, place_order, reminders_of, result_for
from shop_factories import make_variant

from storefront_api.db import utcnow
from storefront_api.recovery.eligibility import RecoveryPolicy
from storefront_api.recovery.service import outcome_of, remind_carts

ADMIN = {"Authorization": "Bearer test-admin"}  # the settings fixture's admin token
POLICY = RecoveryPolicy(idle=timedelta(hours=1), cooldown=timedelta(hours=72), max_reminders=2,
                        window=timedelta(days=7), promo_percent=0,
                        web_session=timedelta(minutes=30))


def test_outcome_of_a_reminder():
    sent = utcnow()
    order_in = ("AB-1", sent + timedelta(days=2), 5000)
    order_late = ("AB-2", sent + timedelta(days=8), 5000)
    order_before = ("AB-3", sent - timedelta(hours=1), 5000)
    assert outcome_of(sent, [order_late, order_in], sent + timedelta(days=9), POLICY) == (
        "recovered", order_in)
    assert outcome_of(sent, [order_before], sent + timedelta(days=3), POLICY) == ("pending", None)
    assert outcome_of(sent, [order_late], sent + timedelta(days=9), POLICY) == ("lost", None)
    # exactly at the end of the window still counts
    edge = ("AB-4", sent + timedelta(days=7), 100)
    assert outcome_of(sent, [edge], sent + timedelta(days=30), POLICY)[0] == "recovered"


async def _stats(client, days: int = 30) -> dict:
    response = await client.get(f"/api/admin/recovery?days={days}", headers=ADMIN)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_a_reminded_cart_bought_later_counts_as_recovered(db, settings, client):
    variant = await make_variant(db, stock=10, price=2500)
    cart = await abandoned_cart(db, variant, quantity=1, checkout_consent=True)
    before = await _stats(client)
    sent_at = utcnow()
    assert result_for(await remind_carts(db, settings, now=sent_at), cart["id"])
    middle = await _stats(client)
    assert middle["carts_reminded"] == before["carts_reminded"] + 1
    assert middle["carts_pending"] == before["carts_pending"] + 1
    assert middle["reminders_sent"]["email"] == before["reminders_sent"]["email"] + 1
    number = await place_order(db, cart["id"], at=sent_at + timedelta(days=1), total=3100)
    after = await _stats(client)
    assert after["carts_recovered"] == before["carts_recovered"] + 1
    assert after["carts_pending"] == before["carts_pending"]
    recovered = {v["currency"]: v["amount"] for v in after["value_recovered"]}
    earlier = {v["currency"]: v["amount"] for v in before["value_recovered"]}
    assert recovered["USD"] - earlier.get("USD", 0) == 3100  # the order's total
    report = await remind_carts(db, settings, now=sent_at + timedelta(days=1, minutes=1))
    assert report.settled.get("recovered", 0) >= 1
    [row] = await reminders_of(db, cart["id"])
    assert (row.outcome, row.order_number, row.recovered_value) == ("recovered", number, 3100)


async def test_a_reminder_without_an_order_in_the_window_is_lost(db, settings):
    variant = await make_variant(db, stock=10, price=2500)
    cart = await abandoned_cart(db, variant, quantity=1, checkout_consent=True)
    sent_at = utcnow()
    assert result_for(await remind_carts(db, settings, now=sent_at), cart["id"])
    await remind_carts(db, settings, now=sent_at + timedelta(days=settings.recovery_window_days,
                                                            hours=1))
    rows = await reminders_of(db, cart["id"])
    assert rows[0].outcome == "lost" and rows[0].order_number is None


@pytest.mark.parametrize("query", ["days=0", "days=abc", "days=4000"])
async def test_stats_refuse_a_bad_period(client, query):
    response = await client.get(f"/api/admin/recovery?{query}", headers=ADMIN)
    assert response.status == 422


async def test_stats_need_the_admin_token(client):
    assert (await client.get("/api/admin/recovery")).status == 401
