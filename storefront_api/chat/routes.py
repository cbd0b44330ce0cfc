"""POST /api/chat/sessions: the web chat's token for its socket.

Who calls it: any browser (public, no credential), limited per client by the ``chat-token``
rate limit. What it gives: a conversation id this server chose and a token signed for it
(tokens.py), or, given a previous token of ours, a fresh token for the same conversation.
Nothing here reads or changes a conversation; the token only lets Rasa's socketio channel
accept the socket for that conversation (bot/channels/socketio.py).
"""

from __future__ import annotations

import time

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ..app_keys import SETTINGS
from ..auth import unauthorized
from ..problems import Problem
from ..ratelimit import client_key, enforce
from ..routing import ApiRoutes, json_response
from . import tokens

routes = ApiRoutes("chat")


class ChatSessionInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str | None = Field(None, max_length=tokens.MAX_TOKEN_LENGTH,
                              description="the previous token, to keep its conversation")


class ChatSession(BaseModel):
    conversation_id: str = Field(description="Rasa's sender id for this browser")
    token: str = Field(description="sent in the Socket.IO connect packet: {\"token\": ...}")
    expires_at: int = Field(description="unix seconds; renew before then")


@routes.post("/api/chat/sessions", summary="A token for the web chat's socket",
             body=ChatSessionInput, response=ChatSession, status=201,
             errors=(400, 401, 422, 429, 503))
async def chat_session(request: web.Request, body: ChatSessionInput) -> web.Response:
    """Without a token: a new conversation. With a token this shop signed, expired at most
    30 days ago: a fresh token for the same conversation. Either way a new token (201). Any
    other token: 401, and the page asks again without one."""
    await enforce(request, "chat-token")
    settings = request.app[SETTINGS]
    if not settings.chat_token_secret:
        raise Problem(503, "Service unavailable", "The web chat is not configured: set "
                      "CHAT_JWT_SECRET (the same value as Rasa's socketio jwt_key).",
                      type="chat-not-configured")
    now = time.time()
    conversation_id = tokens.new_conversation_id()
    if body.token is not None:
        conversation_id = tokens.renewable_conversation(settings.chat_token_secret,
                                                        body.token, now)
        if conversation_id is None:
            raise unauthorized("This chat token was not signed by this shop or is too old "
                               "to renew: ask again without it for a new conversation.",
                               "chat")
    # the browser's client, as the limits count it: every conversation it starts is one
    # shopper for the shop's limits and stock holds (the socket passes it to the actions)
    client = tokens.client_of(settings.secret_key, client_key(request, settings))
    issued = tokens.issue(settings.chat_token_secret, conversation_id,
                          settings.chat_token_hours, now, client=client)
    return json_response({"conversation_id": issued.conversation_id, "token": issued.token,
                          "expires_at": issued.expires_at}, status=201,
                         headers={"Cache-Control": "no-store"})
