"""The inbox's HTTP routes.

Agents (role agent or admin; a browser's unsafe calls also need the CSRF token):
- ``GET /api/admin/support/inbox``: the open conversations and the latest resolved ones,
  the agents (who is online), the settings the page needs;
- ``GET /api/admin/support/inbox/{id}``: one conversation with everything beside it;
- ``POST .../handoffs/{id}/transfer``, ``/unclaim``, ``/resolve``, ``/notes``, ``/typing``
  (claim, write and hand back are the support routes'); ``GET /api/admin/support/agents``;
  ``POST /api/admin/support/presence``;
- canned replies: read by agents, written by admins.

The bot (the service credential): ``GET /api/support/availability`` (is someone there to
take a conversation, and if not, when) and ``POST /api/support/handoffs/rating`` (the
shopper's 1-5 answer). The chat page (its chat token in the body): ``POST /api/chat/typing``.
"""

from __future__ import annotations

import time
from datetime import timezone
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from .. import responses
from ..app_keys import DB, SETTINGS
from ..auth import StaffMember
from ..db import utcnow
from ..problems import Problem, conflict
from ..ratelimit import enforce
from ..routing import ApiRoutes, int_param, json_response
from ..staff.models import StaffUser
from ..support import handoffs
from ..support.models import CannedReply, Handoff, HandoffNote
from ..support.routes import _rasa, end_handoff, signed_in_agent
from . import INBOX_APP_KEY, documents, notify, presence
from .streams import require_chat_token

routes = ApiRoutes("support inbox")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80,
                                        pattern=r"^[^\x00-\x1f\x7f]+$")]
Shortcut = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40,
                                            pattern=r"^[a-z0-9][a-z0-9_-]*$")]
MAX_OPEN = 500


class NoInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InboxQuery(BaseModel):
    resolved: int = Field(50, ge=0, le=200, description="how many resolved ones to list")


class TransferInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: StrictInt = Field(ge=1, le=2**31 - 1,
                                description="the staff account to give it to")


class NoteInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text


class TypingInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    typing: StrictBool = True


class CannedReplyInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shortcut: Shortcut = Field(description="typed as /shortcut in the reply box")
    title: Line
    text: Text = Field(description="placeholders: {first_name}, {order_number}, "
                                   "{agent_name}, {shop_name}, {reference}; a fallback after "
                                   "a bar: {first_name|there}")


class RatingInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conversation_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    csat: StrictInt = Field(ge=1, le=5, description="1 (bad) to 5 (very good)")


class ChatTypingInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(max_length=2048, description="the page's chat token")
    typing: StrictBool = True


# --- the inbox -------------------------------------------------------------------------------

def _inbox(request: web.Request):
    return request.app[INBOX_APP_KEY]


async def _rows(session, handoff_list: list[Handoff], request: web.Request) -> list[dict]:
    settings = request.app[SETTINGS]
    times = await documents.shopper_times(_inbox(request).tracker, handoff_list)
    rows, position = [], 0
    for handoff in handoff_list:
        if handoff.status == "waiting":
            position += 1
        rows.append(await documents.queue_row(
            session, handoff, settings, position=position if handoff.status == "waiting"
            else None, shopper_times=times.get(handoff.conversation_id, [])))
    return rows


async def _agents(request: web.Request) -> list[dict]:
    online = await presence.online_ids(request.app[DB])
    async with request.app[DB].read() as session:
        users = (await session.scalars(
            select(StaffUser).where(StaffUser.role.in_(("agent", "admin")),
                                    StaffUser.disabled_at.is_(None))
            .order_by(StaffUser.name, StaffUser.id))).all()
    return [{"id": user.id, "name": user.name or user.email, "role": user.role,
             "online": user.id in online} for user in users]


@routes.get("/api/admin/support/inbox", summary="The inbox: open and resolved conversations",
            query=InboxQuery, auth="agent", errors=(401, 403, 422), response=responses.Inbox)
