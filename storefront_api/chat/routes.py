"""POST /api/chat/sessions: the web chat's token for its socket; POST /api/chat/cart: how
many items the conversation's cart holds (the counter in the chat's header).

Who calls them: any browser (public), limited per client by the ``chat-token`` and
``chat-cart`` rate limits. /api/chat/sessions gives a conversation id this server chose and a
token signed for it (tokens.py), or, given a previous token of ours, a fresh token for the
same conversation; the token only lets Rasa's socketio channel accept the socket for that
conversation (bot/channels/socketio.py). /api/chat/cart needs that token (401 without it)
and reads only the count of the cart the bot filled in that conversation;
/api/chat/cart/open (the same token) gives the page beside the chat that conversation's cart,
so page and assistant fill one cart.
"""

from __future__ import annotations

import time

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ..app_keys import DB, SETTINGS
from ..auth import unauthorized
from ..cart import service as cart_service
from ..events.service import EventContext
from ..inbox.streams import require_chat_token
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


class ChatCartInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(max_length=tokens.MAX_TOKEN_LENGTH, description="the page's chat token")


class ChatCart(BaseModel):
    items: int = Field(description="units in the conversation's cart (saved for later excluded)")


@routes.post("/api/chat/cart", summary="How many items the chat's cart holds",
             body=ChatCartInput, response=ChatCart, errors=(400, 401, 413, 422, 429))
async def chat_cart(request: web.Request, body: ChatCartInput) -> web.Response:
    """The count the chat shows in its header: units in the newest active cart of the
    token's conversation, 0 when it has none. The chat token is the credential."""
    await enforce(request, "chat-cart")
    conversation_id = require_chat_token(request, body.token)
    async with request.app[DB].read() as session:
        items = await conversation_cart_items(session, conversation_id)
    return json_response({"items": items}, headers={"Cache-Control": "no-store"})


async def conversation_cart_items(session, conversation_id: str) -> int:
    cart = await cart_service.conversation_cart(session, conversation_id)
    return 0 if cart is None else sum(line.quantity for line in cart.lines
                                      if not line.saved_for_later)


class OpenedCart(BaseModel):
    token: str = Field(description="the cart's token, for the /api/carts/{token} routes")


@routes.post("/api/chat/cart/open", summary="The chat's cart, for the shop page beside it",
             body=ChatCartInput, response=OpenedCart, errors=(400, 401, 413, 422, 429))
async def open_chat_cart(request: web.Request, body: ChatCartInput) -> web.Response:
    """The shop page and the chat share one cart: the conversation's open cart (the one the
    assistant fills), made now if it has none. The chat token is the credential; the answer
    is that cart's token, which the page then uses like any cart token."""
    await enforce(request, "cart")
    conversation_id = require_chat_token(request, body.token)
    async with request.app[DB].write() as session:
        cart = await cart_service.conversation_cart(session, conversation_id) \
            or await cart_service.create_cart(
                session, request.app[SETTINGS],
                EventContext(conversation_id=conversation_id,
                             channel=cart_service.PAGE_CHANNEL))
        token = cart.token
    return json_response({"token": token}, headers={"Cache-Control": "no-store"})
