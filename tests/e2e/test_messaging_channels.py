"""Shopping on Telegram, WhatsApp, Messenger, Slack and SMS, end to end: the real `rasa run`
with Aisle's channels (bot/credentials.yml), the action server and storefront_api, the
platforms played by the local fakes (tests/fakes/) that sign their deliveries as the
platforms do and record what the bot sends.

Per channel: a search answered with tappable choices, a choice tapped leading to the next
turn, the item added to the shop's cart, the checkout's payment link sent as a button, the
test-gateway payment and the confirmation pushed (storefront_api's outbox, Rasa's
``trigger_intent`` with ``output_channel=latest``) to that same shopper on that same channel;
the other pushes (a payment refunded because the stock went while paying, the reminder of the
cart so left, the shipping notice) to that shopper's own chat and nobody else's (on Slack their
DM); a forged delivery reaches nobody."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import pytest
from test_conversations import ADDRESS, pay_by_card

from assistant_stack import MODEL, RASA, SERVICE_TOKEN, AssistantStack, http_json
from fakes.messenger import FakeMessenger
from fakes.slack import FakeSlack
from fakes.telegram import FakeTelegram
from fakes.twilio import FakeTwilio
from fakes.whatsapp import FakeWhatsApp

pytestmark = pytest.mark.slow

PAYMENT_LINK = re.compile(r"https?://\S+/pay/[A-Za-z0-9_-]+")
CHOICES = re.compile(r"available (?:sizes|colours|colors): ([^.\n]+)", re.IGNORECASE)


@pytest.fixture(scope="module")
def platforms():
    with FakeTelegram() as telegram, FakeWhatsApp() as whatsapp:
        yield telegram, whatsapp


@pytest.fixture(scope="module")
def more_platforms():
    with FakeMessenger() as messenger, FakeSlack() as slack, FakeTwilio() as twilio:
        yield messenger, slack, twilio


@pytest.fixture(scope="module")
def stack(platforms, more_platforms, tmp_path_factory):
    if not Path(RASA).exists() or not MODEL.exists():
        if os.environ.get("AISLE_REQUIRE_SERVICES") == "1":
            pytest.fail("the bot's venv or model is missing", pytrace=False)
        pytest.skip("the bot's venv or model is missing (make bot-venv, make train)")
    telegram, whatsapp = platforms
    environment = {
        "TELEGRAM_TOKEN": telegram.token, "TELEGRAM_SECRET_TOKEN": telegram.secret,
        "TELEGRAM_API_URL": telegram.api_url,
        "WHATSAPP_ACCESS_TOKEN": whatsapp.token,
        "WHATSAPP_PHONE_NUMBER_ID": whatsapp.phone_number_id,
        "WHATSAPP_APP_SECRET": whatsapp.app_secret,
        "WHATSAPP_VERIFY_TOKEN": whatsapp.verify_token,
        "WHATSAPP_API_URL": whatsapp.api_url, "WHATSAPP_TEMPLATE": "aisle_order_update"}
    messenger, slack, twilio = more_platforms
    environment.update({
        "FACEBOOK_PAGE_ACCESS_TOKEN": messenger.page_token,
        "FACEBOOK_SECRET": messenger.app_secret,
        "FACEBOOK_VERIFY_TOKEN": messenger.verify_token, "FACEBOOK_API_URL": messenger.api_url,
        "SLACK_TOKEN": slack.token, "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url, "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token, "TWILIO_NUMBER": twilio.number,
        "TWILIO_API_URL": twilio.api_url})
    with AssistantStack(tmp_path_factory.mktemp("channels"),
                        extra_environment=environment) as assistant:
        yield assistant


class Shopper:
    """One shopper on one platform: ``say`` and ``tap`` deliver as the platform does and
    return what the bot sent back in that turn."""

    def __init__(self, stack: AssistantStack, fake: Any, chat: str):
        self.stack, self.fake, self.chat = stack, fake, chat
        self.seen = 0

    @property
    def recipient(self) -> str:
        """Whom the platform's API is asked to send to (the conversation id but on SMS)."""
        return getattr(self, "number", self.chat)

    @property
    def webhook(self) -> str:
        return f"{self.stack.rasa_url}/webhooks/{self.channel}/webhook"

    def turn(self, deliver: Callable[[], tuple[int, bytes]],
             until: Callable[[list[dict]], bool] = lambda sent: True) -> list[dict]:
        status, body = deliver()
        assert status == 200, (status, body)

        def answered(_calls):
            sent = self.fake.messages_to(self.recipient)[self.seen:]
            return sent if sent and until(sent) else None

        self.fake.wait_for(answered, timeout=60)
        return self.rest_of_turn()

    def rest_of_turn(self) -> list[dict]:
        """Everything new for this shopper, once the bot has been quiet for a second."""
        sent = self.fake.messages_to(self.recipient)[self.seen:]
        while True:
            time.sleep(1.0)
            now = self.fake.messages_to(self.recipient)[self.seen:]
            if len(now) == len(sent):
                break
            sent = now
        self.seen += len(sent)
        return sent

    def pushed(self, *words: str, timeout: float = 60) -> list[dict]:
        """What the shop pushed to this shopper without a message of theirs: waits for a
        message to them showing all of ``words`` (lower case), then for the bot's quiet."""
        def arrived(_calls):
            return [m for m in self.fake.messages_to(self.recipient)[self.seen:]
                    if all(w in self.fake.shown(m).lower() for w in words)]
        self.fake.wait_for(arrived, timeout=timeout)
        return self.rest_of_turn()

    def text(self, sent: list[dict]) -> str:
        return "\n".join(self.fake.shown(m) for m in sent)

    def send(self, text: str) -> tuple[int, bytes]:
        """Delivers a message as the platform does, waiting for no answer."""
        raise NotImplementedError

    def say(self, text: str, **wait) -> list[dict]:
        return self.turn(lambda: self.send(text), **wait)