async def inbox_queue(request: web.Request, query: InboxQuery) -> web.Response:
    """Open handoffs in queue order (waiting ones numbered) and the latest resolved ones,
    each with its reason, channel, waiting times, cart value and verified orders; the agents
    and who is online. The live stream (/inbox/events) says what changes after."""
    member = await signed_in_agent(request)
    settings = request.app[SETTINGS]
    async with request.app[DB].read() as session:
        opened = (await session.scalars(
            select(Handoff).where(Handoff.status.in_(handoffs.OPEN_STATUSES))
            .options(selectinload(Handoff.messages))
            .order_by(Handoff.created_at, Handoff.id).limit(MAX_OPEN))).all()
        closed = (await session.scalars(
            select(Handoff).where(Handoff.status == "closed")
            .options(selectinload(Handoff.messages))
            .order_by(Handoff.closed_at.desc(), Handoff.id.desc())
            .limit(query.resolved))).all()
        open_rows = await _rows(session, list(opened), request)
        closed_rows = await _rows(session, list(closed), request)
    hours = settings.support_hours
    return json_response({
        "me": {"id": member.id, "name": member.shown_name, "role": member.role},
        "targets": {"amber": settings.support_wait_amber_seconds,
                    "red": settings.support_wait_red_seconds},
        "support_hours": {"text": hours.text, "open_now": hours.is_open(utcnow()),
                          "back_text": hours.back_text(utcnow())},
        "live_messages": _inbox(request).watch is not None,
        "handoffs": open_rows, "resolved": closed_rows, "agents": await _agents(request)})


@routes.get("/api/admin/support/inbox/{id}", summary="One conversation, for the inbox",
            auth="agent", errors=(401, 403, 404), response=responses.InboxConversation)
async def inbox_conversation(request: web.Request) -> web.Response:
    """The transcript (the shopper's and the bot's turns from Rasa's tracker store, the
    agents' replies with their delivery, internal notes, and what the shopper did: searches,
    cart changes, payment links, orders), the cart and the orders beside it (only those the
    bot verified or placed in this conversation), the latest checkout (its payment link),
    and the canned replies filled in for this shopper."""
    handoff_id = int_param(request, "id", "handoff")
    member = await signed_in_agent(request)
    settings = request.app[SETTINGS]
    async with request.app[DB].read() as session:
        handoff = await handoffs.find_handoff(session, handoff_id)
        [row] = await _rows(session, [handoff], request)
        if handoff.status == "waiting":
            row["position"] = await handoffs.position_of(session, handoff)
        cart = await handoffs.cart_of(session, handoff, settings)
        orders = await handoffs.orders_of(session, handoff)
        checkout = await documents.latest_checkout(session, handoff.conversation_id)
        notes = await documents.notes_of(session, handoff.id)
        activity = await documents.activity(session, handoff.conversation_id)
        names = await documents.shipping_names(session, [o["number"] for o in orders])
        canned = (await session.scalars(select(CannedReply)
                                        .order_by(CannedReply.shortcut))).all()
    said, live = await documents.transcript(
        _inbox(request).tracker, handoff, lambda: _rasa_messages(request, handoff))
    values = documents.placeholders(handoff, orders=orders, checkout=checkout,
                                    agent=member.shown_name, settings=settings, names=names)
    return json_response(row | {
        "cart_token": cart["token"] if cart else handoff.cart_token, "cart": cart,
        "order_details": orders, "checkout": checkout,
        "transcript": documents.merge(said, [documents.agent_item(m) for m in handoff.messages],
                                      [documents.note_document(n) for n in notes], activity),
        "live": live, "placeholders": values,
        "canned_replies": [canned_document(reply) | {"filled": documents.fill(reply.text, values)}
                           for reply in canned]})


async def _rasa_messages(request: web.Request, handoff: Handoff):
    from ..support.conversations import RasaUnavailable
    try:
        shopper = await _rasa(request, handoff.conversation_id).shopper_messages(
            handoff.created_at, handoff.closed_at)
        return shopper, {"available": True, "source": "rasa-api"}
    except RasaUnavailable as error:
        return [], {"available": False, "detail": error.detail}


