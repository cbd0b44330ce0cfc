"""The reminder job on SQLite and PostgreSQL: who gets a reminder, through which channel, how
often, and that a dry run or a second run changes nothing."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import pytest
from recovery_factories import (abandoned_cart, add_shopper_activity, outbox_for, place_order,
                                reason_for, reminder_events, reminders_of, result_for,
                                table_counts)
from shop_factories import cart_with, make_variant

from storefront_api.db import utcnow
from storefront_api.pricing.service import check_promo, find_promo, mark_promo_used
from storefront_api.recovery.service import remind_carts


@pytest.fixture
async def variant(db):
    return await make_variant(db, stock=50, price=1999)


async def test_a_consenting_guest_gets_an_email_with_the_cart(db, settings, variant):
    cart = await abandoned_cart(db, variant, quantity=2, checkout_consent=True)
    report = await remind_carts(db, settings)
    sent = result_for(report, cart["id"])
    assert sent is not None and sent["kinds"] == ["email"]
    assert sent["value"] == 2 * 1999 and sent["round"] == 1
    [email] = await outbox_for(db, to=cart["email"])
    assert email.kind == "email" and email.payload["tag"] == "cart-reminder"
    assert f"/api/carts/{cart['token']}" in email.payload["text"]
    assert "2 x Test Tee" in email.payload["text"] and "$39.98" in email.payload["text"]
    [row] = await reminders_of(db, cart["id"])
    assert (row.kind, row.email, row.outcome, row.cart_total) == (
        "email", cart["email"], "pending", 3998)
    [event] = await reminder_events(db, cart["id"])
    assert event.value == 3998 and event.properties["kind"] == "email"
    assert "email" not in event.properties  # no address in the analytics events


@pytest.mark.parametrize("consent", [
    {"customer_consent": False},
    {"checkout_consent": False},
    # the latest decision wins: a "no" at checkout after a "yes" at sign-up
    {"customer_consent": True, "checkout_consent": False},
    # consent to analytics (the single flag of before) or to advertising is not marketing
    {"checkout_consent": "granted"},
    {"checkout_consent": "analytics,advertising"},
    {"chat_consent": False, "conversation_id": "tg-refused", "channel": "telegram"},
])
async def test_no_reminder_without_consent(db, settings, variant, consent):
    cart = await abandoned_cart(db, variant, **consent)
    report = await remind_carts(db, settings)
    assert result_for(report, cart["id"]) is None
    assert await reason_for(db, settings, cart["id"]) == "no-consent"
    # nothing of this cart's: no reminder row, no message, no analytics event
    assert await reminders_of(db, cart["id"]) == []
    assert await outbox_for(db, to=cart["email"]) == []
    assert await reminder_events(db, cart["id"]) == []


async def test_a_customer_with_marketing_consent_is_reminded_at_their_address(db, settings,
                                                                              variant):
    cart = await abandoned_cart(db, variant, customer_consent=True)
    report = await remind_carts(db, settings)
    assert result_for(report, cart["id"])["kinds"] == ["email"]
    assert len(await outbox_for(db, to=cart["email"])) == 1


@pytest.mark.parametrize("header", ["marketing", "analytics, Marketing"])
async def test_marketing_named_at_checkout_and_confirmed_is_consent_to_reminders(
        db, settings, variant, header):
    cart = await abandoned_cart(db, variant, checkout_consent=header)
    report = await remind_carts(db, settings)
    assert result_for(report, cart["id"])["kinds"] == ["email"]
    [event] = await reminder_events(db, cart["id"])
    # the event names the shopper only with analytics consent (a guest has no customer id)
    assert event.consent is ("analytics" in header.lower())


async def test_an_unconfirmed_grant_at_checkout_sends_no_reminder(db, settings, variant):
    """The address's owner never followed the link: the grant never reached the address."""
    cart = await abandoned_cart(db, variant, checkout_consent="marketing", confirmed=False)
    report = await remind_carts(db, settings)
    assert result_for(report, cart["id"]) is None
    assert await outbox_for(db, to=cart["email"]) == []


@pytest.mark.parametrize("consent", [
    {"checkout_consent": "marketing", "chat_consent": True},  # typed at checkout in the chat
    # an account made with someone else's address, whose holder said yes for the account
    {"customer_consent": True, "account_consent": True},
])
async def test_attack_a_yes_mails_no_reminder_to_an_unconfirmed_address(db, settings,
                                                                        variant, consent):
    """Whoever chats may type any address at checkout (or sign up with it) and say yes: the
    chat gets its reminder, the address gets nothing until its owner confirms."""
    chat = f"tg-{uuid.uuid4().hex}"
    cart = await abandoned_cart(db, variant, **consent, confirmed=False,
                                conversation_id=chat, channel="telegram")
    report = await remind_carts(db, settings)
    assert result_for(report, cart["id"])["kinds"] == ["chat"]
    assert await outbox_for(db, to=cart["email"]) == []
    assert [r.email for r in await reminders_of(db, cart["id"])] == [None]
    assert len(await outbox_for(db, conversation_id=chat)) == 1


async def test_a_cart_touched_recently_is_not_abandoned_yet(db, settings, variant):
    cart = await abandoned_cart(db, variant, checkout_consent=True,
                                idle=timedelta(minutes=settings.recovery_idle_minutes - 5))
    report = await remind_carts(db, settings)
    assert result_for(report, cart["id"]) is None
    assert await reminders_of(db, cart["id"]) == []


