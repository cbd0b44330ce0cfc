"""The webhook every messaging channel of Aisle's serves (Telegram, WhatsApp, Messenger, Slack,
Twilio), built once: each channel says how its platform signs a request and what a signed
delivery means, and ``WebhookInput`` serves the rest the same way on every platform.

Under /webhooks/{name}/ (Rasa mounts the blueprint there, by the channel's ``name()``):

- GET / answers ``{"status": "ok"}``, or ``"not configured"`` for a channel without its
  platform's keys (it stays listed in credentials.yml and takes nothing).
- POST /webhook, in this order: 404 ``{"error": "{name} is not configured"}``; 413 for a body
  over ``body_limit`` where a channel sets one (Twilio, which signs parsed form fields);
  403 ``{"error": "forbidden"}`` when ``signed`` says no, logged, and nothing reaches Rasa;
  400 ``{"error": "expected {expects}"}`` for a body that is not a JSON object; then the
  channel's own ``delivered``.
- The platform's API session is closed when the server stops.

``MetaWebhookInput`` adds what Messenger and WhatsApp share, Meta's Graph API webhooks: the
GET /webhook verification handshake and ``X-Hub-Signature-256``.

The shopper's messages go to Rasa through ``pass_on`` (or ``answer_text_only`` for what the
bot cannot read), handled in the background in order per shopper (``Conversations``): the
webhook answers the platform at once.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, Optional

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from .messaging import (TEXT_ONLY, Conversations, Deliveries, PlatformAPI, json_body,
                        meta_signature_ok, same)

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class WebhookInput(InputChannel):
    """A platform's webhook: health, not configured, signature, malformed body, then the
    channel's ``delivered``. Subclasses set ``api`` (None: not configured) through
    ``__init__`` and implement ``signed`` and ``delivered`` (or ``handle``)."""

    refused = "request with a missing or wrong signature"  # the log line of a 403
    expects = "a JSON delivery"  # the 400 answer's "expected ..."
    body_limit: Optional[int] = None  # bytes; a larger body is refused (413) unsigned

    def __init__(self, api: Optional[PlatformAPI], deliveries: Optional[Deliveries] = None):
        self.api = api
        self.deliveries = deliveries or Deliveries.from_environment(self.name())
        self.conversations = Conversations()

    @property
    def configured(self) -> bool:
        return self.api is not None

    # --- what each channel says ----------------------------------------------------------

    def signed(self, request: Request) -> bool:  # pragma: no cover - each channel's own
        """Whether the request carries the platform's valid signature or secret."""
        raise NotImplementedError

    async def handle(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        """A signed request: its JSON object to ``delivered``, else 400."""
        delivery = json_body(request.body)
        if delivery is None:
            return response.json({"error": f"expected {self.expects}"}, status=400)
        return await self.delivered(delivery, on_new_message)

    async def delivered(self, delivery: Dict[str, Any],
                        on_new_message: OnNewMessage) -> HTTPResponse:  # pragma: no cover
        raise NotImplementedError

    def routes(self, hook: Blueprint) -> None:
        """More routes or listeners on the blueprint (the Meta handshake, Telegram's
        setWebhook)."""

    # --- to Rasa -------------------------------------------------------------------------

    def pass_on(self, sender: str, text: str, output: Optional[OutputChannel],
                metadata: Dict[str, Any], on_new_message: OnNewMessage) -> None:
        """The shopper's message to Rasa, after the ones they sent before it. The metadata
        names the channel: a new session starts before Rasa logs the message, and its
        session start records which channel the chat began on (bot/actions/session.py)."""
        metadata = {**metadata, "aisle_channel": self.name()}
        self.conversations.handle(sender, lambda: on_new_message(UserMessage(
            text, output, sender, input_channel=self.name(), metadata=metadata)))

    def answer_text_only(self, sender: str, output: Any) -> None:
        """A photo, a sticker or a voice note alone: the short "text only" answer."""
        self.conversations.handle(sender, lambda: output.send_text_message(sender, TEXT_ONLY))

    # --- the blueprint -------------------------------------------------------------------

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        # Named after the channel, in the channel's module (as each channel's own was).
        hook = Blueprint(f"aisle_{self.name()}_webhook", type(self).__module__)

        @hook.listener("after_server_stop")
        async def close_api(app, loop) -> None:  # noqa: ANN001 - Sanic's signature
            if self.api is not None:
                await self.api.close()

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.configured else "not configured"})

        self.routes(hook)

        @hook.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            if not self.configured:
                return self.not_configured()
            if self.body_limit is not None and len(request.body or b"") > self.body_limit:
                return response.json({"error": "too large"}, status=413)
            if not self.signed(request):
                logger.warning("%s: %s refused", self.name(), self.refused)
                return response.json({"error": "forbidden"}, status=403)
            return await self.handle(request, on_new_message)

        return hook

    def not_configured(self) -> HTTPResponse:
        return response.json({"error": f"{self.name()} is not configured"}, status=404)


class MetaWebhookInput(WebhookInput):
    """Meta's Graph API webhooks (Messenger, WhatsApp): the GET verification handshake with
    ``verify_token``, and ``X-Hub-Signature-256`` with ``app_secret`` on every POST."""

    refused = "delivery with a missing or wrong signature"
    app_secret: Optional[str] = None
    verify_token: Optional[str] = None

    def signed(self, request: Request) -> bool:
        return meta_signature_ok(self.app_secret or "", request.body or b"",
                                 request.headers.get("X-Hub-Signature-256"))

    def routes(self, hook: Blueprint) -> None:
        @hook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            """``hub.mode=subscribe`` with the verify token: answered ``hub.challenge``."""
            if not self.configured:
                return self.not_configured()
            if request.args.get("hub.mode") == "subscribe" and same(
                    self.verify_token or "", request.args.get("hub.verify_token")):
                return response.text(request.args.get("hub.challenge") or "")
            return response.json({"error": "forbidden"}, status=403)