# --- what an agent does with a conversation ------------------------------------------------

async def _change(request: web.Request, change) -> web.Response:
    """Lock the handoff, apply ``change(session, handoff, member)``, answer its row, tell
    the inboxes."""
    member = await signed_in_agent(request)
    async with request.app[DB].write() as session:
        handoff = await handoffs.find_handoff(session, int_param(request, "id", "handoff"),
                                              for_update=True)
        await change(session, handoff, member)
        document = handoffs.summary_document(handoff, None)
    await notify.handoff_changed(request.app, handoff.id)
    return json_response(document)


@routes.post("/api/admin/support/handoffs/{id}/transfer", summary="Give it to another agent",
             body=TransferInput, auth="agent", errors=(400, 401, 403, 404, 409, 413, 422),
             response=responses.Handoff)
async def transfer_handoff(request: web.Request, body: TransferInput) -> web.Response:
    """By the agent holding it (or an admin; a waiting one is assigned): the other agent
    (role agent or admin, not disabled) holds it now."""
    async with request.app[DB].read() as session:
        target = await session.get(StaffUser, body.agent_id)
    if target is None or target.role not in ("agent", "admin") or target.disabled_at:
        raise Problem(422, "Invalid request", f"No agent with id {body.agent_id}.",
                      type="validation-error",
                      errors=[{"field": "agent_id", "message": "not an active agent"}])

    async def change(session, handoff, member: StaffMember):
        await handoffs.transfer(session, handoff, to_agent=target.name or target.email,
                                to_agent_id=target.id, by=member.shown_name, by_id=member.id,
                                by_admin=member.role == "admin")

    return await _change(request, change)


@routes.post("/api/admin/support/handoffs/{id}/unclaim", summary="Put it back in the queue",
             body=NoInput, auth="agent", errors=(400, 401, 403, 404, 409, 413, 422),
             response=responses.Handoff)
async def unclaim_handoff(request: web.Request, body: NoInput) -> web.Response:
    """Back to waiting, in its place (by when the shopper asked); by the agent holding it or
    an admin."""
    async def change(session, handoff, member: StaffMember):
        await handoffs.unclaim(session, handoff, by=member.shown_name, by_id=member.id,
                               by_admin=member.role == "admin")

    return await _change(request, change)


@routes.post("/api/admin/support/handoffs/{id}/resolve",
             summary="Resolve: the bot takes over and asks for a rating", body=NoInput,
             auth="agent", errors=(400, 401, 403, 404, 409, 413, 422, 502, 503),
             response=responses.Handoff)
async def resolve_handoff(request: web.Request, body: NoInput) -> web.Response:
    """Like handing back (the bot resumes), but the bot asks the shopper to rate the help
    from 1 to 5 (``action_ask_csat``); the answer is recorded on this handoff. If Rasa cannot
    be reached the handoff stays open (502/503)."""
    return json_response(await end_handoff(request, int_param(request, "id", "handoff"),
                                           outcome="resolved", resolution="resolved"))


@routes.post("/api/admin/support/handoffs/{id}/notes", summary="An internal note",
             body=NoteInput, status=201, auth="agent",
             errors=(400, 401, 403, 404, 413, 422), response=responses.HandoffNote)
async def add_handoff_note(request: web.Request, body: NoteInput) -> web.Response:
    """For the team only: any agent may add one, the shopper never sees it (nothing goes to
    Rasa)."""
    member = await signed_in_agent(request)
    async with request.app[DB].write() as session:
        handoff = await handoffs.find_handoff(session, int_param(request, "id", "handoff"))
        note = HandoffNote(handoff_id=handoff.id, author=member.shown_name[:80],
                           author_id=member.id, text=body.text, created_at=utcnow())
        session.add(note)
        await session.flush()
        document = documents.note_document(note)
    await notify.item_added(request.app, handoff, document)
    return json_response(document, status=201)


@routes.post("/api/admin/support/handoffs/{id}/typing", summary="The agent is typing",
             body=TypingInput, status=204, auth="agent",
             errors=(400, 401, 403, 404, 409, 413, 422))
