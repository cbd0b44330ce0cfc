"""Twilio (SMS, and WhatsApp through Twilio), replacing Rasa 3.6's connector under the same
name ``twilio``.

Rasa's own never checks ``X-Twilio-Signature``, answers 500 to a message without a Body (a
photo alone), sends with Twilio's synchronous client on the event loop and swallows send
errors (a failed push is never retried). Here:

- POST /webhooks/twilio/webhook needs ``X-Twilio-Signature``: base64 HMAC-SHA1, with the
  account's auth token (TWILIO_AUTH_TOKEN), of the webhook's public URL (``webhook_url``,
  TWILIO_WEBHOOK_URL: the URL configured at Twilio, as the proxy changes what Rasa sees)
  followed by every POST parameter's name and value sorted by name; compared in constant
  time, else 403 and nothing reaches Rasa.
- Answered at once with an empty TwiML ``<Response/>``; the message is handled in the
  background, in order per sender; a ``MessageSid`` seen before is answered and dropped.
- A message without a Body (media alone) gets a "text only" answer, never a 500.
- Sends: Messages.json through aiohttp with a timeout (``api_url``, TWILIO_API_URL, default
  https://api.twilio.com), from ``twilio_number`` (TWILIO_NUMBER, ``whatsapp:+...`` for
  WhatsApp); an error status raises, so the outbox tries again.
- SMS has no buttons: choices are numbered lines ("Reply 1 for ..."), links are written out;
  the choices sent last are remembered per sender, so that a reply of just "2" is the
  second choice's payload.

The conversation id is made from the sender's address so that it is safe in a URL path
(storefront_api pushes to ``/conversations/{id}/trigger_intent``, and Sanic does not decode
``%2B`` in a path): ``+4915...`` is ``sms-4915...``, ``whatsapp:+4915...`` is
``whatsapp-4915...``; sends turn it back into the address.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Dict, List, Optional, Text
from urllib.parse import parse_qsl

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from .messaging import (MAX_BODY, Deliveries, PlatformAPI, SendFailed, same, setting,
                        twilio_signature)
from .rendering import (Button, Cards, Choices, Image, Part, RenderingOutput, Text as Said,
                        card_text, split_text)
from .webhook import OnNewMessage, WebhookInput

logger = logging.getLogger(__name__)

API_URL = "https://api.twilio.com"
SMS_CHARS = 1600  # Twilio's limit on one message's Body
CHOICE_MEMORY = 24 * 3600
NUMBER_REPLY = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def conversation_of(address: str) -> str:
    """``+4915...`` → ``sms-4915...``, ``whatsapp:+4915...`` → ``whatsapp-4915...``."""
    kind, _, number = address.rpartition(":")
    digits = re.sub(r"[^0-9A-Za-z]", "", number)
    return f"{kind or 'sms'}-{digits}" if kind in ("", "whatsapp") else f"{kind}-{digits}"


def address_of(conversation: str) -> str:
    """The Twilio address of a conversation id made by ``conversation_of``."""
    kind, _, digits = conversation.partition("-")
    if not digits:
        return conversation
    number = f"+{digits}" if digits.isdigit() else digits
    return number if kind == "sms" else f"{kind}:{number}"


def form_fields(body: bytes) -> Dict[str, str]:
    """A webhook's POST parameters (none for a body that is not UTF-8)."""
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


