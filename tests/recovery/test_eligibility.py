"""Which abandoned cart may get a reminder, decided for the test's own cart at chosen
instants (``assess`` at ``now``), so each rule is seen at the moment it changes: idle
exactly long enough, the cool-down ending exactly a full cool-down after the *last*
reminder, the last round allowed, a payment link open until its very end.

The job around these decisions (sending, the outbox, the promo code) is
test_reminder_job.py's; here nothing is sent."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from recovery_factories import (abandoned_cart, add_shopper_activity, place_order,
                                shopper_event)
from shop_factories import make_variant
from sqlalchemy import select

from storefront_api.cart.models import Cart, CartLine
from storefront_api.cart.service import new_token
from storefront_api.checkout.models import Checkout
from storefront_api.consent import service as consent
from storefront_api.db import Database, utcnow
from storefront_api.recovery.eligibility import (
    MESSAGING_WINDOW,
    RecoveryPolicy,
    abandoned_carts_query,
    assess,
)
from storefront_api.recovery.models import CartReminder
from storefront_api.settings import Settings

POLICY = RecoveryPolicy(idle=timedelta(hours=1), cooldown=timedelta(hours=72), max_reminders=3,
                        window=timedelta(days=7), promo_percent=0,
                        web_session=timedelta(minutes=30))


@pytest.fixture
async def db(module_url):
    """A database of this module's own: its carts stay abandoned and consenting after the
    test, and the reminder job of another test (test_recovery_stats.py counts what one run
    sends) must not find them in the shared demo shop."""
    database = Database(module_url)
    yield database
    await database.dispose()


@pytest.fixture
async def variant(db):
    return await make_variant(db, stock=50, price=1999)


async def decide(db, cart_id: int, now, policy: RecoveryPolicy = POLICY):
    async with db.read() as session:
        cart = await session.get(Cart, cart_id)
        return await assess(session, cart, policy, now)


async def remind(db, cart_id: int, number: int, at) -> None:
    """A reminder of this cart sent at ``at`` (as the job records one)."""
    async with db.write() as session:
        session.add(CartReminder(cart_id=cart_id, kind="email", number=number, sent_at=at,
                                 email="x@example.com", cart_total=3998, currency="USD"))


async def test_the_third_reminder_waits_a_full_cool_down_after_the_second(db, variant):
    cart = await abandoned_cart(db, variant, checkout_consent=True, idle=timedelta(days=30))
    first = utcnow() - timedelta(days=20)
    second = first + timedelta(days=10)  # long after the first's cool-down ended
    await remind(db, cart["id"], 1, first)
    await remind(db, cart["id"], 2, second)
    just_before = await decide(db, cart["id"], second + POLICY.cooldown - timedelta(seconds=1))
    assert (just_before.reason, just_before.round) == ("cool-down", 3)
    at_the_end = await decide(db, cart["id"], second + POLICY.cooldown)
    assert (at_the_end.reason, at_the_end.round, at_the_end.kinds) == ("eligible", 3, ["email"])
    assert at_the_end.email == cart["email"]


async def test_after_the_last_round_no_cool_down_ends_it(db, variant):
    cart = await abandoned_cart(db, variant, checkout_consent=True, idle=timedelta(days=30))
    start = utcnow() - timedelta(days=25)
    for number in (1, 2):
        await remind(db, cart["id"], number, start + timedelta(days=number))
    two_rounds = RecoveryPolicy(**{**POLICY.__dict__, "max_reminders": 2})
    done = await decide(db, cart["id"], utcnow(), two_rounds)
    assert (done.reason, done.round) == ("max-reminders", 3)
    assert (await decide(db, cart["id"], utcnow())).reason == "eligible"  # three allowed


async def test_a_cart_is_abandoned_exactly_idle_after_its_last_touch(db, variant):
    cart = await abandoned_cart(db, variant, checkout_consent=True, idle=timedelta(0))
    async with db.read() as session:
        touched = (await session.get(Cart, cart["id"])).updated_at
    assert (await decide(db, cart["id"], touched + POLICY.idle - timedelta(seconds=1))).reason \
        == "active"
    decision = await decide(db, cart["id"], touched + POLICY.idle)
    assert (decision.reason, decision.last_activity) == ("eligible", touched)
    # the job's query finds it at the same instant, and not a second earlier
    async with db.read() as session:
        found = set((await session.execute(abandoned_carts_query(
            touched + POLICY.idle, POLICY.idle, 10**6))).scalars())
        earlier = set((await session.execute(abandoned_carts_query(
            touched + POLICY.idle - timedelta(seconds=1), POLICY.idle, 10**6))).scalars())
    assert cart["id"] in found and cart["id"] not in earlier


async def test_a_later_checkout_attempt_is_activity(db, variant):
    cart = await abandoned_cart(db, variant, checkout_consent=True, idle=timedelta(hours=5))
    tried = utcnow() - timedelta(minutes=10)
    async with db.write() as session:
        attempt = Checkout(token=uuid.uuid4().hex, cart_id=cart["id"], status="expired",
                           email=cart["email"], shipping_address={}, country="GB",
                           shipping_method="standard", summary={}, currency="USD", total=0,
                           gateway="test", consent=False, expires_at=tried, created_at=tried,
                           updated_at=tried)
        session.add(attempt)
    decision = await decide(db, cart["id"], utcnow())
    assert (decision.reason, decision.last_activity) == ("active", tried)


async def test_an_open_payment_link_is_paying_until_it_expires(db, variant):
    cart = await abandoned_cart(db, variant, checkout_consent=True, idle=timedelta(hours=5))
    expires = utcnow() + timedelta(minutes=20)
    async with db.write() as session:
        checkout = (await session.execute(select(Checkout).where(
            Checkout.cart_id == cart["id"]))).scalar_one()
        checkout.status, checkout.expires_at = "open", expires
        checkout.created_at = utcnow() - timedelta(hours=5)
    assert (await decide(db, cart["id"], expires - timedelta(seconds=1))).reason == "paying"
    assert (await decide(db, cart["id"], expires)).reason == "eligible"


async def test_a_bought_or_merged_cart_is_ordered(db, variant):
    cart = await abandoned_cart(db, variant, checkout_consent=True)
    async with db.write() as session:
        (await session.get(Cart, cart["id"])).status = "converted"
    assert (await decide(db, cart["id"], utcnow())).reason == "ordered"


async def test_a_cart_with_an_order_is_ordered_whatever_its_status_says(db, variant):
    bought = await abandoned_cart(db, variant, checkout_consent=True)
    await place_order(db, bought["id"], at=utcnow(), total=3998)
    async with db.write() as session:  # an order written, the cart not closed (a crash)
        (await session.get(Cart, bought["id"])).status = "active"
    decision = await decide(db, bought["id"], utcnow())
    assert (decision.cart_id, decision.reason) == (bought["id"], "ordered")
    # another cart's order says nothing about this one
    other = await abandoned_cart(db, variant, checkout_consent=True)
    decision = await decide(db, other["id"], utcnow())
    assert (decision.cart_id, decision.reason, decision.round) == (other["id"], "eligible", 1)


async def test_the_latest_checkout_is_the_last_created_then_the_last_made(db, variant):
    cart = await abandoned_cart(db, variant, checkout_consent=True, idle=timedelta(hours=5))
    now = utcnow()

    def attempt(status: str, created, expires):
        return Checkout(token=uuid.uuid4().hex, cart_id=cart["id"], status=status,
                        email=cart["email"], shipping_address={}, country="GB",
                        shipping_method="standard", summary={}, currency="USD", total=0,
                        gateway="test", consent=False, expires_at=expires,
                        created_at=created, updated_at=created)
    async with db.write() as session:  # made first, but created last: the latest one
        session.add(attempt("open", now - timedelta(hours=2), now + timedelta(minutes=5)))
        await session.flush()
        session.add(attempt("expired", now - timedelta(hours=3), now - timedelta(hours=2)))
    assert (await decide(db, cart["id"], now)).reason == "paying"
    async with db.write() as session:  # same instant as the open one, made after it
        session.add(attempt("expired", now - timedelta(hours=2), now - timedelta(hours=1)))
    assert (await decide(db, cart["id"], now)).reason == "eligible"


async def test_no_consent_gives_nothing(db, variant):
    refused = await abandoned_cart(db, variant, checkout_consent=False)
    decision = await decide(db, refused["id"], utcnow())
    assert (decision.reason, decision.kinds, decision.email) == ("no-consent", [], None)


async def test_a_yes_whose_address_never_confirmed_and_no_open_chat_is_unconfirmed(db, variant):
    chat = f"rest-{uuid.uuid4().hex}"
    cart = await abandoned_cart(db, variant, checkout_consent=True, confirmed=False,
                                chat_consent=True, conversation_id=chat, channel=None)
    decision = await decide(db, cart["id"], utcnow())
    assert (decision.reason, decision.kinds, decision.email) == ("unconfirmed", [], None)


async def test_a_yes_in_the_chat_reaches_the_chat_and_not_the_refused_address(db, variant):
    chat = f"tg-{uuid.uuid4().hex}"
    cart = await abandoned_cart(db, variant, checkout_consent=False, chat_consent=True,
                                conversation_id=chat, channel="telegram")
    decision = await decide(db, cart["id"], utcnow())
    assert (decision.reason, decision.kinds, decision.email) == ("eligible", ["chat"], None)


async def test_a_customer_is_known_by_account_address_and_conversation(db, variant):
    chat = f"web-{uuid.uuid4().hex}"
    cart = await abandoned_cart(db, variant, customer_consent=True, conversation_id=chat,
                                channel="socketio")
    decision = await decide(db, cart["id"], utcnow())
    async with db.read() as session:
        customer_id = (await session.get(Cart, cart["id"])).customer_id
    assert decision.subjects == consent.subjects(customer_id=customer_id, email=cart["email"],
                                                 conversation_id=chat)
    assert (decision.reason, decision.kinds, decision.email) == ("eligible", ["email"],
                                                                 cart["email"])


async def test_a_web_chat_is_reachable_only_while_its_page_is_open(db, variant):
    chat = f"web-{uuid.uuid4().hex}"
    cart = await abandoned_cart(db, variant, chat_consent=True, conversation_id=chat,
                                channel="socketio", idle=timedelta(hours=5))
    seen = utcnow() - timedelta(hours=2)
    await add_shopper_activity(db, chat, seen)
    open_page = await decide(db, cart["id"], seen + POLICY.web_session)
    assert (open_page.reason, open_page.kinds) == ("eligible", ["chat"])
    closed = await decide(db, cart["id"], seen + POLICY.web_session + timedelta(seconds=1))
    assert (closed.reason, closed.kinds) == ("unreachable", [])


async def test_a_whatsapp_chat_is_reachable_for_24_hours(db, variant):
    chat = f"wa-{uuid.uuid4().hex}"
    cart = await abandoned_cart(db, variant, chat_consent=True, conversation_id=chat,
                                channel="WhatsApp", idle=timedelta(hours=2))
    seen = utcnow() - timedelta(hours=2)
    await add_shopper_activity(db, chat, seen)
    assert (await decide(db, cart["id"], seen + MESSAGING_WINDOW)).kinds == ["chat"]
    late = await decide(db, cart["id"], seen + MESSAGING_WINDOW + timedelta(seconds=1))
    assert (late.reason, late.kinds) == ("unreachable", [])


async def cart_touched(db, variant, at, *, status="active", saved_for_later=(False,)) -> int:
    async with db.write() as session:
        cart = Cart(token=new_token(), status=status, currency="USD", created_at=at,
                    updated_at=at)
        session.add(cart)
        await session.flush()
        for saved in saved_for_later:
            session.add(CartLine(cart_id=cart.id, variant_id=variant["id"], quantity=1,
                                 saved_for_later=saved, added_at=at))
        return cart.id


async def test_the_job_looks_at_idle_active_carts_with_items_oldest_first(db, variant):
    long_ago = utcnow().replace(year=1990)  # older than any other test's cart
    oldest = await cart_touched(db, variant, long_ago)
    tie_first = await cart_touched(db, variant, long_ago + timedelta(days=1))
    tie_second = await cart_touched(db, variant, long_ago + timedelta(days=1))
    await cart_touched(db, variant, long_ago, status="converted")
    await cart_touched(db, variant, long_ago, saved_for_later=(True,))  # saved, not in it
    await cart_touched(db, variant, long_ago, saved_for_later=())  # empty
    mixed = await cart_touched(db, variant, long_ago + timedelta(days=2),
                               saved_for_later=(True, False))
    # made last, touched first: the order is the last touch's, not the order carts were made
    made_last = await cart_touched(db, variant, long_ago - timedelta(days=1))
    async with db.read() as session:
        first_four = list((await session.execute(abandoned_carts_query(
            utcnow(), POLICY.idle, 4))).scalars())
        first_five = list((await session.execute(abandoned_carts_query(
            utcnow(), POLICY.idle, 5))).scalars())
    assert first_four == [made_last, oldest, tie_first, tie_second]
    assert first_five == [made_last, oldest, tie_first, tie_second, mixed]


async def test_only_the_shoppers_own_messages_in_this_chat_keep_it_open(db, variant):
    chat, elsewhere = f"web-{uuid.uuid4().hex}", f"web-{uuid.uuid4().hex}"
    cart = await abandoned_cart(db, variant, chat_consent=True, conversation_id=chat,
                                channel="socketio", idle=timedelta(hours=5))
    now = utcnow()
    async with db.write() as session:
        session.add(shopper_event(now - timedelta(minutes=1), elsewhere))  # another chat
        for name in ("cart_reminder_sent", "order_status_changed", "handoff_resolved",
                     "purchase", "refund"):  # the shop's own doing, in this chat
            session.add(shopper_event(now - timedelta(minutes=1), chat, name=name))
    decision = await decide(db, cart["id"], now)
    assert (decision.reason, decision.kinds) == ("unreachable", [])
    await add_shopper_activity(db, chat, now - timedelta(minutes=1))
    assert (await decide(db, cart["id"], now)).kinds == ["chat"]


def test_the_policy_comes_from_the_settings():
    settings = Settings.from_env(recovery_idle_minutes=90, recovery_cooldown_hours=48,
                                 recovery_max_reminders=4, recovery_window_days=5,
                                 recovery_promo_percent=12, recovery_web_session_minutes=20)
    assert RecoveryPolicy.from_settings(settings) == RecoveryPolicy(
        idle=timedelta(minutes=90), cooldown=timedelta(hours=48), max_reminders=4,
        window=timedelta(days=5), promo_percent=12, web_session=timedelta(minutes=20))