class TelegramShopper(Shopper):
    channel = "telegram"

    def send(self, text: str) -> tuple[int, bytes]:
        return self.fake.deliver(self.webhook, self.fake.text_update(int(self.chat), text))

    def choices(self, sent: list[dict]) -> list[dict]:
        return [{"title": k["text"], "id": k.get("callback_data"), "url": k.get("url")}
                for m in sent for k in FakeTelegram.buttons(m)]

    def tap(self, choice: dict, **wait) -> list[dict]:
        return self.turn(lambda: self.fake.deliver(
            self.webhook, self.fake.button_update(int(self.chat), choice["id"])), **wait)


class WhatsAppShopper(Shopper):
    channel = "whatsapp"

    def send(self, text: str) -> tuple[int, bytes]:
        return self.fake.deliver(self.webhook, self.fake.text_message(self.chat, text))

    def choices(self, sent: list[dict]) -> list[dict]:
        found = [dict(c, url=None) for m in sent for c in FakeWhatsApp.choices(m)]
        for m in sent:
            if (m.get("interactive") or {}).get("type") == "cta_url":
                parameters = m["interactive"]["action"]["parameters"]
                found.append({"title": parameters["display_text"], "id": None,
                              "url": parameters["url"]})
        return found

    def tap(self, choice: dict, **wait) -> list[dict]:
        return self.turn(lambda: self.fake.deliver(self.webhook, self.fake.list_reply(
            self.chat, choice["id"], choice["title"])), **wait)


class MessengerShopper(Shopper):
    channel = "facebook"

    def send(self, text: str) -> tuple[int, bytes]:
        return self.fake.deliver(self.webhook, self.fake.text_message(self.chat, text))

    def choices(self, sent: list[dict]) -> list[dict]:
        found = []
        for m in sent:
            message = m["message"]
            found += [{"title": q["title"], "id": q["payload"], "url": None}
                      for q in message.get("quick_replies", [])]
            payload = (message.get("attachment") or {}).get("payload") or {}
            buttons = payload.get("buttons", []) + [b for e in payload.get("elements", [])
                                                    for b in e.get("buttons", [])]
            found += [{"title": b["title"], "id": b.get("payload"), "url": b.get("url")}
                      for b in buttons]
        return found

    def tap(self, choice: dict, **wait) -> list[dict]:
        return self.turn(lambda: self.fake.deliver(self.webhook, self.fake.postback(
            self.chat, choice["title"], choice["id"])), **wait)


