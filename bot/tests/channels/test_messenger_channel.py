"""Aisle's Messenger channel (bot/channels/messenger.py, name ``facebook``) against the fake
Send API (tests/fakes/messenger.py)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time

import pytest

from bot.channels.messaging import Deliveries, SendFailed
from bot.channels.messenger import MessengerInput
from bot.tests.channels.webhook_server import served
from fakes.messenger import FakeMessenger
from fakes.platform import as_json

PSID = "6012345678901234"


@pytest.fixture
def fake():
    with FakeMessenger() as platform:
        yield platform


def channel_for(fake: FakeMessenger) -> MessengerInput:
    return MessengerInput(page_token=fake.page_token, app_secret=fake.app_secret,
                          verify_token=fake.verify_token, api_url=fake.api_url,
                          deliveries=Deliveries())


async def deliver(fake, webhook, body, signature="", headers=None):
    return await asyncio.to_thread(fake.deliver, webhook, body, signature, headers)


async def test_the_handshake_and_a_message_answered_through_the_send_api(fake):
    async with served(channel_for(fake)) as server:
        assert await asyncio.to_thread(fake.verify, server.webhook, fake.verify_token,
                                       "42") == (200, b"42")
        assert (await asyncio.to_thread(fake.verify, server.webhook, "nope"))[0] == 403
        status, _ = await deliver(fake, server.webhook, fake.text_message(PSID, "hoodies"))
        await server.settle()
    assert status == 200
    assert [(m.sender_id, m.text, m.input_channel) for m in server.received] == [
        (PSID, "hoodies", "facebook")]
    [answer] = fake.messages_to(PSID)
    assert answer["message"] == {"text": "echo: hoodies"}
    assert answer["messaging_type"] == "RESPONSE"


def sha1_signature(secret: str, raw: bytes) -> str:
    return "sha1=" + hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest()


@pytest.mark.parametrize("kind", ["missing", "wrong", "sha1-only", "other-secret"])
async def test_attack_a_delivery_without_a_valid_sha256_signature_is_refused(fake, kind):
    body = fake.text_message(PSID, "hi")
    raw = as_json(body)
    signature, headers = {
        "missing": (None, None), "wrong": ("sha256=" + "1" * 64, None),
        # Rasa's connector accepted the old SHA-1 header; only X-Hub-Signature-256 counts
        "sha1-only": (None, {"X-Hub-Signature": sha1_signature(fake.app_secret, raw)}),
        "other-secret": (fake.signature(raw, "another-app"), None)}[kind]
    async with served(channel_for(fake)) as server:
        status, _ = await deliver(fake, server.webhook, body, signature, headers)
        await server.settle()
    assert status == 403 and server.received == [] and fake.sent() == []


async def test_attack_a_replayed_delivery_is_answered_once(fake):
    body = fake.text_message(PSID, "hello")
    async with served(channel_for(fake)) as server:
        for _ in range(3):
            assert (await deliver(fake, server.webhook, body))[0] == 200
        await server.settle()
    assert len(server.received) == 1 and len(fake.messages_to(PSID)) == 1


async def test_every_entry_and_event_of_a_batch_echoes_and_receipts_aside(fake):
    batch = fake.text_message(PSID, "one")
    batch["entry"] += fake.postback("6099", "Details",
                                    '/select_product{"product_id": 4}')["entry"]
    batch["entry"] += fake.quick_reply(PSID, "Yes", "/affirm")["entry"]
    batch["entry"][0]["messaging"].append({"sender": {"id": PSID}, "recipient": {"id": "PAGE1"},
                                           "delivery": {"mids": ["m_1"]}})
    echo = fake.text_message(PSID, "sent by the page")
    echo["entry"][0]["messaging"][0]["message"]["is_echo"] = True
    batch["entry"] += echo["entry"]
    async with served(channel_for(fake), answer=None) as server:
        assert (await deliver(fake, server.webhook, batch))[0] == 200
        await server.settle()
    assert sorted((m.sender_id, m.text) for m in server.received) == sorted([
        (PSID, "one"), ("6099", '/select_product{"product_id": 4}'), (PSID, "/affirm")])


async def test_cards_quick_replies_and_links_fit_the_send_api(fake):
    channel = channel_for(fake)
    await channel.deliveries.put(f"last_in:{PSID}", str(time.time()), 3600)
    output = channel.get_output_channel()
    cards = [{"title": f"Hoodie {n}", "subtitle": "€49.00 · in stock",
              "image_url": f"https://cdn.example/{n}.jpg",
              "buttons": [{"title": "Details", "payload": f'/select_product{{"product_id": {n}}}'},
                          {"title": "Add to cart", "payload": f'/add_to_cart{{"product_id": {n}}}'}]}
             for n in range(12)]
    await output.send_custom_json(PSID, {"data": {"type": "product_cards", "cards": cards}})
    await output.send_text_with_buttons(PSID, "Which size?", [
        {"title": f"Size {n} for the longest arms", "payload": f'/inform{{"size": "{n}"}}'}
        for n in range(15)])
    await output.send_text_with_buttons(PSID, "Pay here:", [
        {"title": "Pay now", "type": "web_url", "url": "https://pay.example/1"}])
    sent = [m["message"] for m in fake.messages_to(PSID)]
    generic = [m["attachment"]["payload"]["elements"] for m in sent[:2]]
    assert [len(e) for e in generic] == [10, 2]
    assert generic[0][0]["buttons"][1] == {"type": "postback", "title": "Add to cart",
                                           "payload": '/add_to_cart{"product_id": 0}'}
    assert [len(m["quick_replies"]) for m in sent[2:4]] == [13, 2]
    assert sent[2]["quick_replies"][0]["title"] == "Size 0 for the long…"
    assert sent[4]["attachment"]["payload"]["buttons"] == [
        {"type": "web_url", "url": "https://pay.example/1", "title": "Pay now"}]


async def test_a_push_outside_the_window_is_tagged_a_post_purchase_update(fake):
    fake.window_closed_for.add(PSID)
    await channel_for(fake).get_output_channel().send_text_message(PSID, "Order A-2 is paid")
    [message] = fake.messages_to(PSID)
    assert (message["messaging_type"], message["tag"]) == ("MESSAGE_TAG", "POST_PURCHASE_UPDATE")


async def test_a_refused_send_raises(fake):
    fake.fail_next()
    with pytest.raises(SendFailed, match="500"):
        await channel_for(fake).get_output_channel().send_text_message(PSID, "Paid")


def test_it_refuses_to_start_without_the_app_secret():
    with pytest.raises(ValueError, match="FACEBOOK_SECRET"):
        MessengerInput(page_token="t", verify_token="v")
