"""The live streams, as server-sent events (text/event-stream over plain HTTP: the browser's
EventSource reconnects by itself and sends Last-Event-ID, and it passes through the proxy
like any response).

- ``GET /inbox/events``: every inbox change for a signed-in agent or admin (the staff
  cookie, or a staff bearer token for scripts; a merchant gets 403, a page of another
  site's origin too). It first says
  ``hello`` (who you are, the settings the page needs), then ``handoff`` (a queue row
  changed), ``message`` (a line of a conversation: the shopper, an agent, a note),
  ``typing``, ``canned`` (the canned replies changed) and ``resync`` (ask for the lists
  again: the stream could not tell what was missed). While open it records that the agent
  is online (presence.py), every BEAT_SECONDS.
- ``GET /chat/events?token=...``: for a shopper's chat page, what the agent does that is
  not a message (``typing``, ``agent`` joined or left), given the chat token of the
  conversation (its query value is masked in the access logs). It ends when the token
  expires; the page opens it again with its renewed token.

A comment line every KEEPALIVE_SECONDS keeps proxies from closing a quiet stream (nginx
reads for 60 s) and tells a stream whose page is gone that it is gone.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import jwt
from aiohttp import web

from ..app_keys import DB, SETTINGS
from ..auth import require_staff, unauthorized
from ..chat import tokens
from ..ratelimit import enforce
from ..staff.sessions import check_origin
from . import INBOX_APP_KEY, presence
from .hub import CLOSED, INBOX, Notice, chat_topic

KEEPALIVE_SECONDS = 15.0
HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store",
           "X-Accel-Buffering": "no",  # nginx: pass each event on at once
           "X-Content-Type-Options": "nosniff"}


def _event(kind: str, data: dict[str, Any], event_id: str = "") -> bytes:
    lines = [f"id: {event_id}"] if event_id else []
    lines += [f"event: {kind}", "data: " + json.dumps(data, separators=(",", ":"), default=str)]
    return ("\n".join(lines) + "\n\n").encode()


async def _open(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers=HEADERS)
    await response.prepare(request)
    await response.write(b"retry: 2000\n\n")  # reconnect after 2 s when the stream breaks
    return response


async def _next(listener, timeout: float):
    try:
        return await asyncio.wait_for(listener.queue.get(), timeout=timeout)
    except asyncio.TimeoutError:
        return None


# --- the inbox -------------------------------------------------------------------------------

async def inbox_events(request: web.Request) -> web.StreamResponse:
    # A page of another site may open an EventSource here (with credentials); the browser
    # would not let it read the answer, but the stream would still count its agent online:
    # refused before anything, like a change from another site.
    check_origin(request)
    member = await require_staff(request, "agent")
    inbox = request.app[INBOX_APP_KEY]
    settings = request.app[SETTINGS]
    await presence.beat(request.app[DB], member)
    response = await _open(request)
    listener = inbox.hub.listen(INBOX)
    last = request.headers.get("Last-Event-ID", "")[:64]
    # taken with the listener, no await between: no notice falls in a gap or comes twice
    missed = inbox.hub.missed_since(last) if last else None
    try:
        await response.write(_event("hello", {
            "agent": member.shown_name, "agent_id": member.id, "role": member.role,
            "targets": {"amber": settings.support_wait_amber_seconds,
                        "red": settings.support_wait_red_seconds},
            "grace_seconds": settings.support_claim_grace_seconds,
            "live_messages": inbox.watch is not None, "resumed": missed is not None}))
        if last and missed is None:
            await response.write(_event("resync", {}))
        for notice in missed or ():
            await response.write(_event(notice.kind, notice.data, notice.id))
        await _pump(request, response, listener, member)
    except ConnectionError:  # the page went away
        pass
    finally:
        inbox.hub.forget(listener)
    return response


async def _pump(request: web.Request, response: web.StreamResponse, listener,
                member) -> None:
    beaten = time.monotonic()
    while True:
        item = await _next(listener, KEEPALIVE_SECONDS)
        if item is CLOSED or listener.overflowed:
            return
        if item is None:
            await response.write(b": keep-alive\n\n")
        else:
            await response.write(_event(item.kind, item.data, item.id))
        if time.monotonic() - beaten >= presence.BEAT_SECONDS:
            await presence.beat(request.app[DB], member)
            beaten = time.monotonic()


# --- a shopper's chat page -------------------------------------------------------------------

def chat_conversation(secret: str, token: str | None, now: float) -> tuple[str, float] | None:
    """(conversation, expiry) of a valid, unexpired chat token signed by this shop; None for
    anything else. The same checks as Rasa's socket (bot/channels/socketio.py)."""
    if not secret or not token or len(token) > tokens.MAX_TOKEN_LENGTH:
        return None
    try:
        claims = jwt.decode(token, secret, algorithms=[tokens.ALGORITHM],
                            audience=tokens.AUDIENCE, issuer=tokens.ISSUER,
                            options={"require": ["sub", "exp", "iat", "aud", "iss"]})
    except jwt.PyJWTError:
        return None
    conversation = claims.get("sub")
    if not isinstance(conversation, str) or not tokens.CONVERSATION_ID.match(conversation):
        return None
    if claims["iat"] > now + 60:
        return None
    return conversation, float(claims["exp"])


def require_chat_token(request: web.Request, token: str | None) -> str:
    found = chat_conversation(request.app[SETTINGS].chat_token_secret, token, time.time())
    if found is None:
        raise unauthorized("This needs the chat token of the conversation (from "
                           "POST /api/chat/sessions), valid and not expired.", "chat")
    return found[0]


async def chat_events(request: web.Request) -> web.StreamResponse:
    await enforce(request, "chat-stream")
    found = chat_conversation(request.app[SETTINGS].chat_token_secret,
                              request.query.get("token"), time.time())
    if found is None:
        raise unauthorized("This needs the chat token of the conversation (from "
                           "POST /api/chat/sessions), valid and not expired.", "chat")
    conversation, expires = found
    inbox = request.app[INBOX_APP_KEY]
    response = await _open(request)
    listener = inbox.hub.listen(chat_topic(conversation))
    try:
        while time.time() < expires:
            item = await _next(listener, min(KEEPALIVE_SECONDS, max(1.0, expires - time.time())))
            if item is CLOSED or listener.overflowed:
                break
            if isinstance(item, Notice):
                await response.write(_event(item.kind, item.data))
            else:
                await response.write(b": keep-alive\n\n")
    except ConnectionError:
        pass
    finally:
        inbox.hub.forget(listener)
    return response


def register_streams(app: web.Application) -> None:
    app.router.add_get("/inbox/events", inbox_events)
    app.router.add_get("/chat/events", chat_events)