class SlackShopper(Shopper):
    channel = "slack"

    def send(self, text: str) -> tuple[int, bytes]:
        return self.fake.deliver(self.webhook, self.fake.message_event(self.chat, text))

    def choices(self, sent: list[dict]) -> list[dict]:
        return [{"title": e["text"]["text"], "id": e.get("value"), "url": e.get("url")}
                for m in sent for block in m.get("blocks") or []
                for e in block.get("elements") or []]

    def tap(self, choice: dict, **wait) -> list[dict]:
        return self.turn(lambda: self.fake.deliver(
            self.webhook, self.fake.button_tap(self.chat, choice["id"])), **wait)


class SmsShopper(Shopper):
    channel = "twilio"
    NUMBERED = re.compile(r"^(\d{1,2})\. (.+)$", re.MULTILINE)
    LINK = re.compile(r"^(.+): (https?://\S+)$", re.MULTILINE)

    def __init__(self, stack: AssistantStack, fake: Any, number: str):
        super().__init__(stack, fake, "sms-" + number.lstrip("+"))  # the conversation id
        self.number = number

    def send(self, text: str) -> tuple[int, bytes]:
        return self.fake.deliver(self.webhook, self.fake.sms(self.number, text))

    def choices(self, sent: list[dict]) -> list[dict]:
        found = []
        for m in sent:
            if "Reply with a number" in m["Body"]:
                found += [{"title": t, "id": n, "url": None}
                          for n, t in self.NUMBERED.findall(m["Body"])]
            found += [{"title": t, "id": None, "url": u}
                      for t, u in self.LINK.findall(m["Body"])]
        return found

    def tap(self, choice: dict, **wait) -> list[dict]:
        return self.say(choice["id"], **wait)  # a reply of the choice's number


def fill_cart(shopper: Shopper) -> dict:
    """Search, tap to add, answer the variant questions by tapping; the shop's cart."""
    sms = isinstance(shopper, SmsShopper)
    results = shopper.say("I'm looking for a t-shirt", until=lambda sent: sms or any(
        shopper.choices([m]) for m in sent))
    assert "found" in shopper.text(results).lower(), shopper.text(results)
    taps = shopper.choices(results)
    adds = [c for c in taps if c["id"] and c["id"].startswith("/add_to_cart")]
    details = [c for c in taps if c["id"] and c["id"].startswith("/select_product")]
    assert adds or details or sms, taps
    if sms:  # SMS: the results are numbered text; the shopper types which one
        said = shopper.say("add the first one to my cart")
    elif adds:  # Telegram: "1 · Add to cart" beside each result
        said = shopper.tap(adds[0])
    else:  # WhatsApp: a list of products; the row opens the product, its button adds it
        product = shopper.tap(details[0], until=lambda sent: any(
            c["id"] and c["id"].startswith("/add_to_cart") for c in shopper.choices(sent)))
        add = next(c for c in shopper.choices(product)
                   if c["id"] and c["id"].startswith("/add_to_cart"))
        said = shopper.tap(add)
    for _ in range(3):  # size, then colour: tapped when offered as choices, else typed
        if "added" in shopper.text(said).lower():
            break
        options = [c for c in shopper.choices(said) if c["id"] and not c["id"].startswith(
            ("/select_product", "/add_to_cart"))]
        asked = CHOICES.search(shopper.text(said))
        assert options or asked, [
            (e["event"], e.get("name") or e.get("text"))
            for e in shopper.stack.tracker(shopper.chat)["events"]
            if e["event"] in ("user", "action", "bot")][4:]
        said = shopper.tap(options[0]) if options else shopper.say(
            asked.group(1).split(",")[0].strip())
    assert "added" in shopper.text(said).lower(), [
        (c.method, shopper.fake.shown(c.body)[:60], round(c.at, 2)) for c in shopper.fake.sent()]
    cart = shopper.stack.slot(shopper.chat, "cart_id")
    status, document = shopper.stack.api("GET", f"/api/carts/{cart}")
    assert status == 200 and document["item_count"] >= 1, document
    return document


