"""A local stand-in for api.telegram.org (the Bot API) and for Telegram's webhook deliveries.

API: POST /bot{token}/{method} with a JSON body, answered as Telegram answers:
``{"ok": true, "result": ...}``, or ``{"ok": false, "error_code": ..., "description": ...}``
(a wrong token: 401; ``fail_next``: 500). It checks what Telegram checks for the methods Aisle
uses (a chat_id, a text of at most 4096 characters, callback_data of at most 64 bytes).

Deliveries: ``deliver(webhook, update)`` POSTs an update with the
``X-Telegram-Bot-Api-Secret-Token`` header Telegram adds when the webhook was set with a
secret token; ``text_update`` and ``button_update`` build the updates a shopper's message
and a tapped inline button produce.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from aiohttp import web

from fakes.platform import FakePlatform, as_json, post

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class FakeTelegram(FakePlatform):
    def __init__(self, token: str = "123456:test-bot-token", secret: str = "telegram-secret"):
        super().__init__()
        self.token = token
        self.secret = secret
        self._ids = itertools.count(1000)
        self._updates = itertools.count(1)
        self.webhook: dict[str, Any] | None = None

    @property
    def api_url(self) -> str:
        return self.url  # the channel adds /bot{token}/{method}

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/bot{token}/{method}", self._method)

    async def _method(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = dict(await request.post())
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}, status=401)
        if not self.record(method, body, request.headers):
            return web.json_response({"ok": False, "error_code": 500,
                                      "description": "Internal Server Error"}, status=500)
        problem = self._problem(method, body)
        if problem:
            return web.json_response({"ok": False, "error_code": 400,
                                      "description": f"Bad Request: {problem}"}, status=400)
        if method == "setWebhook":
            self.webhook = body
            return web.json_response({"ok": True, "result": True,
                                      "description": "Webhook was set"})
        if method == "answerCallbackQuery":
            return web.json_response({"ok": True, "result": True})
        return web.json_response({"ok": True, "result": {
            "message_id": next(self._ids), "date": int(time.time()),
            "chat": {"id": int(body.get("chat_id")), "type": "private"},
            **({"text": body["text"]} if "text" in body else {})}})

    @staticmethod
    def _problem(method: str, body: dict) -> str | None:
        if method in ("sendMessage", "sendPhoto") and not str(body.get("chat_id", "")).lstrip(
                "-").isdigit():
            return "chat not found"
        if method == "sendMessage" and not 0 < len(body.get("text") or "") <= 4096:
            return "message text is empty or too long"
        if method == "sendPhoto" and not body.get("photo"):
            return "there is no photo in the request"
        for row in (body.get("reply_markup") or {}).get("inline_keyboard", []):
            for key in row:
                if "callback_data" in key and not 1 <= len(key["callback_data"].encode()) <= 64:
                    return "BUTTON_DATA_INVALID"
                if "callback_data" not in key and "url" not in key:
                    return "can't parse inline keyboard button"
        return None

    # --- what Telegram sends the bot ----------------------------------------------------

    def text_update(self, chat_id: int, text: str) -> dict:
        update_id = next(self._updates)
        return {"update_id": update_id, "message": {
            "message_id": update_id, "date": int(time.time()), "text": text,
            "from": {"id": chat_id, "is_bot": False, "first_name": "Shopper"},
            "chat": {"id": chat_id, "type": "private", "first_name": "Shopper"}}}

    def button_update(self, chat_id: int, callback_data: str) -> dict:
        update_id = next(self._updates)
        return {"update_id": update_id, "callback_query": {
            "id": f"cbq{update_id}", "chat_instance": "1", "data": callback_data,
            "from": {"id": chat_id, "is_bot": False, "first_name": "Shopper"},
            "message": {"message_id": 1, "date": int(time.time()), "text": "…",
                        "chat": {"id": chat_id, "type": "private"}}}}

    def deliver(self, webhook: str, update: dict, secret: str | None = "",
                ) -> tuple[int, bytes]:
        """POST ``update`` to the webhook with the secret token ("" = the fake's own, None =
        no header)."""
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret or self.secret
        return post(webhook, as_json(update), headers)

    # --- reading what the bot sent --------------------------------------------------------

    def messages_to(self, chat_id: int) -> list[dict]:
        return [c.body for c in self.sent() if c.method in ("sendMessage", "sendPhoto")
                and str(c.body.get("chat_id")) == str(chat_id)]

    @staticmethod
    def buttons(body: dict) -> list[dict]:
        return [key for row in (body.get("reply_markup") or {}).get("inline_keyboard", [])
                for key in row]

    @staticmethod
    def shown(body: dict) -> str:
        return body.get("text") or body.get("caption") or json.dumps(body)
