"""Aisle's Telegram channel (bot/channels/telegram.py) between a real Sanic server and the
fake Bot API (tests/fakes/telegram.py): the secret token is the boundary, a retried update is
answered once, buttons come back as the shopper's message, sends fail loudly."""

from __future__ import annotations

import asyncio
import json

import pytest
import rasa.shared.utils.io
from rasa.core.run import _create_single_channel

from bot.channels.messaging import Deliveries, SendFailed
from bot.channels.telegram import TelegramInput
from bot.tests.channels.webhook_server import served
from fakes.telegram import FakeTelegram
from test_socketio_channel import CREDENTIALS

CHAT = 424242


@pytest.fixture
def fake():
    with FakeTelegram() as platform:
        yield platform


def channel_for(fake: FakeTelegram, **extra) -> TelegramInput:
    return TelegramInput(access_token=fake.token, secret_token=fake.secret,
                         api_url=fake.api_url, deliveries=Deliveries(), **extra)


async def deliver(fake, webhook, update, secret=""):
    return await asyncio.to_thread(fake.deliver, webhook, update, secret)


async def test_a_message_reaches_rasa_and_the_answer_reaches_the_chat(fake):
    async with served(channel_for(fake)) as server:
        status, _ = await deliver(fake, server.webhook, fake.text_update(CHAT, "red dress"))
        assert status == 200
        await server.settle()
    [message] = server.received
    assert (message.text, message.sender_id, message.input_channel) == (
        "red dress", str(CHAT), "telegram")
    assert [m["text"] for m in fake.messages_to(CHAT)] == ["echo: red dress"]


@pytest.mark.parametrize("secret", [None, "wrong-secret", "telegram-secre", "TELEGRAM-SECRET",
                                    "telegram-secretX"],
                         ids=["missing", "wrong", "prefix", "case", "suffix"])
async def test_attack_an_update_without_the_secret_token_is_refused(fake, secret):
    async with served(channel_for(fake)) as server:
        status, body = await deliver(fake, server.webhook, fake.text_update(CHAT, "hi"), secret)
        await server.settle()
    assert status == 403 and json.loads(body) == {"error": "forbidden"}
    assert server.received == [] and fake.sent() == []


async def test_attack_a_replayed_update_is_answered_once(fake):
    update = fake.text_update(CHAT, "hello")
    async with served(channel_for(fake)) as server:
        first = await deliver(fake, server.webhook, update)
        again = await deliver(fake, server.webhook, update)
        await server.settle()
    assert first[0] == again[0] == 200 and json.loads(again[1]) == {"status": "duplicate"}
    assert len(server.received) == 1 and len(fake.messages_to(CHAT)) == 1


async def test_the_replicas_share_what_they_have_seen_through_redis(fake):
    url = "redis://127.0.0.1:6379/0"
    shared = [Deliveries(url, prefix=f"aisle:test:{id(fake)}") for _ in range(2)]
    try:
        await shared[0].first_time("probe")
    except Exception as error:  # noqa: BLE001
        pytest.skip(f"Redis at {url} is not reachable: {error}")
    assert not await shared[1].first_time("probe")
    update = fake.text_update(CHAT, "once")
    replicas = [TelegramInput(access_token=fake.token, secret_token=fake.secret,
                              api_url=fake.api_url, deliveries=d) for d in shared]
    async with served(replicas[0]) as one, served(replicas[1]) as two:
        await deliver(fake, one.webhook, update)
        await deliver(fake, two.webhook, update)
        await one.settle()
        await two.settle()
    assert len(one.received) + len(two.received) == 1


async def test_a_tapped_button_is_the_shoppers_message_and_the_spinner_stops(fake):
    async with served(channel_for(fake)) as server:
        await deliver(fake, server.webhook,
                      fake.button_update(CHAT, '/add_to_cart{"product_id": 7}'))
        await server.settle()
    assert [m.text for m in server.received] == ['/add_to_cart{"product_id": 7}']
    [ack] = fake.sent("answerCallbackQuery")
    assert ack.body["callback_query_id"].startswith("cbq")


async def test_a_photo_alone_gets_a_text_only_answer_and_no_turn(fake):
    update = fake.text_update(CHAT, "x")
    del update["message"]["text"]
    update["message"]["photo"] = [{"file_id": "abc", "width": 90, "height": 90}]
    async with served(channel_for(fake)) as server:
        status, _ = await deliver(fake, server.webhook, update)
        await server.settle()
    assert status == 200 and server.received == []
    assert "text" in fake.messages_to(CHAT)[0]["text"]


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]"])
async def test_a_malformed_update_is_a_400(fake, raw):
    from fakes.platform import post
    async with served(channel_for(fake)) as server:
        status, _ = await asyncio.to_thread(post, server.webhook, raw, {
            "X-Telegram-Bot-Api-Secret-Token": fake.secret})
    assert status == 400 and server.received == []


