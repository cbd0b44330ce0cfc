"""Recovery measured: of the carts reminded in a period, how many were bought within the
window after a reminder, and what that was worth. Computed from the reminders and the orders
themselves (read-only), by the same rule the job writes into ``cart_reminders.outcome``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..money import money
from ..orders.models import Order
from ..pricing.models import PromoCode
from .eligibility import RecoveryPolicy
from .models import CartReminder
from .service import outcome_of


def _per_currency(amounts: dict[str, int]) -> list[dict[str, Any]]:
    return [money(amount, currency) for currency, amount in sorted(amounts.items())]


async def _orders_by_cart(session: AsyncSession, cart_ids: set[int]) -> dict[int, list]:
    orders: dict[int, list] = {}
    if cart_ids:
        for cart_id, number, created, total in (await session.execute(
                select(Order.cart_id, Order.number, Order.created_at, Order.total)
                .where(Order.cart_id.in_(cart_ids)))).all():
            orders.setdefault(cart_id, []).append((number, created, total))
    return orders


async def recovery_stats(session: AsyncSession, policy: RecoveryPolicy, now: datetime,
                         days: int) -> dict[str, Any]:
    since = now - timedelta(days=days)
    reminders = list((await session.execute(
        select(CartReminder).where(CartReminder.sent_at >= since)
        .order_by(CartReminder.sent_at))).scalars())
    orders = await _orders_by_cart(session, {r.cart_id for r in reminders})
    carts: dict[int, dict] = {}
    sent = {"email": 0, "chat": 0}
    for reminder in reminders:
        sent[reminder.kind] = sent.get(reminder.kind, 0) + 1
        cart = carts.setdefault(reminder.cart_id, {"outcome": "lost", "order": None})
        cart.update(value=reminder.cart_total, currency=reminder.currency)  # latest reminder
        outcome, order = outcome_of(reminder.sent_at, orders.get(reminder.cart_id, []), now,
                                    policy)
        if outcome == "recovered" or (outcome == "pending" and cart["outcome"] == "lost"):
            cart["outcome"] = outcome
            cart["order"] = order or cart["order"]
    return _summary(carts, sent, days, policy,
                    await _promo_uses(session, {r.promo_code_id for r in reminders}))


async def _promo_uses(session: AsyncSession, promo_ids: set[int | None]) -> dict[str, int]:
    ids = {i for i in promo_ids if i is not None}
    if not ids:
        return {"sent": 0, "used": 0}
    used = (await session.execute(select(PromoCode.times_used)
                                  .where(PromoCode.id.in_(ids)))).scalars().all()
    return {"sent": len(ids), "used": sum(1 for times in used if times > 0)}


def _summary(carts: dict[int, dict], sent: dict[str, int], days: int, policy: RecoveryPolicy,
             promos: dict[str, int]) -> dict[str, Any]:
    counts = {"recovered": 0, "pending": 0, "lost": 0}
    reminded_value: dict[str, int] = {}
    recovered_value: dict[str, int] = {}
    for cart in carts.values():
        counts[cart["outcome"]] += 1
        reminded_value[cart["currency"]] = reminded_value.get(cart["currency"], 0) + cart["value"]
        if cart["outcome"] == "recovered":
            recovered_value[cart["currency"]] = (recovered_value.get(cart["currency"], 0)
                                                 + cart["order"][2])
    settled = counts["recovered"] + counts["lost"]
    return {
        "period_days": days, "recovery_window_days": policy.window.days,
        "reminders_sent": sent, "carts_reminded": len(carts),
        "carts_recovered": counts["recovered"], "carts_pending": counts["pending"],
        "carts_lost": counts["lost"],
        # over carts whose outcome is known: a pending cart may still come back
        "recovery_rate": round(counts["recovered"] / settled, 4) if settled else None,
        "value_reminded": _per_currency(reminded_value),
        "value_recovered": _per_currency(recovered_value),
        "promo_codes": promos,
    }
