"""A local stand-in for the Messenger Platform's Send API (graph.facebook.com) and its
webhook deliveries.

API: POST /{version}/me/messages with the page token (``Authorization: Bearer`` or
``?access_token=``), answered ``{"recipient_id", "message_id"}`` as the Send API answers, or
``{"error": {...}}``. It refuses what the Send API refuses for what Aisle sends: more than 13
quick replies or a title over 20 characters, a generic template over 10 elements or 3 buttons
per element, a button template over 3 buttons or its text over 640 characters, a text over
2000 characters, and a message outside the 24-hour window without an allowed tag.

Deliveries: ``text_message``, ``quick_reply``, ``postback`` build page deliveries;
``deliver(webhook, body)`` signs with ``X-Hub-Signature-256`` as Meta does and ``verify``
performs the GET handshake (meta.py, shared with the WhatsApp fake).
"""

from __future__ import annotations

import secrets
import time

from aiohttp import web

from fakes.meta import FakeMetaGraph

ALLOWED_TAGS = {"CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE",
                "HUMAN_AGENT"}


class FakeMessenger(FakeMetaGraph):
    challenge = "7731"

    def __init__(self, page_token: str = "page-token", app_secret: str = "fb-app-secret",
                 verify_token: str = "fb-verify-token", page_id: str = "PAGE1"):
        super().__init__(app_secret, verify_token)
        self.page_token = page_token
        self.page_id = page_id

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{version}/me/messages", self._send)

    async def _send(self, request: web.Request) -> web.Response:
        token = request.query.get("access_token") or request.headers.get(
            "Authorization", "").removeprefix("Bearer ")
        if token != self.page_token:
            return self._error(401, 190, "Invalid OAuth access token.")
        body = await request.json()
        if not self.record("messages", body, request.headers):
            return self._error(500, 2, "Service temporarily unavailable")
        problem = self._problem(body)
        if problem:
            return self._error(400, 100, f"(#100) {problem}")
        psid = body["recipient"]["id"]
        if psid in self.window_closed_for and body.get("tag") not in ALLOWED_TAGS:
            return self._error(400, 10, "(#10) This message is sent outside of allowed window.")
        return web.json_response({"recipient_id": psid, "message_id": f"m_{next(self._ids)}"})

    @staticmethod
    def _problem(body: dict) -> str | None:
        message = body.get("message") or {}
        if not (body.get("recipient") or {}).get("id"):
            return "recipient.id is required"
        if "text" in message and not 0 < len(message["text"]) <= 2000:
            return "text must be 1 to 2000 characters"
        quick = message.get("quick_replies") or []
        if len(quick) > 13 or any(len(q.get("title", "")) > 20 or len(q.get("payload", "")) > 1000
                                  for q in quick):
            return "quick_replies: at most 13, titles at most 20 characters"
        payload = (message.get("attachment") or {}).get("payload") or {}
        if payload.get("template_type") == "generic":
            elements = payload.get("elements") or []
            if not 1 <= len(elements) <= 10 or any(
                    len(e.get("buttons", [])) > 3 or len(e.get("title", "")) > 80
                    for e in elements):
                return "generic template: 1 to 10 elements, 3 buttons each"
        if payload.get("template_type") == "button":
            buttons = payload.get("buttons") or []
            if not 1 <= len(buttons) <= 3 or len(payload.get("text", "")) > 640:
                return "button template: 1 to 3 buttons, text at most 640"
        if not message:
            return "message is required"
        return None

    # --- what Meta sends the webhook -----------------------------------------------------

    def _delivery(self, psid: str, event: dict) -> dict:
        return {"object": "page", "entry": [{"id": self.page_id, "time": int(time.time() * 1000),
                "messaging": [{"sender": {"id": psid}, "recipient": {"id": self.page_id},
                               "timestamp": int(time.time() * 1000), **event}]}]}

    def text_message(self, psid: str, text: str) -> dict:
        return self._delivery(psid, {"message": {"mid": f"m_in{secrets.token_hex(6)}",
                                                 "text": text}})

    def quick_reply(self, psid: str, title: str, payload: str) -> dict:
        return self._delivery(psid, {"message": {"mid": f"m_in{secrets.token_hex(6)}",
                                                 "text": title,
                                                 "quick_reply": {"payload": payload}}})

    def postback(self, psid: str, title: str, payload: str) -> dict:
        return self._delivery(psid, {"postback": {"mid": f"m_in{secrets.token_hex(6)}",
                                                  "title": title, "payload": payload}})

    def messages_to(self, psid: str) -> list[dict]:
        return [c.body for c in self.sent("messages") if c.body["recipient"]["id"] == psid]

    @staticmethod
    def shown(body: dict) -> str:
        message = body.get("message") or {}
        payload = (message.get("attachment") or {}).get("payload") or {}
        parts = [message.get("text") or "", payload.get("text") or ""]
        parts += [f"{e.get('title', '')} — {e.get('subtitle', '')}"
                  for e in payload.get("elements", [])]
        return "\n".join(p for p in parts if p)
