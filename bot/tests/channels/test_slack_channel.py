"""Aisle's Slack channel (bot/channels/slack.py) against the fake Web API
(tests/fakes/slack.py): signed and fresh requests only, and every message to a shopper, a
push included, in that shopper's direct message, never a shared channel."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from bot.channels.messaging import Deliveries, SendFailed
from bot.channels.slack import SlackInput
from bot.tests.channels.webhook_server import served
from fakes.platform import as_json
from fakes.slack import FakeSlack

USER = "U0SHOPPER"


@pytest.fixture
def fake():
    with FakeSlack() as platform:
        yield platform


def channel_for(fake: FakeSlack) -> SlackInput:
    return SlackInput(token=fake.token, signing_secret=fake.signing_secret,
                      api_url=fake.api_url, deliveries=Deliveries())


async def deliver(fake, webhook, body, headers=None):
    return await asyncio.to_thread(fake.deliver, webhook, body, headers)


async def test_a_dm_reaches_rasa_and_the_answer_goes_to_the_shoppers_dm(fake):
    async with served(channel_for(fake)) as server:
        status, _ = await deliver(fake, server.webhook, fake.message_event(USER, "hoodies"))
        await server.settle()
    assert status == 200
    assert [(m.sender_id, m.text, m.input_channel) for m in server.received] == [
        (USER, "hoodies", "slack")]
    assert [p["channel"] for p in fake.posts()] == ["D" + USER]


async def test_a_push_goes_to_the_shoppers_dm_not_a_shared_channel(fake):
    # output_channel=latest: Rasa asks the input channel for an output, then sends to the
    # conversation id (the user); a mention in a shared channel is answered in the DM too
    channel = channel_for(fake)
    async with served(channel, answer=None) as server:
        await deliver(fake, server.webhook, fake.message_event(USER, "hi", "channel"))
        await server.settle()
    await channel.get_output_channel().send_text_message(USER, "Order A-9 is paid: $40.00")
    [post] = fake.posts()
    assert post["channel"] == "D" + USER and post["channel"] not in fake.shared_channels
    assert fake.sent("conversations.open")[0].body == {"users": USER}


@pytest.mark.parametrize("kind", ["missing", "wrong", "stale", "future", "other-secret"])
async def test_attack_unsigned_wrong_or_stale_requests_are_refused(fake, kind):
    body = fake.message_event(USER, "hi")
    raw = as_json(body)
    headers = {
        "missing": {"X-Slack-Signature": None, "X-Slack-Request-Timestamp": None},
        "wrong": {"X-Slack-Signature": "v0=" + "0" * 64},
        "stale": fake.sign(raw, int(time.time()) - 600),  # a captured request replayed later
        "future": fake.sign(raw, int(time.time()) + 600),
        "other-secret": fake.sign(raw, secret="another-workspace")}[kind]
    async with served(channel_for(fake)) as server:
        status, _ = await deliver(fake, server.webhook, body, headers)
        await server.settle()
    assert status == 403 and server.received == [] and fake.sent() == []


async def test_attack_a_retried_event_is_answered_once(fake):
    body = fake.message_event(USER, "hello")
    async with served(channel_for(fake)) as server:
        for retry in range(3):
            assert (await deliver(fake, server.webhook, body,
                                  {"X-Slack-Retry-Num": str(retry)}))[0] == 200
        await server.settle()
    assert len(server.received) == 1 and len(fake.posts()) == 1


async def test_the_url_verification_challenge_is_answered_only_when_signed(fake):
    challenge = {"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmd"}
    async with served(channel_for(fake)) as server:
        status, body = await deliver(fake, server.webhook, challenge)
        forged, _ = await deliver(fake, server.webhook, challenge,
                                  {"X-Slack-Signature": "v0=" + "f" * 64})
    assert status == 200 and json.loads(body) == {"challenge": challenge["challenge"]}
    assert forged == 403


async def test_a_tapped_button_and_the_apps_own_messages(fake):
    bot_message = fake.message_event(USER, "I am the app")
    bot_message["event"]["bot_id"] = "B1"
    async with served(channel_for(fake), answer=None) as server:
        await deliver(fake, server.webhook, fake.button_tap(USER, '/add_to_cart{"product_id": 3}'))
        await deliver(fake, server.webhook, bot_message)
        await server.settle()
    assert [(m.sender_id, m.text) for m in server.received] == [
        (USER, '/add_to_cart{"product_id": 3}')]


async def test_cards_and_links_are_blocks_with_buttons(fake):
    output = channel_for(fake).get_output_channel()
    await output.send_custom_json(USER, {"data": {"type": "product_cards", "cards": [
        {"title": "Hoodie", "subtitle": "€49.00", "image_url": "https://cdn.example/h.jpg",
         "buttons": [{"title": "Add to cart", "payload": '/add_to_cart{"product_id": 3}'}]}]}})
    await output.send_text_with_buttons(USER, "Pay here:", [
        {"title": "Pay now", "type": "web_url", "url": "https://pay.example/1"}])
    cards, link = fake.posts()
    assert cards["blocks"][0]["accessory"]["image_url"] == "https://cdn.example/h.jpg"
    assert cards["blocks"][1]["elements"][0]["value"] == '/add_to_cart{"product_id": 3}'
    assert link["blocks"][1]["elements"][0]["url"] == "https://pay.example/1"


async def test_slacks_ok_false_raises(fake):
    output = SlackInput(token="xoxb-wrong", signing_secret="s", api_url=fake.api_url,
                        deliveries=Deliveries()).get_output_channel()
    with pytest.raises(SendFailed, match="invalid_auth"):
        await output.send_text_message(USER, "Paid")
