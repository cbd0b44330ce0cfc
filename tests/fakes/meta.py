"""What the fakes of Meta's two messaging APIs share (Messenger's Send API and the WhatsApp
Cloud API, both on graph.facebook.com): Graph API error answers, the app secret that signs
webhook deliveries (``X-Hub-Signature-256: sha256=`` HMAC-SHA256 of the raw body), the GET
verification handshake, and the shoppers whose 24-hour window is closed.

messenger.py and whatsapp.py add their routes, what each API refuses, and the webhook bodies.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import urllib.parse

from aiohttp import web

from fakes.platform import FakePlatform, as_json, get, post


class FakeMetaGraph(FakePlatform):
    """Base of the Graph API fakes: ``signature``, ``deliver``, ``verify``, ``_error``."""

    challenge = "1158201444"  # what ``verify`` asks Meta's handshake to echo by default

    def __init__(self, app_secret: str, verify_token: str):
        super().__init__()
        self.app_secret = app_secret
        self.verify_token = verify_token
        self.window_closed_for: set[str] = set()  # free-form messages to them are refused
        self._ids = itertools.count(1)

    @property
    def api_url(self) -> str:
        return self.url

    @staticmethod
    def _error(status: int, code: int, message: str) -> web.Response:
        """A Graph API error answer."""
        return web.json_response({"error": {"message": message, "type": "OAuthException",
                                            "code": code, "fbtrace_id": "fake"}}, status=status)

    def signature(self, raw: bytes, secret: str | None = None) -> str:
        key = (secret or self.app_secret).encode()
        return "sha256=" + hmac.new(key, raw, hashlib.sha256).hexdigest()

    def deliver(self, webhook: str, body: dict, signature: str | None = "",
                headers: dict | None = None) -> tuple[int, bytes]:
        """POST ``body`` signed ("" = correctly, None = no header, else that header)."""
        raw = as_json(body)
        sent = {"Content-Type": "application/json", **(headers or {})}
        if signature is not None:
            sent["X-Hub-Signature-256"] = signature or self.signature(raw)
        return post(webhook, raw, sent)

    def verify(self, webhook: str, token: str, challenge: str | None = None
               ) -> tuple[int, bytes]:
        """Meta's GET handshake with ``token`` as the verify token."""
        query = urllib.parse.urlencode({"hub.mode": "subscribe", "hub.verify_token": token,
                                        "hub.challenge": challenge or self.challenge})
        return get(f"{webhook}?{query}")
