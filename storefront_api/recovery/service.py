"""The reminder job: find abandoned carts, remind the shopper, and measure what came back.

Each cart is reminded in its own write transaction: the cart row is locked, the decision
re-checked, and the reminder rows, outbox messages, promo code and ``cart_reminder_sent``
events written together. Run twice (or by two processes at once), the second run finds the
cool-down (or the unique reminder number) and sends nothing more. A dry run decides the same
way in read-only transactions and writes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ..cart.models import Cart
from ..cart.service import PricedCart, price_cart
from ..consent import service as consent
from ..db import Database, utcnow
from ..events.service import EventContext, record_event
from ..orders.models import Order
from ..outbox.service import enqueue_conversation_notice, enqueue_email
from ..pricing import service as pricing
from ..pricing.models import PromoCode
from ..settings import Settings
from .eligibility import Decision, RecoveryPolicy, abandoned_carts_query, assess
from .messages import CHAT_INTENT, chat_entities, reminder_email
from .models import CartReminder

log = logging.getLogger("storefront_api.recovery")
EVENT_NAME = "cart_reminder_sent"


@dataclass
class RunReport:
    dry_run: bool
    examined: int = 0
    reminded: list[dict] = field(default_factory=list)  # one per cart reminded (or to remind)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> carts
    settled: dict[str, int] = field(default_factory=dict)  # outcome -> reminders settled

    def as_dict(self) -> dict:
        return {"dry_run": self.dry_run, "examined": self.examined,
                "reminded": len(self.reminded), "emails": self._count("email"),
                "chat_messages": self._count("chat"), "skipped": self.skipped,
                "settled": self.settled, "carts": self.reminded}

    def _count(self, kind: str) -> int:
        return sum(kind in cart["kinds"] for cart in self.reminded)


async def _locked_cart(session: AsyncSession, cart_id: int) -> Cart | None:
    return (await session.execute(
        select(Cart).options(selectinload(Cart.lines)).where(Cart.id == cart_id)
        .with_for_update())).scalar_one_or_none()


def _promo_code() -> str:
    return "BACK-" + secrets.token_hex(4).upper()  # 4 bytes: collisions are refused anyway


async def _new_promo(session: AsyncSession, cart: Cart, policy: RecoveryPolicy,
                     now: datetime) -> PromoCode | None:
    if not policy.promo_percent:
        return None
    return await pricing.create_promo(
        session, code=_promo_code(), kind="percentage", value=policy.promo_percent,
        currency=cart.currency, min_subtotal=0, expires_at=now + policy.window,
        usage_limit=1, single_use=True, active=True)


async def _send(session: AsyncSession, cart: Cart, decision: Decision, priced: PricedCart,
                settings: Settings, policy: RecoveryPolicy, now: datetime) -> dict:
    promo = await _new_promo(session, cart, policy, now)
    total = priced.totals.subtotal
    # sent with marketing consent; the event names the customer only with analytics consent
    ctx = EventContext(customer_id=str(cart.customer_id) if cart.customer_id else None,
                       session_id=cart.conversation_id, conversation_id=cart.conversation_id,
                       channel=cart.channel,
                       consent=await consent.granted(session, decision.subjects, "analytics"))
    for kind in decision.kinds:
        if kind == "email":
            subject, text = reminder_email(priced, settings, promo)
            await enqueue_email(session, to=decision.email, subject=subject, text=text,
                                tag="cart-reminder")
        else:
            await enqueue_conversation_notice(session, conversation_id=cart.conversation_id,
                                              intent=CHAT_INTENT,
                                              entities=chat_entities(priced, promo))
        session.add(CartReminder(
            cart_id=cart.id, kind=kind, number=decision.round, email=decision.email,
            channel=cart.channel, conversation_id=cart.conversation_id,
            promo_code_id=promo.id if promo else None, cart_total=total,
            currency=cart.currency, sent_at=now, outcome="pending"))
        await record_event(session, EVENT_NAME, ctx, cart_id=str(cart.id), value=total,
                           currency=cart.currency,
                           properties={"kind": kind, "round": decision.round,
                                       "item_count": priced.item_count,
                                       "promo": bool(promo)})
    await session.flush()  # the unique reminder number is checked here, inside the lock
    return {"cart_id": cart.id, "kinds": decision.kinds, "round": decision.round,
            "value": total, "currency": cart.currency, "promo_code": promo.code if promo else None}


async def _remind_one(db: Database, cart_id: int, settings: Settings, policy: RecoveryPolicy,
                      now: datetime, dry_run: bool) -> tuple[Decision | None, dict | None]:
    opener = db.read if dry_run else db.write
    async with opener() as session:
        cart = await _locked_cart(session, cart_id) if not dry_run else await session.get(
            Cart, cart_id, options=[selectinload(Cart.lines)])
        if cart is None:
            return None, None
        decision = await assess(session, cart, policy, now)
        if not decision.eligible:
            return decision, None
        priced = await price_cart(session, cart, settings, now)
        if not priced.lines:  # every item's product was removed from the catalog
            decision.reason = "no-items"
            return decision, None
        if dry_run:
            return decision, {"cart_id": cart.id, "kinds": decision.kinds,
                              "round": decision.round, "value": priced.totals.subtotal,
                              "currency": cart.currency, "promo_code": None}
        return decision, await _send(session, cart, decision, priced, settings, policy, now)


async def remind_carts(db: Database, settings: Settings, *, now: datetime | None = None,
                       dry_run: bool = False, limit: int = 500) -> RunReport:
    """One run of the job over at most ``limit`` candidate carts, oldest first."""
    now, policy = now or utcnow(), RecoveryPolicy.from_settings(settings)
    report = RunReport(dry_run=dry_run)
    if not dry_run:
        report.settled = await settle_outcomes(db, policy, now)
    async with db.read() as session:
        cart_ids = list((await session.execute(
            abandoned_carts_query(now, policy.idle, limit))).scalars())
    for cart_id in cart_ids:
        try:
            decision, sent = await _remind_one(db, cart_id, settings, policy, now, dry_run)
        except IntegrityError:  # another run reminded this cart a moment ago
            decision, sent = Decision(cart_id, "already-reminded"), None
        if decision is None:
            continue
        report.examined += 1
        if sent is not None:
            report.reminded.append(sent)
        else:
            report.skipped[decision.reason] = report.skipped.get(decision.reason, 0) + 1
    return report


def outcome_of(sent_at: datetime, orders: list[tuple[str, datetime, int]], now: datetime,
               policy: RecoveryPolicy) -> tuple[str, tuple[str, datetime, int] | None]:
    """recovered (an order for the cart within the window after the reminder), lost (the
    window is over without one) or pending; with the recovering order."""
    for order in sorted(orders, key=lambda o: o[1]):
        if sent_at <= order[1] <= sent_at + policy.window:
            return "recovered", order
    return ("lost" if now > sent_at + policy.window else "pending"), None


async def settle_outcomes(db: Database, policy: RecoveryPolicy, now: datetime) -> dict[str, int]:
    """Write the outcome of pending reminders whose cart was bought or whose window ended."""
    settled: dict[str, int] = {}
    async with db.write() as session:
        pending = list((await session.execute(
            select(CartReminder).where(CartReminder.outcome == "pending").limit(5000))).scalars())
        orders: dict[int, list] = {}
        cart_ids = {r.cart_id for r in pending}
        if cart_ids:
            for cart_id, number, created, total in (await session.execute(
                    select(Order.cart_id, Order.number, Order.created_at, Order.total)
                    .where(Order.cart_id.in_(cart_ids)))).all():
                orders.setdefault(cart_id, []).append((number, created, total))
        for reminder in pending:
            outcome, order = outcome_of(reminder.sent_at, orders.get(reminder.cart_id, []),
                                        now, policy)
            if outcome == "pending":
                continue
            reminder.outcome = outcome
            if order is not None:
                reminder.order_number, reminder.recovered_at, reminder.recovered_value = order
            settled[outcome] = settled.get(outcome, 0) + 1
    return settled


async def run_periodically(db: Database, settings: Settings, stop: asyncio.Event) -> None:
    """``serve`` with RECOVERY_INTERVAL_MINUTES > 0: a run every interval, stopping between
    runs (never inside a database call)."""
    every = settings.recovery_interval_minutes * 60
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
            return
        except asyncio.TimeoutError:
            pass
        try:
            report = await remind_carts(db, settings)
            if report.reminded:
                log.info("sent reminders for %d abandoned carts", len(report.reminded))
        except Exception:  # the next run tries again
            log.exception("cart reminder run failed")