async def test_a_bought_cart_gets_no_reminder(db, settings, variant):
    cart = await abandoned_cart(db, variant, checkout_consent=True)
    await place_order(db, cart["id"], at=utcnow(), total=3998)
    report = await remind_carts(db, settings)
    assert result_for(report, cart["id"]) is None
    assert await reminders_of(db, cart["id"]) == []


async def test_second_run_sends_nothing_then_cool_down_and_limit_hold(db, settings, variant):
    settings = dataclasses.replace(settings, recovery_cooldown_hours=72, recovery_max_reminders=2)
    cart = await abandoned_cart(db, variant, checkout_consent=True)
    first = utcnow()
    assert result_for(await remind_carts(db, settings, now=first), cart["id"])
    again = await remind_carts(db, settings, now=first + timedelta(minutes=1))
    assert result_for(again, cart["id"]) is None
    assert await reason_for(db, settings, cart["id"], first + timedelta(minutes=1)) == \
        "cool-down"
    still = await remind_carts(db, settings, now=first + timedelta(hours=71))
    assert result_for(still, cart["id"]) is None
    second = await remind_carts(db, settings, now=first + timedelta(hours=73))
    assert result_for(second, cart["id"])["round"] == 2
    third = await remind_carts(db, settings, now=first + timedelta(hours=200))
    assert result_for(third, cart["id"]) is None
    assert await reason_for(db, settings, cart["id"], first + timedelta(hours=200)) == \
        "max-reminders"
    assert [r.number for r in await reminders_of(db, cart["id"])] == [1, 2]
    assert len(await outbox_for(db, to=cart["email"])) == 2


async def test_a_dry_run_lists_the_cart_and_changes_nothing(db, settings, variant):
    settings = dataclasses.replace(settings, recovery_promo_percent=10)
    cart = await abandoned_cart(db, variant, checkout_consent=True)
    before = await table_counts(db)
    report = await remind_carts(db, settings, dry_run=True)
    assert result_for(report, cart["id"])["kinds"] == ["email"]
    assert await table_counts(db) == before


async def test_whatsapp_chat_reminder_only_inside_the_24_hour_window(db, settings, variant):
    open_chat, closed_chat = f"wa-{uuid.uuid4().hex}", f"wa-{uuid.uuid4().hex}"
    inside = await abandoned_cart(db, variant, chat_consent=True, conversation_id=open_chat,
                                  channel="whatsapp", idle=timedelta(hours=3))
    outside = await abandoned_cart(db, variant, chat_consent=True, conversation_id=closed_chat,
                                   channel="whatsapp", idle=timedelta(hours=30))
    await add_shopper_activity(db, open_chat, utcnow() - timedelta(hours=20))
    report = await remind_carts(db, settings)
    assert result_for(report, inside["id"])["kinds"] == ["chat"]  # no e-mail known
    [notice] = await outbox_for(db, conversation_id=open_chat)
    assert notice.payload["intent"] == "EXTERNAL_cart_reminder"
    assert notice.payload["entities"] == {"item_count": 2, "cart_total": "$39.98",
                                          "promo_code": None}
    assert result_for(report, outside["id"]) is None
    assert await outbox_for(db, conversation_id=closed_chat) == []


async def test_reminder_events_are_not_shopper_activity(db, settings, variant):
    """The shop's own reminder must not reopen a web chat's session window for the next one."""
    settings = dataclasses.replace(settings, recovery_cooldown_hours=0,
                                   recovery_web_session_minutes=30, recovery_idle_minutes=1)
    chat = f"web-{uuid.uuid4().hex}"
    cart = await abandoned_cart(db, variant, chat_consent=True, conversation_id=chat,
                                channel="socketio", idle=timedelta(minutes=10))
    now = utcnow()
    assert result_for(await remind_carts(db, settings, now=now), cart["id"])["kinds"] == ["chat"]
    later = await remind_carts(db, settings, now=now + timedelta(minutes=25))
    assert result_for(later, cart["id"]) is None  # shopper's last activity is 35 minutes old


async def test_promo_code_is_single_use_and_expires_with_the_window(db, settings, variant,
                                                                    client):
    settings = dataclasses.replace(settings, recovery_promo_percent=15, recovery_window_days=7)
    cart = await abandoned_cart(db, variant, checkout_consent=True)
    now = utcnow()
    report = await remind_carts(db, settings, now=now)
    code = result_for(report, cart["id"])["promo_code"]
    [email] = await outbox_for(db, to=cart["email"])
    assert code in email.payload["text"]
    async with db.read() as session:
        promo = await find_promo(session, code)
    assert (promo.kind, promo.value, promo.usage_limit) == ("percentage", 15, 1)
    assert promo.expires_at == now + timedelta(days=7)
    applied = await client.put(f"/api/carts/{cart['token']}/promo-code", json={"code": code})
    assert applied.status == 200, await applied.text()
    assert (await applied.json())["totals"]["discount"]["amount"] == (3998 * 15 + 50) // 100
    async with db.write() as session:  # the first cart's order was paid with it
        await mark_promo_used(session, promo.id)
    other = await cart_with(client, variant["id"])
    refused = await client.put(f"/api/carts/{other}/promo-code", json={"code": code})
    assert refused.status == 422
    assert (await refused.json())["type"].endswith("promo-code-used-up")
    assert check_promo(promo, 3998, "USD", now + timedelta(days=8)).problem == "expired"
