"""Slack, replacing Rasa 3.6's connector under the same name ``slack``.

Rasa's own verifies the signature correctly but sends a push (``output_channel=latest``: a
payment confirmation, a cart reminder, an agent's reply) to the configured shared channel:
order notices would be read by everyone in it. Here every message to a shopper goes to
their own direct message with the app (``conversations.open`` with their user id), answers
and pushes alike; the conversation id is the shopper's Slack user id.

- POST /webhooks/slack/webhook takes the Events API (JSON) and interactivity (the form field
  ``payload``: a tapped button). ``X-Slack-Signature`` (``v0=`` HMAC-SHA256 of
  ``v0:{timestamp}:{body}`` with the signing secret, SLACK_SIGNING_SECRET) is compared in
  constant time, and ``X-Slack-Request-Timestamp`` must be within 5 minutes: else 403 and
  nothing reaches Rasa. The URL verification challenge is answered after the same check.
- The webhook answers at once (Slack retries after 3 seconds) and the message is handled in
  the background, in order per shopper; an ``event_id`` (or a button's ``action_ts``) seen
  before is answered and dropped. Messages from bots (the app's own) and edits are ignored.
- Sends: chat.postMessage through aiohttp with a timeout to ``api_url`` (SLACK_API_URL,
  default https://slack.com/api) with the bot token (SLACK_TOKEN); Slack's ``"ok": false``
  raises. Choices and product cards become blocks with buttons, links URL buttons.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Dict, List, Optional, Text
from urllib.parse import parse_qs

from rasa.core.channels.channel import InputChannel, OutputChannel
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from .messaging import (MAX_BODY, Deliveries, PlatformAPI, SendFailed, long_payload, same,
                        setting, short_payload, slack_signature)
from .rendering import (Button, Cards, Choices, Image, Part, RenderingOutput, Text as Said,
                        clip, split_text)
from .webhook import OnNewMessage, WebhookInput

logger = logging.getLogger(__name__)

API_URL = "https://slack.com/api"
MAX_AGE = 300  # seconds a signed request stays valid (Slack's own advice)
TEXT_CHARS = 3000  # a section block's text
BUTTON_TEXT = 75
VALUE_CHARS = 2000
ACTIONS = 25  # elements in one actions block
BLOCKS = 50


class SlackOutput(RenderingOutput, OutputChannel):
    @classmethod
    def name(cls) -> Text:
        return "slack"

    def __init__(self, api: PlatformAPI, deliveries: Deliveries):
        self.api = api
        self.deliveries = deliveries

    async def web_api(self, method: str, body: Dict[str, Any]) -> Dict[str, Any]:
        answer = await self.api.call("POST", method, json_body=body)
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            raise SendFailed(f"Slack {method}: {str(answer)[:300]}")
        return answer

    async def direct_channel(self, user: str) -> str:
        """The shopper's direct message with the app (never a shared channel)."""
        known = await self.deliveries.get(f"dm:{user}")
        if known:
            return known
        answer = await self.web_api("conversations.open", {"users": user})
        channel = str((answer.get("channel") or {}).get("id") or "")
        if not channel:
            raise SendFailed(f"Slack conversations.open gave no channel for {user}")
        await self.deliveries.put(f"dm:{user}", channel, 30 * 24 * 3600)
        return channel

    async def post(self, user: str, text: str, blocks: Optional[List[Dict]] = None) -> None:
        body: Dict[str, Any] = {"channel": await self.direct_channel(user),
                                "text": clip(text or "…", 40000)}
        if blocks:
            body["blocks"] = blocks[:BLOCKS]
        await self.web_api("chat.postMessage", body)

    async def buttons(self, buttons: List[Button]) -> List[Dict[str, Any]]:
        blocks = []
        for start in range(0, len(buttons), ACTIONS):
            elements = []
            for index, b in enumerate(buttons[start:start + ACTIONS], start):
                element: Dict[str, Any] = {
                    "type": "button", "action_id": f"choice-{index}",
                    "text": {"type": "plain_text", "text": clip(b.title, BUTTON_TEXT)}}
                if b.url:
                    element["url"] = b.url
                else:
                    element["value"] = await short_payload(self.deliveries, b.payload or "",
                                                           VALUE_CHARS)
                elements.append(element)
            blocks.append({"type": "actions", "elements": elements})
        return blocks

    @staticmethod
    def section(text: str, image: Optional[str] = None) -> Dict[str, Any]:
        block: Dict[str, Any] = {"type": "section",
                                 "text": {"type": "mrkdwn", "text": clip(text, TEXT_CHARS)}}
        if image:
            block["accessory"] = {"type": "image", "image_url": image, "alt_text": "product"}
        return block

    async def draw(self, recipient_id: str, part: Part) -> None:
        if isinstance(part, Said):
            for piece in split_text(part.text, TEXT_CHARS):
                await self.post(recipient_id, piece)
        elif isinstance(part, Choices):
            blocks = [self.section(part.text)] if part.text else []
            await self.post(recipient_id, part.text,
                            blocks + await self.buttons(part.buttons))
        elif isinstance(part, Image):
            await self.post(recipient_id, part.caption or part.url, [
                {"type": "image", "image_url": part.url, "alt_text": part.caption or "image"}])
        elif isinstance(part, Cards):
            blocks: List[Dict[str, Any]] = []
            for card in part.cards:
                text = f"*{card.title}*" + (f"\n{card.subtitle}" if card.subtitle else "")
                blocks.append(self.section(text, card.image_url))
                blocks.extend(await self.buttons(card.buttons))
            summary = "; ".join(c.title for c in part.cards)
            for start in range(0, len(blocks), BLOCKS):
                await self.post(recipient_id, summary, blocks[start:start + BLOCKS])