async def agent_typing(request: web.Request, body: TypingInput) -> web.Response:
    """Shown in the shopper's web chat (and to the other agents); only the agent holding the
    conversation. Nothing is recorded: keystrokes are not conversation events."""
    member = await signed_in_agent(request)
    async with request.app[DB].read() as session:
        handoff = await handoffs.find_handoff(session, int_param(request, "id", "handoff"))
    if handoff.status != "active" or not handoffs.same_agent(handoff, member.shown_name,
                                                             member.id):
        raise conflict("Only the agent holding the conversation types in it.",
                       type="handoff-not-yours")
    await notify.to_shopper(request.app, handoff.conversation_id, "typing",
                            {"typing": body.typing, "agent": member.shown_name})
    await notify.to_inbox(request.app, "typing", {
        "handoff_id": handoff.id, "who": "agent", "agent": member.shown_name,
        "typing": body.typing})
    return web.Response(status=204)


@routes.get("/api/admin/support/agents", summary="Agents, and who is online", auth="agent",
            errors=(401, 403), response=responses.InboxAgents)
async def list_agents(request: web.Request) -> web.Response:
    return json_response({"agents": await _agents(request)})


@routes.post("/api/admin/support/presence", summary="I am here", body=NoInput,
             auth="agent", errors=(400, 401, 403, 413, 422), response=responses.Presence)
async def agent_presence(request: web.Request, body: NoInput) -> web.Response:
    """Counts the caller as online for a while (an open inbox does this by itself); the
    agents online now."""
    await presence.beat(request.app[DB], await signed_in_agent(request))
    return json_response({"online": [
        {"agent": row.agent, "agent_id": row.agent_id,
         "last_seen_at": row.last_seen_at.isoformat() + "Z"}
        for row in await presence.online(request.app[DB])]})


@routes.delete("/api/admin/support/presence", summary="I am leaving", status=204,
               auth="agent", errors=(401, 403))
async def agent_leaves(request: web.Request) -> web.Response:
    """Offline from now (the inbox's sign-out does it): no new conversation is offered
    because of this agent; their claims still wait the grace period."""
    await presence.leave(request.app[DB], await signed_in_agent(request))
    return web.Response(status=204)


# --- canned replies --------------------------------------------------------------------------

def canned_document(reply: CannedReply) -> dict:
    return {"id": reply.id, "shortcut": reply.shortcut, "title": reply.title,
            "text": reply.text, "updated_by": reply.updated_by,
            "updated_at": reply.updated_at.isoformat() + "Z"}


def _not_found(reply_id) -> Problem:
    return Problem(404, "Not found", f"No canned reply with id {reply_id!r}.",
                   type="not-found")


@routes.get("/api/admin/support/canned-replies", summary="Canned replies", auth="agent",
            errors=(401, 403), response=responses.CannedReplies)
async def list_canned_replies(request: web.Request) -> web.Response:
    async with request.app[DB].read() as session:
        replies = (await session.scalars(select(CannedReply)
                                         .order_by(CannedReply.shortcut))).all()
    return json_response({"canned_replies": [canned_document(r) for r in replies]})


async def _save_canned(request: web.Request, body: CannedReplyInput,
                       reply_id: int | None) -> dict:
    member = await signed_in_agent(request)
    try:
        async with request.app[DB].write() as session:
            reply = CannedReply() if reply_id is None else await session.get(CannedReply,
                                                                              reply_id)
            if reply is None:
                raise _not_found(reply_id)
            reply.shortcut, reply.title, reply.text = body.shortcut, body.title, body.text
            reply.updated_by, reply.updated_at = member.shown_name[:80], utcnow()
            session.add(reply)
            await session.flush()
            document = canned_document(reply)
    except IntegrityError:
        raise conflict(f"Another canned reply is already /{body.shortcut}.",
                       type="shortcut-taken") from None
    await notify.to_inbox(request.app, "canned", {"canned_reply": document})
    return document


