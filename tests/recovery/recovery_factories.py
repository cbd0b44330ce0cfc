"""Abandoned carts as the recovery job finds them: written straight into the database with
the timestamps a test needs (a cart idle for two hours cannot be made through the API)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select

from storefront_api.cart.models import Cart, CartLine
from storefront_api.cart.service import new_token
from storefront_api.checkout.models import Checkout
from storefront_api.consent import service as consent
from storefront_api.customers.models import Customer
from storefront_api.db import utcnow
from storefront_api.events.models import Event
from storefront_api.orders.models import Order
from storefront_api.outbox.models import OutboxMessage
from storefront_api.pricing.models import PromoCode
from storefront_api.recovery.models import CartReminder


def unique_email() -> str:
    return f"shopper-{uuid.uuid4().hex[:10]}@example.com"


async def abandoned_cart(db, variant: dict, *, quantity: int = 2, idle=timedelta(hours=2),
                         customer_consent: bool | None = None,
                         checkout_consent: bool | str | None = None,
                         chat_consent: bool | None = None, conversation_id: str | None = None,
                         channel: str | None = None, confirmed: bool = True,
                         account_consent: bool | None = None) -> dict:
    """A cart of ``quantity`` x ``variant`` last touched ``idle`` ago, and the shopper's
    consent decisions as the shop records them (storefront_api/consent):
    customer_consent: owned by a customer who decided on marketing e-mail at sign-up, a day
    before; checkout_consent: an expired checkout (at the last touch) whose X-Consent granted
    marketing (True), nothing (False) or what this X-Consent value says ("granted" is
    analytics only); chat_consent: a marketing decision made in the cart's conversation.
    confirmed: the address's owner followed the confirmation link of a grant of marketing or
    advertising, a minute after it was stated (without it the address never gets the grant:
    consent/confirmation.py). account_consent (with customer_consent): the signed-in
    customer's marketing decision through POST /api/consent at the last touch, for their
    account at once (for their address, a refusal at once, a grant once confirmed)."""
    touched = utcnow() - idle
    email = unique_email()
    async with db.write() as session:
        customer = None
        if customer_consent is not None:
            customer = Customer(email=email, password_hash="-",
                                marketing_consent=customer_consent and confirmed)
            session.add(customer)
            await session.flush()
            await _stated(session, {"marketing"} if customer_consent else set(), "signup",
                          touched - timedelta(days=1), confirmed, ("marketing",),
                          unproven=consent.subjects(customer_id=customer.id, email=email))
        cart = Cart(token=new_token(), status="active", currency="USD",
                    customer_id=customer.id if customer else None,
                    conversation_id=conversation_id, channel=channel,
                    created_at=touched, updated_at=touched)
        session.add(cart)
        await session.flush()
        session.add(CartLine(cart_id=cart.id, variant_id=variant["id"], quantity=quantity,
                             added_at=touched))
        if checkout_consent is not None:
            purposes = (consent.parse(checkout_consent) if isinstance(checkout_consent, str)
                        else {"marketing"} if checkout_consent else set())
            session.add(_expired_checkout(cart, email, "analytics" in purposes, touched))
            await _stated(session, purposes, "checkout", touched, confirmed, consent.PURPOSES,
                          unproven=consent.subjects(email=email))
        if account_consent is not None:
            await consent.record(session, [f"customer:{customer.id}"],
                                 {"marketing"} if account_consent else set(), source="api",
                                 purposes=("marketing",), at=touched)
            await _stated(session, {"marketing"} if account_consent else set(), "api", touched,
                          confirmed, ("marketing",), unproven=consent.subjects(email=email))
        if chat_consent is not None:
            session.add(shopper_event(touched, conversation_id, cart_id=cart.id))
            await consent.record(session, consent.subjects(conversation_id=conversation_id),
                                 {"marketing"} if chat_consent else set(), source="chat",
                                 at=touched)
        return {"id": cart.id, "token": cart.token, "email": email}


async def _stated(session, granted, source: str, at: datetime, confirmed: bool, purposes,
                  *, unproven: list[str]) -> None:
    """A decision about an address as the shop records it (refusals and analytics at once),
    and, when ``confirmed``, its owner's confirmation of the rest a minute later."""
    awaiting = consent.NEEDS_OWNER & set(granted)
    await consent.record(session, unproven, set(granted) - awaiting, source=source, at=at,
                         purposes=[p for p in purposes if p not in awaiting])
    if confirmed and awaiting:
        await consent.record(session, unproven, awaiting, source=consent.CONFIRMED,
                             purposes=sorted(awaiting), at=at + timedelta(minutes=1))