def payment_link_in(shopper: Shopper, sent: list[dict]) -> str:
    """The payment link the bot sent: a button that opens it, written out on SMS."""
    buttons = [c["url"] for c in shopper.choices(sent) if c["url"]]
    if isinstance(shopper, SmsShopper):  # no buttons on SMS: the link is in the text
        buttons = PAYMENT_LINK.findall(shopper.text(sent))
    assert buttons and PAYMENT_LINK.match(buttons[0]), sent
    return buttons[0]


def check_out(shopper: Shopper) -> str:
    """The checkout form answered in the chat, the summary confirmed: the payment link."""
    email = f"{shopper.channel}-{shopper.chat}@example.com"
    assert "mail" in shopper.text(shopper.say("checkout")).lower()
    assert "ship" in shopper.text(shopper.say(email)).lower()
    assert "standard" in shopper.text(shopper.say(ADDRESS)).lower()
    summary = shopper.text(shopper.say("standard please"))
    assert "total" in summary.lower() and "payment link" in summary.lower(), summary
    return payment_link_in(shopper, shopper.say(
        "yes", until=lambda sent: PAYMENT_LINK.search(json.dumps(sent))))


def pay_and_see_the_confirmation(shopper: Shopper, link: str) -> str:
    """The test gateway's page paid by card; the confirmation pushed to this shopper names
    the order. Returns the order number."""
    page = pay_by_card(link)
    number = re.search(r"[A-Z]{2}-\d{5}", page).group(0)
    confirmation = shopper.text(shopper.pushed("payment received", number.lower()))
    assert number in confirmation, confirmation
    return number


def shop_on(shopper: Shopper) -> None:
    """Search, tap to add, answer the variant questions by tapping, check out, pay; the
    confirmation comes back on the same channel to the same shopper."""
    fill_cart(shopper)
    number = pay_and_see_the_confirmation(shopper, check_out(shopper))
    status, order = shopper.stack.api("GET", f"/api/admin/orders/{number}", admin=True)
    assert status == 200 and order["conversation_id"] == shopper.chat


def test_shopping_on_telegram_from_search_to_the_payment_confirmation(stack, platforms):
    telegram, _ = platforms
    shop_on(TelegramShopper(stack, telegram, str(700000000 + uuid.uuid4().int % 99999999)))


def test_shopping_on_whatsapp_from_search_to_the_payment_confirmation(stack, platforms):
    _, whatsapp = platforms
    shop_on(WhatsAppShopper(stack, whatsapp, f"4915{uuid.uuid4().int % 10**9:09d}"))


def test_shopping_on_messenger(stack, more_platforms):
    shop_on(MessengerShopper(stack, more_platforms[0], f"61{uuid.uuid4().int % 10**14:014d}"))


def test_shopping_on_slack_with_every_message_in_the_shoppers_dm(stack, more_platforms):
    slack = more_platforms[1]
    shopper = SlackShopper(stack, slack, f"U{uuid.uuid4().hex[:10].upper()}")
    shop_on(shopper)
    channels = {p["channel"] for p in slack.posts() if p["channel"] == "D" + shopper.chat}
    assert channels == {"D" + shopper.chat}
    assert not [p for p in slack.posts() if p["channel"] in slack.shared_channels]


def test_shopping_by_sms(stack, more_platforms):
    shop_on(SmsShopper(stack, more_platforms[2], f"+1555{uuid.uuid4().int % 10**7:07d}"))


def test_attack_forged_deliveries_reach_no_conversation(stack, platforms):
    telegram, whatsapp = platforms
    before = len(telegram.sent()) + len(whatsapp.sent())
    chat = str(800000000 + uuid.uuid4().int % 99999999)
    status, _ = telegram.deliver(f"{stack.rasa_url}/webhooks/telegram/webhook",
                                 telegram.text_update(int(chat), "hi"), secret="guessed")
    assert status == 403
    wa = f"4916{uuid.uuid4().int % 10**9:09d}"
    status, _ = whatsapp.deliver(f"{stack.rasa_url}/webhooks/whatsapp/webhook",
                                 whatsapp.text_message(wa, "hi"), signature="sha256=" + "ab" * 32)
    assert status == 403
    time.sleep(2)
    assert len(telegram.sent()) + len(whatsapp.sent()) == before
    for sender in (chat, wa):
        events = stack.tracker(sender).get("events") or []
        assert not [e for e in events if e["event"] == "user"], events


