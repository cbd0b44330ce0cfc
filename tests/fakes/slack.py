"""A local stand-in for Slack's Web API (slack.com/api) and its Events API and
interactivity deliveries.

API: POST /{method} with ``Authorization: Bearer xoxb-...`` and a JSON body, answered as
Slack answers: always HTTP 200, ``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``
(``invalid_auth``, ``channel_not_found``, ``invalid_blocks``). ``conversations.open`` opens (or
finds) the direct message of a user: ``D`` + the user id; ``chat.postMessage`` posts to a
channel id. Shared channels exist too (``shared_channels``), so a test can tell a DM from a
shared channel.

Deliveries: ``deliver(webhook, body)`` signs as Slack does (``X-Slack-Signature: v0=`` HMAC-SHA256
of ``v0:{timestamp}:{body}``, ``X-Slack-Request-Timestamp``); ``message_event`` and
``button_tap`` build what Slack sends for a DM and for a tapped button.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.parse

from aiohttp import web

from fakes.platform import FakePlatform, as_json, post


class FakeSlack(FakePlatform):
    def __init__(self, token: str = "xoxb-test-token", signing_secret: str = "slack-signing"):
        super().__init__()
        self.token = token
        self.signing_secret = signing_secret
        self.shared_channels = {"C0SHOP"}

    @property
    def api_url(self) -> str:
        return self.url

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{method}", self._method)

    async def _method(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        body = await request.json()
        method = request.match_info["method"]
        if not self.record(method, body, request.headers):
            return web.json_response({"ok": False, "error": "fatal_error"}, status=500)
        if method == "conversations.open":
            return web.json_response({"ok": True, "channel": {"id": "D" + body["users"]}})
        if method == "chat.postMessage":
            channel = body.get("channel") or ""
            if not (channel.startswith("D") or channel in self.shared_channels):
                return web.json_response({"ok": False, "error": "channel_not_found"})
            for block in body.get("blocks") or []:
                for element in block.get("elements") or []:
                    if len(element["text"]["text"]) > 75 or len(element.get("value", "")) > 2000:
                        return web.json_response({"ok": False, "error": "invalid_blocks"})
            return web.json_response({"ok": True, "channel": channel, "ts": f"{time.time():.6f}",
                                      "message": {"text": body.get("text")}})
        return web.json_response({"ok": False, "error": "unknown_method"})

    # --- what Slack sends the app ---------------------------------------------------------

    def message_event(self, user: str, text: str, channel_type: str = "im") -> dict:
        return {"token": "legacy", "team_id": "T1", "type": "event_callback",
                "event_id": f"Ev{secrets.token_hex(6)}", "event_time": int(time.time()),
                "event": {"type": "message", "channel_type": channel_type, "user": user,
                          "text": text, "ts": f"{time.time():.6f}",
                          "channel": ("D" + user) if channel_type == "im" else "C0SHOP"}}

    def button_tap(self, user: str, value: str) -> bytes:
        payload = {"type": "block_actions", "user": {"id": user}, "team": {"id": "T1"},
                   "channel": {"id": "D" + user},
                   "actions": [{"action_id": "choice-0", "block_id": "b", "value": value,
                                "type": "button", "action_ts": f"{time.time():.6f}"}]}
        return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()

    def sign(self, raw: bytes, timestamp: int | None = None, secret: str | None = None
             ) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        digest = hmac.new((secret or self.signing_secret).encode(),
                          b"v0:" + stamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + digest}

    def deliver(self, webhook: str, body: dict | bytes, headers: dict | None = None
                ) -> tuple[int, bytes]:
        """POST an event (a dict, JSON) or an interaction (form bytes), signed unless
        ``headers`` say otherwise."""
        raw = body if isinstance(body, bytes) else as_json(body)
        kind = "application/x-www-form-urlencoded" if isinstance(body, bytes) \
            else "application/json"
        sent = {"Content-Type": kind, **self.sign(raw)}
        sent.update(headers or {})
        return post(webhook, raw, {k: v for k, v in sent.items() if v is not None})

    def posts(self) -> list[dict]:
        return [c.body for c in self.sent("chat.postMessage")]

    def messages_to(self, user: str) -> list[dict]:
        """What was posted in the user's direct message (``D`` + the user id)."""
        return [p for p in self.posts() if p.get("channel") == "D" + user]

    @staticmethod
    def shown(body: dict) -> str:
        texts = [body.get("text") or ""]
        texts += [block["text"]["text"] for block in body.get("blocks") or []
                  if block.get("type") == "section"]
        return "\n".join(dict.fromkeys(t for t in texts if t))
