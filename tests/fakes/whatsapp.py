"""A local stand-in for Meta's WhatsApp Cloud API (graph.facebook.com) and its webhook.

API: POST /{version}/{phone_number_id}/messages with ``Authorization: Bearer <token>``,
answered as the Cloud API answers (``{"messaging_product": "whatsapp", "contacts": [...],
"messages": [{"id": "wamid..."}]}``; errors as ``{"error": {"message", "type", "code"}}``).
It refuses what the Cloud API refuses for the message types Aisle sends: more than 3 reply
buttons, a button title over 20 characters, more than 10 list rows, a row title over 24
characters, an empty body, a free-form message outside the 24-hour window (error 131047:
``window_closed_for`` lists the numbers whose window is closed).

Deliveries: ``deliver(webhook, body)`` signs the body as Meta does (``X-Hub-Signature-256:
sha256=`` HMAC-SHA256 with the app secret); ``text_message``, ``button_reply``,
``list_reply`` and ``status`` build the webhook bodies; ``verify(webhook, token)`` performs
the GET handshake.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
import time
import urllib.parse
from aiohttp import web

from fakes.platform import FakePlatform, as_json, get, post


class FakeWhatsApp(FakePlatform):
    def __init__(self, token: str = "wa-access-token", app_secret: str = "wa-app-secret",
                 phone_number_id: str = "1098765432", verify_token: str = "wa-verify-token"):
        super().__init__()
        self.token = token
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self.verify_token = verify_token
        self.window_closed_for: set[str] = set()
        self._ids = itertools.count(1)

    @property
    def api_url(self) -> str:
        return self.url

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{version}/{phone}/messages", self._messages)

    def _error(self, status: int, code: int, message: str) -> web.Response:
        return web.json_response({"error": {"message": message, "type": "OAuthException",
                                            "code": code, "fbtrace_id": "fake"}}, status=status)

    async def _messages(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(401, 190, "Invalid OAuth access token.")
        if request.match_info["phone"] != self.phone_number_id:
            return self._error(400, 100, "Unsupported post request.")
        body = await request.json()
        if not self.record("messages", body, request.headers):
            return self._error(500, 2, "Service temporarily unavailable")
        problem = self._problem(body)
        if problem:
            return self._error(400, 131009, f"(#131009) Parameter value is not valid: {problem}")
        if body.get("type") != "template" and str(body.get("to")) in self.window_closed_for:
            return self._error(400, 131047, "Re-engagement message: more than 24 hours have "
                                            "passed since the recipient last replied")
        return web.json_response({"messaging_product": "whatsapp",
                                  "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                                  "messages": [{"id": f"wamid.out{next(self._ids)}"}]})

    @staticmethod
    def _problem(body: dict) -> str | None:
        if body.get("messaging_product") != "whatsapp" or not body.get("to"):
            return "messaging_product and to are required"
        kind = body.get("type")
        content = body.get(kind)
        if not isinstance(content, dict):
            return f"{kind} object is required"
        if kind == "text" and not 0 < len(content.get("body") or "") <= 4096:
            return "text.body must have 1 to 4096 characters"
        if kind == "template" and not content.get("name"):
            return "template.name is required"
        if kind != "interactive":
            return None
        if not 0 < len((content.get("body") or {}).get("text") or "") <= 1024:
            return "interactive.body.text must have 1 to 1024 characters"
        action = content.get("action") or {}
        if content.get("type") == "button":
            buttons = action.get("buttons") or []
            if not 1 <= len(buttons) <= 3:
                return "buttons must have 1 to 3 items"
            if any(len(b["reply"]["title"]) > 20 or len(b["reply"]["id"]) > 256
                   for b in buttons):
                return "button title over 20 characters or id over 256"
        elif content.get("type") == "list":
            rows = [r for s in action.get("sections") or [] for r in s.get("rows") or []]
            if not 1 <= len(rows) <= 10:
                return "a list must have 1 to 10 rows"
            if any(len(r["title"]) > 24 or len(r.get("description", "")) > 72
                   or len(r["id"]) > 200 for r in rows):
                return "row title over 24, description over 72 or id over 200 characters"
            if len(action.get("button") or "") > 20:
                return "list button over 20 characters"
        elif content.get("type") == "cta_url":
            parameters = action.get("parameters") or {}
            if len(parameters.get("display_text") or "") > 20 or not parameters.get("url"):
                return "cta_url needs display_text (at most 20) and url"
        else:
            return f"interactive type {content.get('type')!r} is not supported"
        return None

    # --- what Meta sends the webhook --------------------------------------------------------

    def _envelope(self, value: dict) -> dict:
        return {"object": "whatsapp_business_account", "entry": [{
            "id": "WABA-1", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001111",
                             "phone_number_id": self.phone_number_id}, **value}}]}]}

    def _message(self, sender: str, kind: str, content: dict) -> dict:
        return self._envelope({
            "contacts": [{"profile": {"name": "Shopper"}, "wa_id": sender}],
            "messages": [{"from": sender, "id": f"wamid.in{secrets.token_hex(8)}",
                          "timestamp": str(int(time.time())), "type": kind, kind: content}]})

    def text_message(self, sender: str, text: str) -> dict:
        return self._message(sender, "text", {"body": text})

    def button_reply(self, sender: str, reply_id: str, title: str) -> dict:
        return self._message(sender, "interactive", {
            "type": "button_reply", "button_reply": {"id": reply_id, "title": title}})

    def list_reply(self, sender: str, row_id: str, title: str) -> dict:
        return self._message(sender, "interactive", {
            "type": "list_reply", "list_reply": {"id": row_id, "title": title}})

    def status(self, recipient: str, state: str = "delivered") -> dict:
        return self._envelope({"statuses": [{
            "id": f"wamid.out{secrets.token_hex(4)}", "status": state,
            "timestamp": str(int(time.time())), "recipient_id": recipient}]})

    def signature(self, raw: bytes, secret: str | None = None) -> str:
        key = (secret or self.app_secret).encode()
        return "sha256=" + hmac.new(key, raw, hashlib.sha256).hexdigest()

    def deliver(self, webhook: str, body: dict, signature: str | None = "") -> tuple[int, bytes]:
        """POST ``body`` signed ("" = correctly, None = no header, else that header)."""
        raw = as_json(body)
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature or self.signature(raw)
        return post(webhook, raw, headers)

    def verify(self, webhook: str, token: str, challenge: str = "1158201444") -> tuple[int,
                                                                                           bytes]:
        query = urllib.parse.urlencode({"hub.mode": "subscribe", "hub.verify_token": token,
                                        "hub.challenge": challenge})
        return get(f"{webhook}?{query}")

    # --- reading what the bot sent ----------------------------------------------------------

    def messages_to(self, wa_id: str) -> list[dict]:
        return [c.body for c in self.sent("messages") if c.body.get("to") == wa_id]

    @staticmethod
    def shown(body: dict) -> str:
        kind = body.get("type")
        content = body.get(kind) or {}
        if kind == "text":
            return content.get("body", "")
        if kind == "interactive":
            return (content.get("body") or {}).get("text", "")
        if kind == "image":
            return content.get("caption", "")
        if kind == "template":
            return " ".join(p.get("text", "") for c in content.get("components", [])
                            for p in c.get("parameters", []))
        return ""

    @staticmethod
    def choices(body: dict) -> list[dict]:
        """Each tappable choice of an interactive message as {"id", "title"}."""
        content = body.get("interactive") or {}
        action = content.get("action") or {}
        if content.get("type") == "button":
            return [b["reply"] for b in action.get("buttons", [])]
        if content.get("type") == "list":
            return [r for s in action.get("sections", []) for r in s.get("rows", [])]
        return []