class TwilioOutput(RenderingOutput, OutputChannel):
    @classmethod
    def name(cls) -> Text:
        return "twilio"

    def __init__(self, api: PlatformAPI, deliveries: Deliveries, account_sid: str,
                 auth_token: str, number: str):
        self.api = api
        self.deliveries = deliveries
        self.account_sid = account_sid
        self.auth = aiohttp.BasicAuth(account_sid, auth_token)
        self.number = number

    async def before_sending(self, recipient_id: str, found: List[Part]) -> List[Part]:
        self._choices: List[str] = []
        return found

    async def send_sms(self, conversation: str, body: str) -> None:
        to = address_of(conversation)
        for piece in split_text(body, SMS_CHARS):
            answer = await self.api.call(
                "POST", f"2010-04-01/Accounts/{self.account_sid}/Messages.json",
                form={"To": to, "From": self.number, "Body": piece}, auth=self.auth)
            if not isinstance(answer, dict) or not answer.get("sid"):
                raise SendFailed(f"Twilio did not accept the message: {str(answer)[:300]}")

    async def numbered(self, to: str, text: str, buttons: List[Button]) -> str:
        """Choices as numbered lines, their payloads remembered for a reply of a number."""
        lines = [text] if text else []
        for b in buttons:
            if b.url:
                lines.append(f"{b.title}: {b.url}")
            else:
                self._choices.append(b.payload or "")
                lines.append(f"{len(self._choices)}. {b.title}")
        if self._choices:
            lines.append("Reply with a number to choose.")
            await self.deliveries.put(f"choices:{to}", json.dumps(self._choices),
                                      CHOICE_MEMORY)
        return "\n".join(lines)

    async def draw(self, recipient_id: str, part: Part) -> None:
        if isinstance(part, Said):
            await self.send_sms(recipient_id, part.text)
        elif isinstance(part, Choices):
            await self.send_sms(recipient_id,
                                await self.numbered(recipient_id, part.text, part.buttons))
        elif isinstance(part, Image):
            await self.send_sms(recipient_id, " ".join(x for x in (part.caption, part.url) if x))
        elif isinstance(part, Cards):
            lines = []
            for card in part.cards:
                first = next((b for b in card.buttons if b.payload), None)
                lines.append(Button(card_text(card), first.payload if first else None,
                                    None if first else card.image_url))
            await self.send_sms(recipient_id, await self.numbered(
                recipient_id, "", [b for b in lines if b.payload or b.url]))


class TwilioInput(WebhookInput):
    """POST /webhooks/twilio/webhook: Twilio's signed incoming messages."""

    refused = "message with a missing or wrong signature"
    body_limit = MAX_BODY  # parsed into the form fields Twilio signs, so refused before

    @classmethod
    def name(cls) -> Text:
        return "twilio"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls(account_sid=setting(credentials, "account_sid", "TWILIO_ACCOUNT_SID"),
                   auth_token=setting(credentials, "auth_token", "TWILIO_AUTH_TOKEN"),
                   number=setting(credentials, "twilio_number", "TWILIO_NUMBER"),
                   webhook_url=setting(credentials, "webhook_url", "TWILIO_WEBHOOK_URL"),
                   api_url=setting(credentials, "api_url", "TWILIO_API_URL"))

    def __init__(self, account_sid: Optional[str] = None, auth_token: Optional[str] = None,
                 number: Optional[str] = None, webhook_url: Optional[str] = None,
                 api_url: Optional[str] = None, deliveries: Optional[Deliveries] = None):
        if account_sid and not (auth_token and number):
            raise ValueError("The twilio channel needs auth_token (TWILIO_AUTH_TOKEN, which "
                             "also checks X-Twilio-Signature) and twilio_number")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.number = number
        self.webhook_url = webhook_url
        super().__init__(PlatformAPI(api_url or API_URL) if account_sid else None, deliveries)

    def get_output_channel(self) -> Optional[OutputChannel]:
        if not self.configured:
            return None
        return TwilioOutput(self.api, self.deliveries, self.account_sid or "",
                            self.auth_token or "", self.number or "")

    def signed(self, request: Request) -> bool:
        url = self.webhook_url or request.url
        signature = request.headers.get("X-Twilio-Signature")
        return bool(signature) and same(twilio_signature(self.auth_token or "", url,
                                                         form_fields(request.body or b"")),
                                        signature)

    async def handle(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        await self.receive(form_fields(request.body or b""), on_new_message)
        return response.text(EMPTY_TWIML, content_type="text/xml")

    async def receive(self, params: Dict[str, str], on_new_message: OnNewMessage) -> None:
        address = params.get("From") or ""
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        if not address or not sid or not await self.deliveries.first_time(f"message:{sid}"):
            return
        sender = conversation_of(address)
        output = self.get_output_channel()
        text = (params.get("Body") or "").strip()
        if not text:
            self.answer_text_only(sender, output)
            return
        text = await self.chosen(sender, text)
        self.pass_on(sender, text, output, {"twilio_message_sid": sid}, on_new_message)

    async def chosen(self, sender: str, text: str) -> str:
        """A reply of just a number picks that numbered choice (the last ones sent)."""
        number = NUMBER_REPLY.match(text)
        if not number:
            return text
        remembered = await self.deliveries.get(f"choices:{sender}")
        choices = json.loads(remembered) if remembered else []
        index = int(number.group(1)) - 1
        return choices[index] if 0 <= index < len(choices) and choices[index] else text
