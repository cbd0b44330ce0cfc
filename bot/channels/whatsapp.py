"""WhatsApp through Meta's own Cloud API (Rasa 3.6 has no connector for it): ``whatsapp``.

- GET /webhooks/whatsapp/webhook: Meta's verification handshake. ``hub.mode=subscribe`` and
  ``hub.verify_token`` equal to ``verify_token`` (WHATSAPP_VERIFY_TOKEN) answer
  ``hub.challenge``; anything else 403.
- POST: ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with ``app_secret``,
  WHATSAPP_APP_SECRET) checked in constant time, else 403 and nothing reaches Rasa. Every
  entry and change of a batch is read; each message id (``wamid``) is handled once;
  the webhook answers 200 at once (Meta retries slow answers) and the messages are handled
  in the background, in order per shopper. Status callbacks (sent, delivered, read,
  failed) are acknowledged; a failed one is logged.
- A text is the shopper's message; a tapped reply button or list row (``interactive``) or a
  template's quick reply (``button``) sends its payload; a photo, voice note or location
  alone gets a short "text only" answer.
- Sends: POST {api_url}/{api_version}/{phone_number_id}/messages with the access token
  (WHATSAPP_ACCESS_TOKEN); api_url (WHATSAPP_API_URL) defaults to https://graph.facebook.com.
  Choices become reply buttons (at most 3, titles at most 20 characters) or a list (at most
  10 rows; more in further lists), product cards a list (or a photo and buttons for one
  product), the payment link a call-to-action button.
- The customer-service window: WhatsApp delivers free-form messages only within 24 hours of
  the shopper's last message. The channel remembers when each shopper last wrote; a push
  (``output_channel=latest``: a payment confirmation, a reminder) after that goes out as the
  approved template ``template_name`` (WHATSAPP_TEMPLATE, language WHATSAPP_TEMPLATE_LANGUAGE)
  with the message's text as its one body parameter, and without a template it raises (the
  outbox keeps the notice and reports it) rather than being refused by Meta silently.

The conversation id is the shopper's WhatsApp id (their number, digits only).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Dict, List, Optional, Text

from rasa.core.channels.channel import InputChannel, OutputChannel
from sanic import response
from sanic.response import HTTPResponse

from .messaging import Deliveries, PlatformAPI, SendFailed, long_payload, setting, short_payload
from .rendering import (Button, Card, Cards, Choices, Image, Part, RenderingOutput,
                        Text as Said, card_text, clip, numbered, split_text)
from .webhook import MetaWebhookInput, OnNewMessage

logger = logging.getLogger(__name__)

API_URL = "https://graph.facebook.com"
API_VERSION = "v19.0"
WINDOW = 24 * 3600  # the customer-service window, seconds after the shopper's last message
MAX_BUTTONS = 3
BUTTON_TITLE = 20
MAX_ROWS = 10
ROW_TITLE = 24
ROW_DESCRIPTION = 72
BUTTON_ID = 256
ROW_ID = 200
BODY_CHARS = 1024
TEXT_CHARS = 4096
WA_ID = re.compile(r"^[0-9]{5,20}$")


class WhatsAppOutput(RenderingOutput, OutputChannel):
    @classmethod
    def name(cls) -> Text:
        return "whatsapp"

    def __init__(self, api: PlatformAPI, deliveries: Deliveries, phone_number_id: str,
                 template: Optional[str], template_language: str):
        self.api = api
        self.deliveries = deliveries
        self.phone_number_id = phone_number_id
        self.template = template
        self.template_language = template_language

    async def post(self, to: str, kind: str, content: Dict[str, Any]) -> Any:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
                "type": kind, kind: content}
        answer = await self.api.call("POST", f"{self.phone_number_id}/messages",
                                     json_body=body)
        if not isinstance(answer, dict) or not answer.get("messages"):
            raise SendFailed(f"WhatsApp did not accept the message: {str(answer)[:300]}")
        return answer

    async def window_open(self, recipient_id: str) -> bool:
        last = await self.deliveries.get(f"last_in:{recipient_id}")
        return last is not None and time.time() - float(last) < WINDOW

    async def before_sending(self, recipient_id: str, found: List[Part]) -> List[Part]:
        if not found or await self.window_open(recipient_id):
            return found
        if not self.template:
            raise SendFailed(f"WhatsApp: the 24-hour window of {recipient_id} is closed and no "
                             "template is configured (WHATSAPP_TEMPLATE)")
        text = " · ".join(plain_text(part) for part in found)
        await self.post(recipient_id, "template", {
            "name": self.template, "language": {"code": self.template_language},
            "components": [{"type": "body", "parameters": [
                {"type": "text", "text": template_parameter(text)}]}]})
        return []

    async def draw(self, recipient_id: str, part: Part) -> None:
        to = recipient_id
        if isinstance(part, Said):
            for piece in split_text(part.text, TEXT_CHARS):
                await self.post(to, "text", {"body": piece, "preview_url": "http" in piece})
        elif isinstance(part, Choices):
            await self.choices(to, part.text, part.buttons)
        elif isinstance(part, Image):
            await self.post(to, "image", {"link": part.url,
                                          **({"caption": part.caption} if part.caption else {})})
        elif isinstance(part, Cards):
            await self.cards(to, part.cards)

    async def choices(self, to: str, text: str, buttons: List[Button]) -> None:
        replies = [b for b in buttons if b.payload]
        links = [b for b in buttons if b.url]
        body = clip(text or "Choose:", BODY_CHARS)
        if len(replies) <= MAX_BUTTONS and replies:
            await self.post(to, "interactive", {
                "type": "button", "body": {"text": body},
                "action": {"buttons": [await self.reply_button(b) for b in replies]}})
        elif replies:
            for start in range(0, len(replies), MAX_ROWS):
                chunk = replies[start:start + MAX_ROWS]
                rows = [await self.row(b.payload or "", b.title, "") for b in chunk]
                await self.post(to, "interactive", self.list_of(body, rows))
                body = "More:"
        for index, link in enumerate(links):
            await self.post(to, "interactive", {
                "type": "cta_url",
                "body": {"text": body if not replies and index == 0 else clip(link.title,
                                                                               BODY_CHARS)},
                "action": {"name": "cta_url", "parameters": {
                    "display_text": clip(link.title, BUTTON_TITLE), "url": link.url}}})

    async def cards(self, to: str, cards: List[Card]) -> None:
        if len(cards) == 1:
            card = cards[0]
            if card.image_url:
                await self.post(to, "image", {"link": card.image_url,
                                              "caption": clip(card_text(card), BODY_CHARS)})
            await self.choices(to, card_text(card), card.buttons)
            return
        for start in range(0, len(cards), MAX_ROWS):
            rows = []
            for card in cards[start:start + MAX_ROWS]:
                first = next((b for b in card.buttons if b.payload), None)
                if first is not None:
                    rows.append(await self.row(first.payload or "", card.title, card.subtitle))
            if rows:
                await self.post(to, "interactive", self.list_of(
                    "Tap a product for its details and sizes.", rows, "Products"))

    async def reply_button(self, b: Button) -> Dict[str, Any]:
        return {"type": "reply", "reply": {
            "id": await short_payload(self.deliveries, b.payload or "", BUTTON_ID),
            "title": clip(b.title, BUTTON_TITLE)}}

    async def row(self, payload: str, title: str, description: str) -> Dict[str, Any]:
        row = {"id": await short_payload(self.deliveries, payload, ROW_ID),
               "title": clip(title, ROW_TITLE)}
        if description:
            row["description"] = clip(description, ROW_DESCRIPTION)
        return row

    @staticmethod
    def list_of(body: str, rows: List[Dict[str, Any]], button: str = "Choose"
                ) -> Dict[str, Any]:
        return {"type": "list", "body": {"text": clip(body, BODY_CHARS)},
                "action": {"button": clip(button, BUTTON_TITLE),
                           "sections": [{"title": clip(button, ROW_TITLE), "rows": rows}]}}


def plain_text(part: Part) -> str:
    if isinstance(part, Said):
        return part.text
    if isinstance(part, Choices):
        return numbered(part.text, [b for b in part.buttons if b.url])
    if isinstance(part, Image):
        return part.caption
    return "; ".join(card_text(c) for c in part.cards)


def template_parameter(text: str) -> str:
    """A template's body parameter: Meta refuses new lines, tabs and more than four spaces
    in a row, and more than 1024 characters."""
    return clip(re.sub(r"\s+", " ", text).strip() or "-", BODY_CHARS)


class WhatsAppInput(MetaWebhookInput):
    """GET/POST /webhooks/whatsapp/webhook: Meta's handshake and its signed deliveries."""

    @classmethod
    def name(cls) -> Text:
        return "whatsapp"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls(
            access_token=setting(credentials, "access_token", "WHATSAPP_ACCESS_TOKEN"),
            phone_number_id=setting(credentials, "phone_number_id", "WHATSAPP_PHONE_NUMBER_ID"),
            app_secret=setting(credentials, "app_secret", "WHATSAPP_APP_SECRET"),
            verify_token=setting(credentials, "verify_token", "WHATSAPP_VERIFY_TOKEN"),
            api_url=setting(credentials, "api_url", "WHATSAPP_API_URL"),
            api_version=setting(credentials, "api_version", "WHATSAPP_API_VERSION",
                                API_VERSION),
            template=setting(credentials, "template_name", "WHATSAPP_TEMPLATE"),
            template_language=setting(credentials, "template_language",
                                      "WHATSAPP_TEMPLATE_LANGUAGE", "en"))

    def __init__(self, access_token: Optional[str] = None,
                 phone_number_id: Optional[str] = None, app_secret: Optional[str] = None,
                 verify_token: Optional[str] = None, api_url: Optional[str] = None,
                 api_version: str = API_VERSION, template: Optional[str] = None,
                 template_language: str = "en", deliveries: Optional[Deliveries] = None):
        if access_token and not (app_secret and verify_token and phone_number_id):
            raise ValueError("The whatsapp channel needs phone_number_id, app_secret "
                             "(WHATSAPP_APP_SECRET, to check X-Hub-Signature-256) and "
                             "verify_token (WHATSAPP_VERIFY_TOKEN)")
        self.app_secret = app_secret
        self.verify_token = verify_token
        self.phone_number_id = phone_number_id
        self.template = template
        self.template_language = template_language
        base = f"{(api_url or API_URL).rstrip('/')}/{api_version}"
        super().__init__(PlatformAPI(base, {"Authorization": f"Bearer {access_token}"})
                         if access_token else None, deliveries)

    def get_output_channel(self) -> Optional[OutputChannel]:
        if not self.configured:
            return None
        return WhatsAppOutput(self.api, self.deliveries, self.phone_number_id or "",
                              self.template, self.template_language)

    async def delivered(self, delivery: Dict[str, Any],
                        on_new_message: OnNewMessage) -> HTTPResponse:
        for value in changes(delivery):
            for status in value.get("statuses") or []:
                acknowledge(status)
            for message in value.get("messages") or []:
                await self.receive(message, on_new_message)
        return response.json({"status": "ok"})

    async def receive(self, message: Any, on_new_message: OnNewMessage) -> None:
        if not isinstance(message, dict) or not WA_ID.match(str(message.get("from") or "")):
            return
        if not await self.deliveries.first_time(f"message:{message.get('id')}"):
            return
        shopper = str(message["from"])
        await self.deliveries.put(f"last_in:{shopper}", str(time.time()), WINDOW)
        output = self.get_output_channel()
        text = await self.text_of(message)
        if text is None:
            self.answer_text_only(shopper, output)
            return
        self.pass_on(shopper, text, output, {"whatsapp_message_id": message.get("id")},
                     on_new_message)

    async def text_of(self, message: Dict[str, Any]) -> Optional[str]:
        kind = message.get("type")
        if kind == "text":
            body = (message.get("text") or {}).get("body")
            return body if isinstance(body, str) and body.strip() else None
        if kind == "interactive":
            chosen = message.get("interactive") or {}
            reply = chosen.get("button_reply") or chosen.get("list_reply") or {}
            if reply.get("id"):
                return await long_payload(self.deliveries, str(reply["id"]))
            return None
        if kind == "button":  # a template's quick reply
            button = message.get("button") or {}
            return str(button.get("payload") or button.get("text") or "") or None
        caption = (message.get(kind) or {}).get("caption") if isinstance(kind, str) else None
        return caption if isinstance(caption, str) and caption.strip() else None


def changes(delivery: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Every change's value of every entry in a delivery (Meta batches them)."""
    found = []
    for entry in delivery.get("entry") or []:
        for change in (entry.get("changes") or []) if isinstance(entry, dict) else []:
            if isinstance(change, dict) and isinstance(change.get("value"), dict):
                found.append(change["value"])
    return found


def acknowledge(status: Any) -> None:
    if isinstance(status, dict) and status.get("status") == "failed":
        logger.warning("whatsapp: message %s to %s failed: %s", status.get("id"),
                       status.get("recipient_id"), str(status.get("errors"))[:300])