class SlackInput(WebhookInput):
    """POST /webhooks/slack/webhook: Slack's signed events and button taps."""

    refused = "request with a missing, wrong or stale signature"
    expects = "a JSON event"

    @classmethod
    def name(cls) -> Text:
        return "slack"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls(token=setting(credentials, "slack_token", "SLACK_TOKEN"),
                   signing_secret=setting(credentials, "slack_signing_secret",
                                          "SLACK_SIGNING_SECRET"),
                   api_url=setting(credentials, "api_url", "SLACK_API_URL"))

    def __init__(self, token: Optional[str] = None, signing_secret: Optional[str] = None,
                 api_url: Optional[str] = None, deliveries: Optional[Deliveries] = None):
        if token and not signing_secret:
            raise ValueError("The slack channel needs slack_signing_secret "
                             "(SLACK_SIGNING_SECRET) to check X-Slack-Signature")
        self.signing_secret = signing_secret
        super().__init__(PlatformAPI(api_url or API_URL, {"Authorization": f"Bearer {token}"})
                         if token else None, deliveries)

    def get_output_channel(self) -> Optional[OutputChannel]:
        return SlackOutput(self.api, self.deliveries) if self.configured else None

    def signed(self, request: Request) -> bool:
        stamp = request.headers.get("X-Slack-Request-Timestamp") or ""
        try:
            fresh = abs(time.time() - int(stamp)) <= MAX_AGE
        except ValueError:
            return False
        return fresh and same(slack_signature(self.signing_secret or "", stamp,
                                              request.body or b""),
                              request.headers.get("X-Slack-Signature"))

    async def handle(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        if (request.content_type or "").startswith("application/x-www-form-urlencoded"):
            tapped = _interaction(request.body or b"")
            if tapped is None:
                return response.json({"error": "expected an interaction"}, status=400)
            await self.tapped(tapped, on_new_message)
            return response.text("")
        return await super().handle(request, on_new_message)

    async def delivered(self, delivery: Dict[str, Any],
                        on_new_message: OnNewMessage) -> HTTPResponse:
        if delivery.get("type") == "url_verification":
            return response.json({"challenge": delivery.get("challenge")})
        if delivery.get("type") == "event_callback":
            await self.event(delivery, on_new_message)
        return response.json({"status": "ok"})

    async def event(self, delivery: Dict[str, Any], on_new_message: OnNewMessage) -> None:
        event = delivery.get("event") or {}
        if event.get("type") not in ("message", "app_mention") or event.get("bot_id") \
                or event.get("subtype") not in (None, "file_share"):
            return
        user = str(event.get("user") or "")
        if not user or not await self.deliveries.first_time(
                f"event:{delivery.get('event_id') or event.get('client_msg_id')}"):
            return
        text = event.get("text")
        output = self.get_output_channel()
        if not isinstance(text, str) or not text.strip():
            self.answer_text_only(user, output)
            return
        self.pass_on(user, text, output, {"slack_event_id": delivery.get("event_id")},
                     on_new_message)

    async def tapped(self, interaction: Dict[str, Any], on_new_message: OnNewMessage) -> None:
        user = str((interaction.get("user") or {}).get("id") or "")
        actions = [a for a in interaction.get("actions") or [] if isinstance(a, dict)]
        if interaction.get("type") != "block_actions" or not user or not actions:
            return
        action = actions[0]
        if not action.get("value"):
            return  # a URL button: Slack opened the link, nothing to say
        if not await self.deliveries.first_time(f"action:{user}:{action.get('action_ts')}"):
            return
        payload = await long_payload(self.deliveries, str(action["value"]))
        if not payload:
            return
        self.pass_on(user, payload, self.get_output_channel(), {}, on_new_message)


def _interaction(body: bytes) -> Optional[Dict[str, Any]]:
    if len(body) > MAX_BODY:
        return None
    try:
        raw = parse_qs(body.decode(), strict_parsing=True).get("payload", [""])[0]
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None