async def test_product_cards_and_long_payloads_become_inline_keyboards(fake):
    channel = channel_for(fake)
    output = channel.get_output_channel()
    long_payload = '/select_variant{"product_id": 12, "size": "XL", "color": "burgundy red"}'
    cards = [{"title": f"Linen shirt {n}", "subtitle": "€39.00 · in stock", "image_url": None,
              "buttons": [{"title": "Details", "payload": f'/select_product{{"product_id": {n}}}'},
                          {"title": "Add to cart", "payload": long_payload}]}
             for n in (1, 2)]
    await output.send_custom_json(str(CHAT), {"data": {"type": "product_cards", "cards": cards}})
    await output.send_text_with_buttons(str(CHAT), "Your link:", [
        {"title": "Pay now", "type": "web_url", "url": "https://pay.example/x"}])
    first, link = fake.messages_to(CHAT)
    assert "1. Linen shirt 1 — €39.00 · in stock" in first["text"]
    keys = FakeTelegram.buttons(first)
    assert [k["text"] for k in keys] == ["1 · Details", "1 · Add to cart", "2 · Details",
                                         "2 · Add to cart"]
    assert keys[0]["callback_data"] == '/select_product{"product_id": 1}'
    assert len(keys[1]["callback_data"].encode()) <= 64  # stored, sent back as the original
    async with served(channel) as server:
        await deliver(fake, server.webhook, fake.button_update(CHAT, keys[1]["callback_data"]))
        await server.settle()
    assert server.received[0].text == long_payload
    assert FakeTelegram.buttons(link) == [{"text": "Pay now", "url": "https://pay.example/x"}]


async def test_a_failed_send_raises_so_the_outbox_tries_again(fake):
    output = channel_for(fake).get_output_channel()
    fake.fail_next()
    with pytest.raises(SendFailed, match="500"):
        await output.send_text_message(str(CHAT), "Your payment arrived")
    await output.send_text_message(str(CHAT), "Your payment arrived")
    assert len(fake.sent("sendMessage")) == 2


async def test_a_push_works_inside_the_running_loop_and_registers_the_webhook(fake):
    channel = channel_for(fake, webhook_url="https://shop.example.com/webhooks/telegram/webhook")
    async with served(channel, answer=None):
        await fake.wait_for_async(lambda calls: fake.webhook)
        # output_channel=latest: Rasa asks the input channel for an output inside its loop
        await channel.get_output_channel().send_text_message(str(CHAT), "Order A-1 is paid")
    assert fake.webhook == {"url": "https://shop.example.com/webhooks/telegram/webhook",
                            "secret_token": fake.secret,
                            "allowed_updates": ["message", "callback_query"]}
    assert fake.messages_to(CHAT)[0]["text"] == "Order A-1 is paid"


def test_it_refuses_to_start_with_a_bot_token_but_no_secret():
    with pytest.raises(ValueError, match="secret_token"):
        TelegramInput(access_token="123:abc")


async def test_unconfigured_it_answers_404_and_pushes_nothing(fake):
    channel = TelegramInput(deliveries=Deliveries())
    assert channel.get_output_channel() is None
    async with served(channel) as server:
        status, _ = await deliver(fake, server.webhook, fake.text_update(CHAT, "hi"))
    assert status == 404 and server.received == []


def test_rasa_loads_it_from_credentials_yml_under_the_telegram_name(monkeypatch):
    for name, value in {"CHAT_JWT_SECRET": "x" * 32, "CHAT_ALLOWED_ORIGINS": "",
                        "RASA_CALLBACK_URL": "http://127.0.0.1:9/cb",
                        "TELEGRAM_TOKEN": "9:tok", "TELEGRAM_SECRET_TOKEN": "s3cret",
                        "TELEGRAM_API_URL": "http://127.0.0.1:9"}.items():
        monkeypatch.setenv(name, value)
    credentials = rasa.shared.utils.io.read_config_file(str(CREDENTIALS))
    [key] = [k for k in credentials if k.endswith("TelegramInput")]
    channel = _create_single_channel(key, credentials[key])
    assert channel.name() == "telegram" and channel.secret_token == "s3cret"
    assert channel.api.base_url == "http://127.0.0.1:9/bot9:tok"
