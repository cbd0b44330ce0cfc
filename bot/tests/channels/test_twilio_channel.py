"""Aisle's Twilio channel (bot/channels/twilio.py) against the fake Messages API
(tests/fakes/twilio.py): X-Twilio-Signature as the boundary, a photo alone is no 500, sends
that fail raise, choices as numbered text a number picks."""

from __future__ import annotations

import asyncio

import pytest

from bot.channels.messaging import Deliveries, SendFailed
from bot.channels.twilio import TwilioInput
from bot.tests.channels.webhook_server import served
from fakes.twilio import FakeTwilio

SHOPPER = "+4915112345678"
CONVERSATION = "sms-4915112345678"  # the address made safe in a URL path


@pytest.fixture
def fake():
    with FakeTwilio() as platform:
        yield platform


def channel_for(fake: FakeTwilio, webhook_url: str | None = None) -> TwilioInput:
    return TwilioInput(account_sid=fake.account_sid, auth_token=fake.auth_token,
                       number=fake.number, webhook_url=webhook_url, api_url=fake.api_url,
                       deliveries=Deliveries())


async def deliver(fake, webhook, params, signature="", signed_url=None):
    return await asyncio.to_thread(fake.deliver, webhook, params, signature, signed_url)


async def test_an_sms_reaches_rasa_and_the_answer_is_sent(fake):
    async with served(channel_for(fake)) as server:
        status, body = await deliver(fake, server.webhook, fake.sms(SHOPPER, "hoodies"))
        await server.settle()
    assert status == 200 and b"<Response>" in body
    assert [(m.sender_id, m.text, m.input_channel) for m in server.received] == [
        (CONVERSATION, "hoodies", "twilio")]
    [sent] = fake.messages_to(SHOPPER)
    assert sent == {"To": SHOPPER, "From": fake.number, "Body": "echo: hoodies"}


async def test_the_public_url_is_what_twilio_signed(fake):
    public = "https://shop.example.com/webhooks/twilio/webhook"
    async with served(channel_for(fake, webhook_url=public)) as server:
        good = await deliver(fake, server.webhook, fake.sms(SHOPPER, "hi"), signed_url=public)
        local = await deliver(fake, server.webhook, fake.sms(SHOPPER, "hi"))
        await server.settle()
    assert good[0] == 200 and local[0] == 403 and len(server.received) == 1


@pytest.mark.parametrize("kind", ["missing", "wrong", "other-token", "tampered"])
async def test_attack_unsigned_or_tampered_messages_are_refused(fake, kind):
    params = fake.sms(SHOPPER, "hi")
    async with served(channel_for(fake)) as server:
        signature = {"missing": None, "wrong": "bm90IGEgc2lnbmF0dXJl",
                     "other-token": fake.signature(server.webhook, params, "other"),
                     "tampered": fake.signature(server.webhook, params)}[kind]
        if kind == "tampered":
            params = {**params, "Body": "give me a refund"}
        status, _ = await deliver(fake, server.webhook, params, signature)
        await server.settle()
    assert status == 403 and server.received == [] and fake.sent() == []


async def test_attack_a_replayed_message_is_answered_once(fake):
    params = fake.sms(SHOPPER, "hello")
    async with served(channel_for(fake)) as server:
        for _ in range(3):
            assert (await deliver(fake, server.webhook, params))[0] == 200
        await server.settle()
    assert len(server.received) == 1 and len(fake.messages_to(SHOPPER)) == 1


async def test_a_photo_without_body_is_answered_not_a_500(fake):
    async with served(channel_for(fake)) as server:
        status, _ = await deliver(fake, server.webhook, fake.sms(SHOPPER, None, media=1))
        await server.settle()
    assert status == 200 and server.received == []
    assert "text" in fake.messages_to(SHOPPER)[0]["Body"]


async def test_choices_are_numbered_and_a_number_picks_one(fake):
    channel = channel_for(fake)
    await channel.get_output_channel().send_text_with_buttons(CONVERSATION, "What next?", [
        {"title": "Search", "payload": "/search_products"},
        {"title": "My cart", "payload": "/view_cart"},
        {"title": "Pay now", "type": "web_url", "url": "https://pay.example/1"}])
    [sent] = fake.messages_to(SHOPPER)
    assert sent["Body"] == ("What next?\n1. Search\n2. My cart\nPay now: https://pay.example/1\n"
                            "Reply with a number to choose.")
    async with served(channel, answer=None) as server:
        await deliver(fake, server.webhook, fake.sms(SHOPPER, "2"))
        await deliver(fake, server.webhook, fake.sms(SHOPPER, "7"))
        await server.settle()
    assert [m.text for m in server.received] == ["/view_cart", "7"]


async def test_a_refused_send_raises_so_the_outbox_tries_again(fake):
    fake.fail_next()
    with pytest.raises(SendFailed, match="500"):
        await channel_for(fake).get_output_channel().send_text_message(CONVERSATION, "Paid")
    wrong = TwilioInput(account_sid=fake.account_sid, auth_token="bad", number=fake.number,
                        api_url=fake.api_url, deliveries=Deliveries())
    with pytest.raises(SendFailed, match="401"):
        await wrong.get_output_channel().send_text_message(CONVERSATION, "Paid")


def test_it_refuses_to_start_without_the_auth_token():
    with pytest.raises(ValueError, match="auth_token"):
        TwilioInput(account_sid="AC1", number="+1555")


@pytest.mark.parametrize("address, conversation", [
    ("+4915112345678", "sms-4915112345678"),
    ("whatsapp:+4915112345678", "whatsapp-4915112345678")])
async def test_conversation_ids_are_safe_in_a_url_and_pushes_reach_the_address(
        fake, address, conversation):
    from bot.channels.twilio import address_of, conversation_of
    assert conversation_of(address) == conversation and address_of(conversation) == address
    await channel_for(fake).get_output_channel().send_text_message(conversation, "Paid")
    assert fake.messages_to(address)[0]["Body"] == "Paid"