@routes.post("/api/admin/support/canned-replies", summary="A new canned reply",
             body=CannedReplyInput, status=201, auth="admin",
             errors=(400, 401, 403, 409, 413, 422), response=responses.CannedReply)
async def add_canned_reply(request: web.Request, body: CannedReplyInput) -> web.Response:
    return json_response(await _save_canned(request, body, None), status=201)


@routes.put("/api/admin/support/canned-replies/{id}", summary="Change a canned reply",
            body=CannedReplyInput, auth="admin", errors=(400, 401, 403, 404, 409, 413, 422),
            response=responses.CannedReply)
async def change_canned_reply(request: web.Request, body: CannedReplyInput) -> web.Response:
    return json_response(await _save_canned(
        request, body, int_param(request, "id", "canned reply")))


@routes.delete("/api/admin/support/canned-replies/{id}", summary="Delete a canned reply",
               status=204, auth="admin", errors=(400, 401, 403, 404, 413))
async def delete_canned_reply(request: web.Request) -> web.Response:
    reply_id = int_param(request, "id", "canned reply")
    async with request.app[DB].write() as session:
        reply = await session.get(CannedReply, reply_id)
        if reply is None:
            raise _not_found(reply_id)
        await session.delete(reply)
    await notify.to_inbox(request.app, "canned", {"deleted": reply_id})
    return web.Response(status=204)


# --- the bot's questions -----------------------------------------------------------------------

@routes.get("/api/support/availability", summary="Can a person take a conversation now?",
            auth="service", errors=(401,), response=responses.SupportAvailability)
async def support_availability(request: web.Request) -> web.Response:
    """Asked by the bot before it hands a conversation over: available when the team is
    open (SUPPORT_HOURS) and at least one agent has the inbox open. If not, the bot tells
    the shopper when the team is back and offers to take an e-mail (a ticket) instead."""
    hours, now = request.app[SETTINGS].support_hours, utcnow()
    agents_online = len(await presence.online(request.app[DB], now))
    opening = hours.next_opening(now)
    open_now = hours.is_open(now)
    return json_response({
        "available": open_now and agents_online > 0, "open_now": open_now,
        "agents_online": agents_online,
        "back_at": (opening.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"
                    if opening else None),
        "back_text": hours.back_text(now), "support_hours": hours.text})


@routes.post("/api/support/handoffs/rating", summary="The shopper's rating of the help",
             body=RatingInput, auth="service", errors=(400, 401, 404, 409, 413, 422),
             response=responses.HandoffRating)
async def rate_handoff(request: web.Request, body: RatingInput) -> web.Response:
    """The answer to the question a resolved handoff asked (1 to 5), recorded once on that
    handoff with a ``handoff_rated`` event; 404 if the conversation was never asked, 409 if
    it already answered."""
    async with request.app[DB].write() as session:
        handoff = await handoffs.rate(session, body.conversation_id, body.csat)
        document = {"reference": handoff.reference, "csat": handoff.csat,
                    "agent": handoff.agent}
        handoff_id = handoff.id
    await notify.handoff_changed(request.app, handoff_id)
    return json_response(document)


# --- the shopper's chat page ---------------------------------------------------------------

@routes.post("/api/chat/typing", summary="The shopper is typing (web chat)",
             body=ChatTypingInput, status=204, errors=(400, 401, 413, 422, 429))
async def shopper_typing(request: web.Request, body: ChatTypingInput) -> web.Response:
    """The chat page says so while a person holds its conversation; the token it got from
    POST /api/chat/sessions is the credential (401 otherwise). Shown in the inbox, never
    recorded. The same 204 whether or not anyone holds the conversation."""
    await enforce(request, "chat-typing")
    conversation_id = require_chat_token(request, body.token)
    async with request.app[DB].read() as session:
        handoff = await handoffs.open_handoff_of(session, conversation_id)
    if handoff is not None:
        await notify.to_inbox(request.app, "typing", {
            "handoff_id": handoff.id, "who": "shopper", "typing": body.typing,
            "at": time.time()})
    return web.Response(status=204)
