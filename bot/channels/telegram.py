"""Telegram (Bot API), replacing Rasa 3.6's connector under the same name ``telegram``.

Rasa's own calls ``asyncio.run(set_webhook(...))`` inside Sanic's running loop (every push
through ``trigger_intent`` answered 500) and builds aiogram's session before the server
starts (bound to a closed loop: "Event loop is closed" on every update), and never checks
the webhook's secret token. Here:

- POST /webhooks/telegram/webhook needs ``X-Telegram-Bot-Api-Secret-Token`` equal to
  ``secret_token`` (TELEGRAM_SECRET_TOKEN, the ``secret_token`` given to setWebhook): else
  403 and nothing reaches Rasa. A channel with a bot token but no secret refuses to start.
- The update is answered 200 at once and handled in the background, in order per chat; an
  ``update_id`` seen before is answered and dropped (Telegram retries).
- A text message is the shopper's message; a tapped inline button (``callback_query``) sends
  its payload and is acknowledged (answerCallbackQuery) so the button stops spinning.
- Sends go through aiohttp (opened in the running loop, 10 s timeout) to ``api_url``
  (TELEGRAM_API_URL, default https://api.telegram.org; a test points it at a fake); an answer
  without ``"ok": true`` raises, so a failed push is retried by the outbox.
- With ``webhook_url`` (TELEGRAM_WEBHOOK_URL) the webhook and its secret are registered with
  Telegram once the server has started, in the server's loop.

The conversation id is the Telegram chat id: a push (``output_channel=latest``) goes to it.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa.core.channels.channel import InputChannel, OutputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from .messaging import (Deliveries, PlatformAPI, SendFailed, long_payload, same, setting,
                        short_payload)
from .rendering import (Button, Cards, Choices, Image, Part, RenderingOutput, Text as Said,
                        card_text, clip, split_text)
from .webhook import OnNewMessage, WebhookInput

logger = logging.getLogger(__name__)

API_URL = "https://api.telegram.org"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
CALLBACK_DATA_BYTES = 64  # Telegram's limit on an inline button's callback_data
MESSAGE_CHARS = 4096
CAPTION_CHARS = 1024


class TelegramOutput(RenderingOutput, OutputChannel):
    """Sends to one Telegram chat: text, inline keyboards, photos."""

    @classmethod
    def name(cls) -> Text:
        return "telegram"

    def __init__(self, api: PlatformAPI, deliveries: Deliveries):
        self.api = api
        self.deliveries = deliveries

    async def bot_api(self, method: str, body: Dict[str, Any]) -> Any:
        answer = await self.api.call("POST", method, json_body=body)
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            raise SendFailed(f"Telegram {method}: {str(answer)[:300]}")
        return answer.get("result")

    async def keyboard(self, rows: List[List[Button]]) -> Dict[str, Any]:
        keys = []
        for row in rows:
            line = []
            for b in row:
                if b.url:
                    line.append({"text": clip(b.title, 60), "url": b.url})
                else:
                    data = await short_payload(self.deliveries, b.payload or "",
                                               CALLBACK_DATA_BYTES)
                    line.append({"text": clip(b.title, 60), "callback_data": data})
            keys.append(line)
        return {"inline_keyboard": keys}

    async def draw(self, recipient_id: str, part: Part) -> None:
        chat = recipient_id
        if isinstance(part, Said):
            for piece in split_text(part.text, MESSAGE_CHARS):
                await self.bot_api("sendMessage", {"chat_id": chat, "text": piece})
        elif isinstance(part, Choices):
            await self.bot_api("sendMessage", {
                "chat_id": chat, "text": clip(part.text or "Choose:", MESSAGE_CHARS),
                "reply_markup": await self.keyboard([[b] for b in part.buttons])})
        elif isinstance(part, Image):
            body: Dict[str, Any] = {"chat_id": chat, "photo": part.url}
            if part.caption:
                body["caption"] = clip(part.caption, CAPTION_CHARS)
            await self.bot_api("sendPhoto", body)
        elif isinstance(part, Cards):
            await self.draw_cards(chat, part)

    async def draw_cards(self, chat: str, part: Cards) -> None:
        if len(part.cards) == 1 and part.cards[0].image_url:
            card = part.cards[0]
            body: Dict[str, Any] = {"chat_id": chat, "photo": card.image_url,
                                    "caption": clip(card_text(card), CAPTION_CHARS)}
            if card.buttons:
                body["reply_markup"] = await self.keyboard([card.buttons])
            await self.bot_api("sendPhoto", body)
            return
        lines = [f"{i}. {card_text(c)}" for i, c in enumerate(part.cards, 1)]
        rows = [[Button(f"{i} · {b.title}", b.payload, b.url) for b in c.buttons]
                for i, c in enumerate(part.cards, 1) if c.buttons]
        body = {"chat_id": chat, "text": clip("\n".join(lines), MESSAGE_CHARS)}
        if rows:
            body["reply_markup"] = await self.keyboard(rows)
        await self.bot_api("sendMessage", body)


class TelegramInput(WebhookInput):
    """POST /webhooks/telegram/webhook: Telegram's updates, its secret token checked."""

    refused = "update with a missing or wrong secret token"
    expects = "a JSON update"

    @classmethod
    def name(cls) -> Text:
        return "telegram"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls(access_token=setting(credentials, "access_token", "TELEGRAM_TOKEN"),
                   secret_token=setting(credentials, "secret_token", "TELEGRAM_SECRET_TOKEN"),
                   api_url=setting(credentials, "api_url", "TELEGRAM_API_URL"),
                   webhook_url=setting(credentials, "webhook_url", "TELEGRAM_WEBHOOK_URL"))

    def __init__(self, access_token: Optional[str] = None, secret_token: Optional[str] = None,
                 api_url: Optional[str] = None, webhook_url: Optional[str] = None,
                 deliveries: Optional[Deliveries] = None):
        if access_token and not secret_token:
            raise ValueError("The telegram channel needs secret_token (TELEGRAM_SECRET_TOKEN): "
                             "without it anyone could post updates to its webhook.")
        self.access_token = access_token
        self.secret_token = secret_token
        self.webhook_url = webhook_url
        base = (api_url or API_URL).rstrip("/")
        super().__init__(PlatformAPI(f"{base}/bot{access_token}") if access_token else None,
                         deliveries)

    def get_output_channel(self) -> Optional[OutputChannel]:
        return TelegramOutput(self.api, self.deliveries) if self.configured else None

    async def register_webhook(self) -> None:
        output = self.get_output_channel()
        await output.bot_api("setWebhook", {  # type: ignore[union-attr]
            "url": self.webhook_url, "secret_token": self.secret_token,
            "allowed_updates": ["message", "callback_query"]})
        logger.info("telegram: webhook registered at %s", self.webhook_url)

    def routes(self, hook: Blueprint) -> None:
        @hook.listener("after_server_start")
        async def set_webhook(app, loop) -> None:  # noqa: ANN001 - Sanic's signature
            if self.configured and self.webhook_url:
                try:
                    await self.register_webhook()
                except SendFailed as error:
                    logger.error("telegram: could not register the webhook: %s", error)

    def signed(self, request: Request) -> bool:
        return same(self.secret_token or "", request.headers.get(SECRET_HEADER))

    async def delivered(self, update: Dict[str, Any],
                        on_new_message: OnNewMessage) -> HTTPResponse:
        if not await self.deliveries.first_time(f"update:{update.get('update_id')}"):
            return response.json({"status": "duplicate"})
        found = await self.message_of(update)
        if found is not None:
            chat, text, metadata = found
            self.pass_on(chat, text, self.get_output_channel(), metadata, on_new_message)
        return response.json({"status": "ok"})

    async def message_of(self, update: Dict[str, Any]
                         ) -> Optional[tuple[str, str, Dict[str, Any]]]:
        """(chat id, text, metadata) of an update the bot answers, else None."""
        query = update.get("callback_query")
        if isinstance(query, dict):
            chat = ((query.get("message") or {}).get("chat") or {}).get("id") \
                or (query.get("from") or {}).get("id")
            output = self.get_output_channel()
            self.conversations.handle(f"ack:{query.get('id')}", lambda: output.bot_api(
                "answerCallbackQuery", {"callback_query_id": query.get("id")}))
            payload = await long_payload(self.deliveries, str(query.get("data") or ""))
            if chat is None or not payload:
                return None
            return str(chat), payload, {"telegram_callback_query": query.get("id")}
        message = update.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("chat"), dict):
            return None  # edited messages, channel posts, joins: nothing to answer
        text = message.get("text") or message.get("caption")
        chat = str(message["chat"]["id"])
        if not isinstance(text, str) or not text.strip():  # a sticker, a photo alone
            self.answer_text_only(chat, self.get_output_channel())
            return None
        return chat, text, {"telegram_message_id": message.get(
            "message_id")}