def shopper_on(platform: str, stack: AssistantStack, platforms, more_platforms) -> Shopper:
    """A new shopper on the platform (the conversation ids as the channels make them)."""
    telegram, whatsapp = platforms
    messenger, slack, twilio = more_platforms
    number = uuid.uuid4().int
    make = {
        "telegram": lambda: TelegramShopper(stack, telegram, str(500000000 + number % 99999999)),
        "whatsapp": lambda: WhatsAppShopper(stack, whatsapp, f"4917{number % 10**9:09d}"),
        "facebook": lambda: MessengerShopper(stack, messenger, f"62{number % 10**14:014d}"),
        "slack": lambda: SlackShopper(stack, slack, f"U{uuid.uuid4().hex[:10].upper()}"),
        "twilio": lambda: SmsShopper(stack, twilio, f"+1556{number % 10**7:07d}"),
    }
    return make[platform]()


@pytest.mark.parametrize("platform", ["telegram", "whatsapp", "facebook", "slack", "twilio"])
def test_handoff_on_a_messaging_channel(stack, platforms, more_platforms, platform):
    """The inbox shows the channel, the agent's reply goes out on it to the shopper (with the
    agent's name), the shopper's answer comes back into the inbox while the bot is paused,
    and once the agent hands back the bot answers again on the same channel."""
    shopper = shopper_on(platform, stack, platforms, more_platforms)
    stack.api("POST", "/api/admin/support/presence", {}, admin=True)  # someone is online
    shopper.say("hi")
    asked = shopper.text(shopper.say("I want to talk to a real person"))
    assert "asked a person from our team to join" in asked.lower(), asked
    status, queue = stack.api("GET", "/api/admin/support/handoffs?status=waiting", admin=True)
    assert status == 200
    handoff = next(h for h in queue["handoffs"] if h["conversation_id"] == shopper.chat)
    assert handoff["channel"] == platform

    status, _ = stack.api("POST", f"/api/admin/support/handoffs/{handoff['id']}/claim", {},
                          admin=True)
    assert status == 200
    status, _ = stack.api("POST", f"/api/admin/support/handoffs/{handoff['id']}/messages",
                          {"text": "Hi, Ana here. How can I help?"}, admin=True)
    assert status == 201

    def agent_reply(_calls):
        return [m for m in shopper.fake.messages_to(shopper.recipient)[shopper.seen:]
                if "Ana here" in shopper.fake.shown(m)]
    assert shopper.fake.wait_for(agent_reply, timeout=30)
    shopper.seen = len(shopper.fake.messages_to(shopper.recipient))

    answer = "my parcel never arrived"
    status, _ = shopper.send(answer)
    assert status == 200
    deadline = time.monotonic() + 30
    while True:
        status, detail = stack.api("GET", f"/api/admin/support/handoffs/{handoff['id']}",
                                   admin=True)
        if any(answer in (m.get("text") or "") for m in detail.get("transcript", [])):
            break
        assert time.monotonic() < deadline, detail.get("transcript")
        time.sleep(0.5)
    time.sleep(1.5)
    assert shopper.fake.messages_to(shopper.recipient)[shopper.seen:] == []  # the bot stays quiet
    status, _ = stack.api("POST", f"/api/admin/support/handoffs/{handoff['id']}/release", {},
                          admin=True)
    assert status == 200
    back = shopper.text(shopper.say("what is your returns policy?",
                                    until=lambda sent: "30 days" in shopper.text(sent)))
    assert "30 days" in back, back


def told(fake: Any, *words: str) -> list[dict]:
    """Every message the platform was asked to send, to anyone, showing all of ``words``."""
    return [c.body for c in fake.sent() if isinstance(c.body, dict)
            and all(w in fake.shown(c.body).lower() for w in words)]


