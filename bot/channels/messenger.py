"""Facebook Messenger, replacing Rasa 3.6's connector under the same name ``facebook``.

Rasa's own checks only the old SHA-1 ``X-Hub-Signature`` with ``==``, answers 200 to a bad
signature, reads only the first entry of a batch and ignores send errors. Here:

- GET /webhooks/facebook/webhook: the verification handshake (``verify`` token,
  FACEBOOK_VERIFY_TOKEN), else 403.
- POST: ``X-Hub-Signature-256`` only (HMAC-SHA256 of the raw body with the app ``secret``,
  FACEBOOK_SECRET), compared in constant time: else 403 and nothing reaches Rasa. Every
  messaging event of every entry is read; each message (its ``mid``) is handled once; the
  page's own echoes and delivery/read receipts are acknowledged and dropped. The webhook
  answers at once; the messages are handled in the background, in order per shopper.
- A text, a tapped quick reply (its payload) or a postback (a template's button) is the
  shopper's message.
- Sends: POST {api_url}/{version}/me/messages with the page token (FACEBOOK_PAGE_ACCESS_TOKEN)
  through aiohttp with a timeout; an error answer raises. Choices become quick replies (at
  most 13, titles at most 20 characters), links a button template, product cards a generic
  template (at most 10 elements, 3 buttons each), images image attachments.
- Within 24 hours of the shopper's last message the bot answers freely (``RESPONSE``); a push
  after that goes out tagged ``POST_PURCHASE_UPDATE`` (payment confirmations, shipping
  notices: what Meta allows outside the window). Cart reminders never get there: the
  recovery job only pushes into an open window (storefront_api/recovery/eligibility.py).

The conversation id is the shopper's page-scoped id (PSID).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Dict, List, Optional, Text

from rasa.core.channels.channel import InputChannel, OutputChannel
from sanic import response
from sanic.response import HTTPResponse

from .messaging import Deliveries, PlatformAPI, SendFailed, long_payload, setting, short_payload
from .rendering import (Button, Card, Cards, Choices, Image, Part, RenderingOutput,
                        Text as Said, clip, split_text)
from .webhook import MetaWebhookInput, OnNewMessage

logger = logging.getLogger(__name__)

API_URL = "https://graph.facebook.com"
API_VERSION = "v19.0"
WINDOW = 24 * 3600
QUICK_REPLIES = 13
TITLE = 20
PAYLOAD_BYTES = 1000
TEXT_CHARS = 2000
TEMPLATE_TEXT = 640
ELEMENTS = 10
ELEMENT_TEXT = 80
ELEMENT_BUTTONS = 3


class MessengerOutput(RenderingOutput, OutputChannel):
    @classmethod
    def name(cls) -> Text:
        return "facebook"

    def __init__(self, api: PlatformAPI, deliveries: Deliveries, page_token: str):
        self.api = api
        self.deliveries = deliveries
        self.page_token = page_token
        self._tagged: Dict[str, bool] = {}

    async def before_sending(self, recipient_id: str, found: List[Part]) -> List[Part]:
        last = await self.deliveries.get(f"last_in:{recipient_id}")
        self._tagged[recipient_id] = last is None or time.time() - float(last) >= WINDOW
        return found

    async def send(self, psid: str, message: Dict[str, Any]) -> Any:
        body: Dict[str, Any] = {"recipient": {"id": psid}, "message": message}
        if self._tagged.get(psid):
            body.update(messaging_type="MESSAGE_TAG", tag="POST_PURCHASE_UPDATE")
        else:
            body["messaging_type"] = "RESPONSE"
        answer = await self.api.call("POST", "me/messages", json_body=body,
                                     headers={"Authorization": f"Bearer {self.page_token}"})
        if not isinstance(answer, dict) or not answer.get("message_id"):
            raise SendFailed(f"Messenger did not accept the message: {str(answer)[:300]}")
        return answer

    async def draw(self, recipient_id: str, part: Part) -> None:
        if isinstance(part, Said):
            for piece in split_text(part.text, TEXT_CHARS):
                await self.send(recipient_id, {"text": piece})
        elif isinstance(part, Choices):
            await self.choices(recipient_id, part.text, part.buttons)
        elif isinstance(part, Image):
            await self.send(recipient_id, {"attachment": {"type": "image", "payload": {
                "url": part.url, "is_reusable": True}}})
            if part.caption:
                await self.send(recipient_id, {"text": clip(part.caption, TEXT_CHARS)})
        elif isinstance(part, Cards):
            for start in range(0, len(part.cards), ELEMENTS):
                await self.send(recipient_id, {"attachment": {"type": "template", "payload": {
                    "template_type": "generic",
                    "elements": [await self.element(c)
                                 for c in part.cards[start:start + ELEMENTS]]}}})

    async def choices(self, psid: str, text: str, buttons: List[Button]) -> None:
        replies = [b for b in buttons if b.payload]
        links = [b for b in buttons if b.url]
        if replies:
            first = True
            for start in range(0, len(replies), QUICK_REPLIES):
                await self.send(psid, {
                    "text": clip(text if first and text else "More choices:", TEXT_CHARS),
                    "quick_replies": [{"content_type": "text", "title": clip(b.title, TITLE),
                                       "payload": await short_payload(
                                           self.deliveries, b.payload or "", PAYLOAD_BYTES)}
                                      for b in replies[start:start + QUICK_REPLIES]]})
                first = False
        for start in range(0, len(links), 3):
            await self.send(psid, {"attachment": {"type": "template", "payload": {
                "template_type": "button",
                "text": clip(text if not replies and text else "Open:", TEMPLATE_TEXT),
                "buttons": [{"type": "web_url", "url": b.url, "title": clip(b.title, TITLE)}
                            for b in links[start:start + 3]]}}})

    async def element(self, card: Card) -> Dict[str, Any]:
        element: Dict[str, Any] = {"title": clip(card.title or "-", ELEMENT_TEXT)}
        if card.subtitle:
            element["subtitle"] = clip(card.subtitle, ELEMENT_TEXT)
        if card.image_url:
            element["image_url"] = card.image_url
        buttons = []
        for b in card.buttons[:ELEMENT_BUTTONS]:
            if b.url:
                buttons.append({"type": "web_url", "url": b.url, "title": clip(b.title, TITLE)})
            else:
                buttons.append({"type": "postback", "title": clip(b.title, TITLE),
                                "payload": await short_payload(self.deliveries, b.payload or "",
                                                               PAYLOAD_BYTES)})
        if buttons:
            element["buttons"] = buttons
        return element


class MessengerInput(MetaWebhookInput):
    """GET/POST /webhooks/facebook/webhook: Meta's handshake and its signed deliveries."""

    @classmethod
    def name(cls) -> Text:
        return "facebook"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls(page_token=setting(credentials, "page-access-token",
                                      "FACEBOOK_PAGE_ACCESS_TOKEN"),
                   app_secret=setting(credentials, "secret", "FACEBOOK_SECRET"),
                   verify_token=setting(credentials, "verify", "FACEBOOK_VERIFY_TOKEN"),
                   api_url=setting(credentials, "api_url", "FACEBOOK_API_URL"),
                   api_version=setting(credentials, "api_version", "FACEBOOK_API_VERSION",
                                       API_VERSION))

    def __init__(self, page_token: Optional[str] = None, app_secret: Optional[str] = None,
                 verify_token: Optional[str] = None, api_url: Optional[str] = None,
                 api_version: str = API_VERSION, deliveries: Optional[Deliveries] = None):
        if page_token and not (app_secret and verify_token):
            raise ValueError("The facebook channel needs secret (FACEBOOK_SECRET, to check "
                             "X-Hub-Signature-256) and verify (FACEBOOK_VERIFY_TOKEN)")
        self.page_token = page_token
        self.app_secret = app_secret
        self.verify_token = verify_token
        base = f"{(api_url or API_URL).rstrip('/')}/{api_version}"
        super().__init__(PlatformAPI(base) if page_token else None, deliveries)

    def get_output_channel(self) -> Optional[OutputChannel]:
        return MessengerOutput(self.api, self.deliveries, self.page_token or "") \
            if self.configured else None

    async def delivered(self, delivery: Dict[str, Any],
                        on_new_message: OnNewMessage) -> HTTPResponse:
        for entry in delivery.get("entry") or []:
            for event in (entry.get("messaging") or []) if isinstance(entry, dict) else []:
                await self.receive(event, on_new_message)
        return response.json({"status": "ok"})

    async def receive(self, event: Any, on_new_message: OnNewMessage) -> None:
        if not isinstance(event, dict):
            return
        psid = str((event.get("sender") or {}).get("id") or "")
        message = event.get("message") if isinstance(event.get("message"), dict) else None
        postback = event.get("postback") if isinstance(event.get("postback"), dict) else None
        if not psid or (message is None and postback is None):
            return  # delivery and read receipts, reactions: acknowledged
        if message is not None and message.get("is_echo"):
            return  # the page's own message
        mid = (message or postback or {}).get("mid") or f"{psid}:{event.get('timestamp')}"
        if not await self.deliveries.first_time(f"message:{mid}"):
            return
        await self.deliveries.put(f"last_in:{psid}", str(time.time()), WINDOW)
        output = self.get_output_channel()
        text = await self.text_of(message, postback)
        if text is None:
            self.answer_text_only(psid, output)
            return
        self.pass_on(psid, text, output, {"facebook_message_id": mid}, on_new_message)

    async def text_of(self, message: Optional[Dict[str, Any]],
                      postback: Optional[Dict[str, Any]]) -> Optional[str]:
        if postback is not None:
            payload = postback.get("payload") or postback.get("title")
            return await long_payload(self.deliveries, str(payload)) if payload else None
        quick = (message or {}).get("quick_reply") or {}
        if quick.get("payload"):
            return await long_payload(self.deliveries, str(quick["payload"]))
        text = (message or {}).get("text")
        return text if isinstance(text, str) and text.strip() else None
