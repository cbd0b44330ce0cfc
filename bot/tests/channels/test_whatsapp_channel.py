"""Aisle's WhatsApp Cloud API channel (bot/channels/whatsapp.py) between a real Sanic server
and the fake Cloud API (tests/fakes/whatsapp.py): the handshake, X-Hub-Signature-256 as the
boundary, batches, replays, status callbacks, interactive messages within WhatsApp's limits
and templates outside the 24-hour window."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from bot.channels.messaging import Deliveries, SendFailed
from bot.channels.whatsapp import WhatsAppInput
from bot.tests.channels.webhook_server import served
from fakes.whatsapp import FakeWhatsApp

SHOPPER = "4915112345678"


@pytest.fixture
def fake():
    with FakeWhatsApp() as platform:
        yield platform


def channel_for(fake: FakeWhatsApp, **extra) -> WhatsAppInput:
    return WhatsAppInput(access_token=fake.token, phone_number_id=fake.phone_number_id,
                         app_secret=fake.app_secret, verify_token=fake.verify_token,
                         api_url=fake.api_url, deliveries=Deliveries(), **extra)


async def deliver(fake, webhook, body, signature=""):
    return await asyncio.to_thread(fake.deliver, webhook, body, signature)


async def test_the_verification_handshake_answers_the_challenge_only_to_the_token(fake):
    async with served(channel_for(fake)) as server:
        good = await asyncio.to_thread(fake.verify, server.webhook, fake.verify_token, "8837")
        bad = await asyncio.to_thread(fake.verify, server.webhook, "guess", "8837")
    assert good == (200, b"8837")
    assert bad[0] == 403 and b"8837" not in bad[1]


async def test_a_text_reaches_rasa_and_the_answer_reaches_the_shopper(fake):
    async with served(channel_for(fake)) as server:
        status, _ = await deliver(fake, server.webhook, fake.text_message(SHOPPER, "red dress"))
        await server.settle()
    assert status == 200
    [message] = server.received
    assert (message.text, message.sender_id, message.input_channel) == (
        "red dress", SHOPPER, "whatsapp")
    [answer] = fake.messages_to(SHOPPER)
    assert answer["type"] == "text" and answer["text"]["body"] == "echo: red dress"
    assert fake.sent()[0].headers["Authorization"] == f"Bearer {fake.token}"


@pytest.mark.parametrize("signature", [
    None, "sha256=" + "0" * 64, "sha1=abc", "garbage",
    FakeWhatsApp().signature(b"another body")], ids=["missing", "zeros", "sha1", "garbage",
                                                     "other-body"])
async def test_attack_a_delivery_without_metas_signature_is_refused(fake, signature):
    async with served(channel_for(fake)) as server:
        status, _ = await deliver(fake, server.webhook, fake.text_message(SHOPPER, "hi"),
                                  signature)
        await server.settle()
    assert status == 403 and server.received == [] and fake.sent() == []


async def test_attack_a_delivery_signed_with_another_apps_secret_is_refused(fake):
    body = fake.text_message(SHOPPER, "hi")
    from fakes.platform import as_json
    forged = fake.signature(as_json(body), secret="someone-elses-app-secret")
    async with served(channel_for(fake)) as server:
        status, _ = await deliver(fake, server.webhook, body, forged)
    assert status == 403 and server.received == []


async def test_attack_a_replayed_message_is_answered_once(fake):
    body = fake.text_message(SHOPPER, "hello")
    async with served(channel_for(fake)) as server:
        answers = [await deliver(fake, server.webhook, body) for _ in range(3)]
        await server.settle()
    assert [status for status, _ in answers] == [200, 200, 200]
    assert len(server.received) == 1 and len(fake.messages_to(SHOPPER)) == 1


async def test_every_entry_of_a_batch_is_read_and_statuses_are_acknowledged(fake):
    other = "4915199999999"
    batch = fake.text_message(SHOPPER, "first")
    batch["entry"] += fake.text_message(other, "second")["entry"]
    batch["entry"] += fake.status(SHOPPER, "failed")["entry"]
    async with served(channel_for(fake)) as server:
        status, _ = await deliver(fake, server.webhook, batch)
        only_status, _ = await deliver(fake, server.webhook, fake.status(SHOPPER, "read"))
        await server.settle()
    assert status == only_status == 200
    assert sorted((m.sender_id, m.text) for m in server.received) == [
        (SHOPPER, "first"), (other, "second")]


async def test_tapped_buttons_and_rows_are_the_shoppers_message(fake):
    async with served(channel_for(fake)) as server:
        await deliver(fake, server.webhook, fake.button_reply(SHOPPER, "/affirm", "Yes"))
        await deliver(fake, server.webhook, fake.list_reply(
            SHOPPER, '/select_product{"product_id": 3}', "Linen shirt"))
        await server.settle()
    assert [m.text for m in server.received] == ["/affirm", '/select_product{"product_id": 3}']


async def test_a_voice_note_gets_a_text_only_answer_and_no_turn(fake):
    body = fake._message(SHOPPER, "audio", {"id": "media-1", "mime_type": "audio/ogg"})
    async with served(channel_for(fake)) as server:
        await deliver(fake, server.webhook, body)
        await server.settle()
    assert server.received == []
    assert "text" in fake.messages_to(SHOPPER)[0]["text"]["body"]


def card(n: int, title: str = "Organic linen shirt with a very long name") -> dict:
    return {"title": f"{title} {n}", "subtitle": "€39.00 · in stock",
            "image_url": f"https://cdn.example/{n}.jpg",
            "buttons": [{"title": "Details", "payload": f'/select_product{{"product_id": {n}}}'},
                        {"title": "Add to cart", "payload": f'/add_to_cart{{"product_id": {n}}}'}]}


async def open_window(channel: WhatsAppInput) -> None:
    await channel.deliveries.put(f"last_in:{SHOPPER}", str(time.time()), 3600)


async def test_choices_fit_whatsapps_limits_and_nothing_is_dropped(fake):
    channel = channel_for(fake)
    await open_window(channel)
    output = channel.get_output_channel()
    await output.send_custom_json(SHOPPER, {"data": {"type": "product_cards",
                                                     "cards": [card(n) for n in range(1, 13)]}})
    await output.send_custom_json(SHOPPER, {"data": {"type": "product_cards", "cards": [card(5)]}})
    await output.send_text_with_buttons(SHOPPER, "Which size?", [
        {"title": f"Size {s} (fits tall shoppers)", "payload": f'/inform{{"size": "{s}"}}'}
        for s in ("S", "M", "L", "XL")])
    await output.send_text_with_buttons(SHOPPER, "Your payment link is ready.", [
        {"title": "Pay now", "type": "web_url", "url": "https://pay.example/c/1"}])
    sent = fake.messages_to(SHOPPER)  # the fake refuses anything over WhatsApp's limits
    lists = [m for m in sent[:2]]
    assert [len(FakeWhatsApp.choices(m)) for m in lists] == [10, 2]  # 12 products, 2 lists
    assert FakeWhatsApp.choices(lists[0])[0] == {
        "id": '/select_product{"product_id": 1}', "title": "Organic linen shirt wit…",
        "description": "€39.00 · in stock"}
    photo, buttons = sent[2], sent[3]
    assert photo["type"] == "image" and photo["image"]["link"] == "https://cdn.example/5.jpg"
    assert [b["title"] for b in FakeWhatsApp.choices(buttons)] == ["Details", "Add to cart"]
    sizes = sent[4]
    assert sizes["interactive"]["type"] == "list" and len(FakeWhatsApp.choices(sizes)) == 4
    pay = sent[5]
    assert pay["interactive"]["type"] == "cta_url"
    assert pay["interactive"]["action"]["parameters"] == {"display_text": "Pay now",
                                                          "url": "https://pay.example/c/1"}


async def test_a_push_outside_the_24_hour_window_is_the_approved_template(fake):
    channel = channel_for(fake, template="aisle_order_update", template_language="en_GB")
    fake.window_closed_for.add(SHOPPER)
    await channel.get_output_channel().send_text_message(
        SHOPPER, "Thank you! Order A-17 is paid.\nWe'll tell you when it ships.")
    [message] = fake.messages_to(SHOPPER)
    assert message["type"] == "template"
    assert message["template"]["name"] == "aisle_order_update"
    assert message["template"]["language"] == {"code": "en_GB"}
    [parameter] = message["template"]["components"][0]["parameters"]
    assert parameter["text"] == "Thank you! Order A-17 is paid. We'll tell you when it ships."


async def test_without_a_template_a_push_outside_the_window_raises(fake):
    with pytest.raises(SendFailed, match="24-hour window"):
        await channel_for(fake).get_output_channel().send_text_message(SHOPPER, "Paid!")
    assert fake.sent() == []


async def test_inside_the_window_a_push_is_free_form(fake):
    channel = channel_for(fake, template="aisle_order_update")
    async with served(channel, answer=None) as server:
        await deliver(fake, server.webhook, fake.text_message(SHOPPER, "hi"))
        await server.settle()
    await channel.get_output_channel().send_text_message(SHOPPER, "Order A-17 is paid.")
    assert fake.messages_to(SHOPPER)[0]["type"] == "text"


async def test_a_refused_send_raises_so_the_outbox_tries_again(fake):
    channel = channel_for(fake)
    await open_window(channel)
    fake.fail_next()
    with pytest.raises(SendFailed, match="500"):
        await channel.get_output_channel().send_text_message(SHOPPER, "Paid!")


@pytest.mark.parametrize("missing", ["app_secret", "verify_token", "phone_number_id"])
def test_it_refuses_to_start_without_what_checks_the_webhook(missing):
    settings = {"access_token": "t", "app_secret": "s", "verify_token": "v",
                "phone_number_id": "1"}
    settings[missing] = None
    with pytest.raises(ValueError, match=missing):
        WhatsAppInput(**settings)


async def test_unconfigured_it_answers_404(fake):
    async with served(WhatsAppInput(deliveries=Deliveries())) as server:
        status, body = await deliver(fake, server.webhook, fake.text_message(SHOPPER, "hi"))
    assert status == 404 and json.loads(body)["error"] == "whatsapp is not configured"