def _expired_checkout(cart: Cart, email: str, consent: bool, at: datetime) -> Checkout:
    return Checkout(token=new_token(), cart_id=cart.id, status="expired", email=email,
                    shipping_address={}, country="GB", shipping_method="standard", summary={},
                    currency="USD", total=0, gateway="test", consent=consent,
                    conversation_id=cart.conversation_id, channel=cart.channel,
                    expires_at=at, created_at=at, updated_at=at)


def shopper_event(at: datetime, conversation_id: str | None, *, cart_id: int | None = None,
                  consent: bool = True, name: str = "view_item_list") -> Event:
    return Event(event_id=str(uuid.uuid4()), ts=at, name=name, session_id=conversation_id,
                 conversation_id=conversation_id, cart_id=str(cart_id) if cart_id else None,
                 consent=consent, properties={})


async def add_shopper_activity(db, conversation_id: str, at: datetime) -> None:
    async with db.write() as session:
        session.add(shopper_event(at, conversation_id))


async def place_order(db, cart_id: int, *, at: datetime, total: int) -> str:
    """The cart bought: a completed checkout and its order, created at ``at``."""
    number = "RC-" + uuid.uuid4().hex[:8].upper()
    async with db.write() as session:
        cart = await session.get(Cart, cart_id)
        checkout = _expired_checkout(cart, unique_email(), True, at)
        checkout.status = "completed"
        session.add(checkout)
        await session.flush()
        session.add(Order(number=number, checkout_id=checkout.id, cart_id=cart_id,
                          email=checkout.email, currency="USD", subtotal=total, discount=0,
                          shipping=0, tax=0, total=total, refunded=0,
                          shipping_method="standard", shipping_address={},
                          payment_gateway="test", created_at=at, updated_at=at))
        cart.status = "converted"
    return number


async def reminders_of(db, cart_id: int) -> list[CartReminder]:
    async with db.read() as session:
        return list((await session.execute(
            select(CartReminder).where(CartReminder.cart_id == cart_id)
            .order_by(CartReminder.number, CartReminder.kind))).scalars())


async def outbox_for(db, *, to: str | None = None, conversation_id: str | None = None):
    async with db.read() as session:
        messages = (await session.execute(select(OutboxMessage))).scalars().all()
    return [m for m in messages if (to and m.payload.get("to") == to) or
            (conversation_id and m.payload.get("conversation_id") == conversation_id)]


async def reminder_events(db, cart_id: int) -> list[Event]:
    async with db.read() as session:
        return list((await session.execute(select(Event).where(
            Event.name == "cart_reminder_sent", Event.cart_id == str(cart_id)))).scalars())


async def table_counts(db) -> dict[str, int]:
    async with db.read() as session:
        return {model.__tablename__: await session.scalar(select(func.count()).select_from(model))
                for model in (CartReminder, OutboxMessage, Event, PromoCode, Order)}


def result_for(report, cart_id: int) -> dict | None:
    return next((c for c in report.reminded if c["cart_id"] == cart_id), None)


async def reason_for(db, settings, cart_id: int, now: datetime | None = None) -> str:
    """Why the job would (``eligible``) or would not remind this one cart at ``now``: the
    test's own cart, whatever other carts the shared database holds."""
    from storefront_api.recovery.eligibility import RecoveryPolicy, assess
    async with db.read() as session:
        cart = await session.get(Cart, cart_id)
        decision = await assess(session, cart, RecoveryPolicy.from_settings(settings),
                                now or utcnow())
    return decision.reason
