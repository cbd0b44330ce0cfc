"""What every messaging channel's webhook answers before a delivery means anything, pinned
to the byte on every channel (bot/channels/webhook.py builds it once): the health route,
404 when the channel is not configured, 403 on a bad signature, 400 on a body that is not
what the platform sends, Twilio's 413 and empty TwiML, and Meta's GET handshake."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from bot.channels.messaging import Deliveries
from bot.channels.messenger import MessengerInput
from bot.channels.slack import SlackInput
from bot.channels.telegram import TelegramInput
from bot.channels.twilio import TwilioInput
from bot.channels.whatsapp import WhatsAppInput
from bot.tests.channels.webhook_server import served
from fakes.messenger import FakeMessenger
from fakes.slack import FakeSlack
from fakes.telegram import FakeTelegram
from fakes.twilio import FakeTwilio
from fakes.whatsapp import FakeWhatsApp

JSON = "application/json"


@dataclass
class Channel:
    """How to build one channel against its fake, and sign a raw body as its platform."""
    fake: Callable[[], Any]
    configured: Callable[[Any], Any]
    unconfigured: Callable[[], Any]
    signed: Callable[[Any, bytes, str], dict[str, str]]  # fake, raw body, webhook URL
    expects: str | None  # the 400 answer's "expected ..." to a signed body that is not JSON
    # (None: Twilio, whose body is form fields)


CHANNELS = {
    "telegram": Channel(
        FakeTelegram,
        lambda f: TelegramInput(access_token=f.token, secret_token=f.secret, api_url=f.api_url,
                                deliveries=Deliveries()),
        lambda: TelegramInput(deliveries=Deliveries()),
        lambda f, raw, url: {"X-Telegram-Bot-Api-Secret-Token": f.secret,
                             "Content-Type": JSON},
        "a JSON update"),
    "whatsapp": Channel(
        FakeWhatsApp,
        lambda f: WhatsAppInput(access_token=f.token, phone_number_id=f.phone_number_id,
                                app_secret=f.app_secret, verify_token=f.verify_token,
                                api_url=f.api_url, deliveries=Deliveries()),
        lambda: WhatsAppInput(deliveries=Deliveries()),
        lambda f, raw, url: {"X-Hub-Signature-256": f.signature(raw), "Content-Type": JSON},
        "a JSON delivery"),
    "facebook": Channel(
        FakeMessenger,
        lambda f: MessengerInput(page_token=f.page_token, app_secret=f.app_secret,
                                 verify_token=f.verify_token, api_url=f.api_url,
                                 deliveries=Deliveries()),
        lambda: MessengerInput(deliveries=Deliveries()),
        lambda f, raw, url: {"X-Hub-Signature-256": f.signature(raw), "Content-Type": JSON},
        "a JSON delivery"),
    "slack": Channel(
        FakeSlack,
        lambda f: SlackInput(token=f.token, signing_secret=f.signing_secret,
                             api_url=f.api_url, deliveries=Deliveries()),
        lambda: SlackInput(deliveries=Deliveries()),
        lambda f, raw, url: {**f.sign(raw), "Content-Type": JSON},
        "a JSON event"),
    "twilio": Channel(
        FakeTwilio,
        lambda f: TwilioInput(account_sid=f.account_sid, auth_token=f.auth_token,
                              number=f.number, api_url=f.api_url, deliveries=Deliveries()),
        lambda: TwilioInput(deliveries=Deliveries()),
        lambda f, raw, url: {"X-Twilio-Signature": f.signature(
            url, dict(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True))),
            "Content-Type": "application/x-www-form-urlencoded"},
        None),
}
META = ["whatsapp", "facebook"]


def call(url: str, body: bytes | None = None, headers: dict[str, str] | None = None
         ) -> tuple[int, bytes, str]:
    """(status, body, Content-Type) of one request."""
    request = urllib.request.Request(url, data=body, headers=headers or {},
                                     method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read(), answer.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type", "")


async def ask(url: str, body: bytes | None = None, headers: dict[str, str] | None = None):
    return await asyncio.to_thread(call, url, body, headers)


def health_url(server) -> str:
    return server.webhook.removesuffix("webhook")


@pytest.fixture(params=list(CHANNELS))
def channel(request):
    spec = CHANNELS[request.param]
    with spec.fake() as fake:
        yield request.param, spec, fake


async def test_health_says_whether_the_channel_is_configured(channel):
    name, spec, fake = channel
    async with served(spec.configured(fake)) as server:
        configured = await ask(health_url(server))
    async with served(spec.unconfigured()) as server:
        unconfigured = await ask(health_url(server))
    assert configured[0] == 200 and json.loads(configured[1]) == {"status": "ok"}
    assert json.loads(unconfigured[1]) == {"status": "not configured"}
    assert configured[2].startswith(JSON)


async def test_unconfigured_the_webhook_answers_404_naming_the_channel(channel):
    name, spec, fake = channel
    async with served(spec.unconfigured()) as server:
        status, body, kind = await ask(server.webhook, b"{}", {"Content-Type": JSON})
    assert (status, json.loads(body)) == (404, {"error": f"{name} is not configured"})
    assert kind.startswith(JSON)


async def test_a_bad_signature_is_forbidden_and_nothing_reaches_rasa(channel):
    name, spec, fake = channel
    async with served(spec.configured(fake)) as server:
        status, body, kind = await ask(server.webhook, b"{}", {"Content-Type": JSON})
        await server.settle()
    assert (status, json.loads(body)) == (403, {"error": "forbidden"})
    assert kind.startswith(JSON) and server.received == [] and fake.sent() == []


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b""], ids=["text", "list", "empty"])
@pytest.mark.parametrize("name", [name for name, spec in CHANNELS.items() if spec.expects])
async def test_a_signed_body_that_is_not_a_json_object_is_400(name, raw):
    spec = CHANNELS[name]
    with spec.fake() as fake:
        async with served(spec.configured(fake)) as server:
            status, body, kind = await ask(server.webhook, raw,
                                           spec.signed(fake, raw, server.webhook))
    assert (status, json.loads(body)) == (400, {"error": f"expected {spec.expects}"})
    assert kind.startswith(JSON)


async def test_slack_a_signed_form_without_an_interaction_is_400():
    spec = CHANNELS["slack"]
    with spec.fake() as fake:
        async with served(spec.configured(fake)) as server:
            raw = b"payload=not-json"
            headers = {**fake.sign(raw), "Content-Type": "application/x-www-form-urlencoded"}
            status, body, _ = await ask(server.webhook, raw, headers)
    assert (status, json.loads(body)) == (400, {"error": "expected an interaction"})


async def test_twilio_a_body_over_a_megabyte_is_413_before_its_signature():
    spec = CHANNELS["twilio"]
    with spec.fake() as fake:
        async with served(spec.configured(fake)) as server:
            status, body, _ = await ask(server.webhook, b"Body=" + b"x" * (1024 * 1024),
                                        {"Content-Type": "application/x-www-form-urlencoded"})
    assert (status, json.loads(body)) == (413, {"error": "too large"})


async def test_twilio_a_signed_message_is_answered_with_empty_twiml():
    spec = CHANNELS["twilio"]
    with spec.fake() as fake:
        async with served(spec.configured(fake)) as server:
            raw = urllib.parse.urlencode(fake.sms("+4915112345678", "hi")).encode()
            status, body, kind = await ask(server.webhook, raw,
                                           spec.signed(fake, raw, server.webhook))
    assert (status, body) == (
        200, b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>')
    assert kind.startswith("text/xml")


@pytest.mark.parametrize("name", META)
async def test_metas_handshake(name):
    spec = CHANNELS[name]
    with spec.fake() as fake:
        async with served(spec.configured(fake)) as server:
            query = {"hub.mode": "subscribe", "hub.verify_token": fake.verify_token,
                     "hub.challenge": "4242"}
            good = await ask(server.webhook + "?" + urllib.parse.urlencode(query))
            wrong = await ask(server.webhook + "?" + urllib.parse.urlencode(
                {**query, "hub.verify_token": "guess"}))
            mode = await ask(server.webhook + "?" + urllib.parse.urlencode(
                {**query, "hub.mode": "unsubscribe"}))
            empty = await ask(server.webhook + "?" + urllib.parse.urlencode(
                {"hub.mode": "subscribe", "hub.verify_token": fake.verify_token}))
        async with served(spec.unconfigured()) as server:
            unconfigured = await ask(server.webhook + "?" + urllib.parse.urlencode(query))
    assert good[:2] == (200, b"4242") and good[2].startswith("text/plain")
    assert empty[:2] == (200, b"")
    for refused in (wrong, mode):
        assert (refused[0], json.loads(refused[1])) == (403, {"error": "forbidden"})
    assert (unconfigured[0], json.loads(unconfigured[1])) == (
        404, {"error": f"{name} is not configured"})
