"""A local stand-in for Meta's WhatsApp Cloud API (graph.facebook.com) and its webhook.

API: POST /{version}/{phone_number_id}/messages with ``Authorization: Bearer <token>``,
answered as the Cloud API answers (``{"messaging_product": "whatsapp", "contacts": [...],
"messages": [{"id": "wamid..."}]}``; errors as ``{"error": {"message", "type", "code"}}``).
It refuses what the Cloud API refuses for the message types Aisle sends: more than 3 reply
buttons, a button title over 20 characters, more than 10 list rows, a row title over 24
characters, an empty body, a free-form message outside the 24-hour window (error 131047:
``window_closed_for`` lists the numbers whose window is closed).

Deliveries: ``text_message``, ``button_reply``, ``list_reply`` and ``status`` build the
webhook bodies; ``deliver(webhook, body)`` signs the body as Meta does
(``X-Hub-Signature-256: sha256=`` HMAC-SHA256 with the app secret) and
``verify(webhook, token)`` performs the GET handshake (meta.py, shared with the Messenger
fake).
"""

from __future__ import annotations

import secrets
import time

from aiohttp import web

from fakes.meta import FakeMetaGraph


class FakeWhatsApp(FakeMetaGraph):
    def __init__(self, token: str = "wa-access-token", app_secret: str = "wa-app-secret",
                 phone_number_id: str = "1098765432", verify_token: str = "wa-verify-token"):
        super().__init__(app_secret, verify_token)
        self.token = token
        self.phone_number_id = phone_number_id

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{version}/{phone}/messages", self._messages)

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