def only_to(shopper: Shopper, messages: list[dict]) -> None:
    """The messages went to this shopper's own chat (on Slack: their DM, ``D`` + user id)
    and to nobody else."""
    assert messages
    mine = shopper.fake.messages_to(shopper.recipient)
    assert all(m in mine for m in messages), messages
    if shopper.channel == "slack":
        assert {m["channel"] for m in messages} == {"D" + shopper.chat}, messages


def grant_reminders_in_the_chat(shopper: Shopper) -> None:
    """The shopper's yes to reminders, recorded for the conversation the way the assistant
    records a decision made in the chat (POST /api/consent with the service credential)."""
    status, answer = http_json(
        "POST", f"{shopper.stack.storefront_url}/api/consent", {"granted": ["marketing"]},
        {"Authorization": f"Bearer {SERVICE_TOKEN}", "X-Conversation-Id": shopper.chat,
         "X-Channel": shopper.channel})
    assert status == 201 and answer["consent"]["marketing"]["granted"], answer


def remind_abandoned_carts(stack: AssistantStack) -> dict:
    """One run of the cart-reminder job (what `python -m storefront_api remind-carts` runs),
    on the stack's shop, as it would run once the carts have been idle long enough."""
    from storefront_api.db import Database, utcnow
    from storefront_api.recovery.service import remind_carts
    from storefront_api.settings import Settings

    settings = Settings.from_env(var_dir=stack.directory, database_url=stack.database_url,
                                 storefront_url=stack.storefront_url)
    later = utcnow() + timedelta(minutes=settings.recovery_idle_minutes + 1)

    async def run() -> dict:
        db = Database(settings.database_url)
        try:
            return (await remind_carts(db, settings, now=later)).as_dict()
        finally:
            await db.dispose()
    return asyncio.run(run())


@pytest.mark.parametrize("platform", ["telegram", "whatsapp", "facebook", "slack", "twilio"])
def test_payment_failure_cart_reminder_confirmation_and_shipping_reach_the_shoppers_chat(
        stack, platforms, more_platforms, platform):
    """What the shop pushes (storefront_api's outbox, Rasa's ``trigger_intent`` with
    ``output_channel=latest``) reaches this shopper's own chat on their channel, and nobody
    else's: the payment that could not become an order (the merchant wrote the last units off
    while the shopper paid: the payment is refunded), the reminder of the cart so left, then,
    on a new link, the confirmation, and the shipping notice once the merchant ships."""
    shopper = shopper_on(platform, stack, platforms, more_platforms)
    cart = fill_cart(shopper)
    line = cart["lines"][0]
    link = check_out(shopper)

    before = len(told(shopper.fake, "sold out while your payment"))
    stock = f"/api/admin/variants/{line['variant_id']}/stock"
    status, written_off = stack.api("PUT", stock, {"stock": 0}, admin=True)
    assert status == 200, written_off
    try:
        page = pay_by_card(link)
    finally:
        status, _ = stack.api("PUT", stock, {"stock": line["available"]}, admin=True)
        assert status == 200
    assert "could not complete your order" in page.lower(), page
    shopper.pushed("sold out while your payment", "refunded in full")
    only_to(shopper, told(shopper.fake, "sold out while your payment")[before:])

    grant_reminders_in_the_chat(shopper)
    report = remind_abandoned_carts(stack)
    assert report["chat_messages"] >= 1, report  # no e-mail: nobody confirmed the address
    reminder = shopper.text(shopper.pushed(f"you left {cart['item_count']} item"))
    assert cart["totals"]["subtotal"]["formatted"] in reminder, reminder
    assert 'say "checkout"' in reminder.lower(), reminder

    link = payment_link_in(shopper, shopper.say(
        "send me a new payment link", until=lambda sent: PAYMENT_LINK.search(json.dumps(sent))))
    number = pay_and_see_the_confirmation(shopper, link)
    only_to(shopper, told(shopper.fake, number.lower()))

    status, shipped = stack.api("POST", f"/api/admin/orders/{number}/shipments", {},
                                admin=True)
    assert status == 201, shipped
    tracking = shipped["shipments"][0]["tracking_number"]
    notice = shopper.text(shopper.pushed("has shipped", number.lower()))
    assert tracking in notice, notice
    only_to(shopper, told(shopper.fake, tracking.lower()))
