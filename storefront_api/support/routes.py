"""Support HTTP routes: a complaint or question about an order (opened like the order
lookup, with its e-mail or token), one without an order, the merchant's ticket list, and the
handoff queue (the bot asks for a person; agents claim, answer and hand back)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timezone
from typing import Annotated, Literal

from aiohttp import web
from sqlalchemy.exc import IntegrityError
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, StrictBool,
                      StringConstraints, WithJsonSchema, field_validator)

from ..aftersales.routes import OrderProof, count_order_lookup
from ..app_keys import DB, SETTINGS
from ..auth import StaffMember, current_staff
from ..events.service import EventContext
from ..orders import service as orders
from ..problems import Problem
from ..ratelimit import enforce
from .. import responses
from ..routing import ApiRoutes, int_param, json_response
from ..values import Email, is_valid_email, iso, normalise_email
from . import handoffs, service
from .conversations import RasaConversation, RasaUnavailable
from .models import HandoffMessage
from ..inbox import notify

routes = ApiRoutes("support")

Kind = Literal["complaint", "question"]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Message = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


class OrderTicketInput(OrderProof):
    kind: Kind
    subject: Subject = ""
    message: Message


class TicketInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email = Field(max_length=320, description="where the shop answers")
    kind: Kind
    subject: Subject = ""
    message: Message
    order_number: str | None = Field(None, min_length=1, max_length=32,
                                     description="must be an order of this e-mail")


class TicketsQuery(BaseModel):
    status: Literal["open", "answered", "closed"] | None = None
    kind: Kind | None = None
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=10**6)


def _recipient(email: str, proof: OrderProof | None, order_number: str | None) -> str:
    """Whom the acknowledgement will go to, as the per-recipient limit counts it: the
    address given, or for an order opened with its token, that order's address."""
    if proof is not None and not (proof.email or "").strip():
        return f"recipient:order:{(order_number or '').upper()[:32]}"
    return "recipient:" + normalise_email(proof.email if proof else email)[:320]


async def _open(request: web.Request, *, body, email: str, order_number: str | None,
                proof: OrderProof | None = None) -> web.Response:
    # Each ticket mails an acknowledgement: limited per sender and per recipient, so the
    # shop cannot be made to write to a stranger's inbox over and over.
    await enforce(request, "ticket")
    await enforce(request, "ticket-recipient", key=_recipient(email, proof, order_number))
    ctx = EventContext.from_request(request)
    secret_key = request.app[SETTINGS].secret_key
    if order_number is not None:
        await count_order_lookup(request)
    async with request.app[DB].write() as session:
        order = None
        if order_number is not None:
            order = await orders.order_for_shopper(
                session, order_number, email=proof.email if proof else email,
                token=proof.token if proof else None, secret_key=secret_key)
            email = order.email
        ticket = await service.open_ticket(session, kind=body.kind, email=email,
                                           subject=body.subject, message=body.message,
                                           order=order, ctx=ctx)
        document = service.ticket_document(ticket, order.number if order else None)
    return json_response(document, status=201)


@routes.post("/api/orders/{number}/tickets", summary="A complaint or question about an order",
             body=OrderTicketInput, status=201, errors=(400, 404, 422, 429),
             response=responses.Ticket)
async def open_order_ticket(request: web.Request, body: OrderTicketInput) -> web.Response:
    """Answers with the ticket's reference (T-XXXXXX). X-Conversation-Id and X-Channel are
    kept on the ticket so that an agent can answer in the chat."""
    return await _open(request, body=body, email="", proof=body,
                       order_number=request.match_info["number"])


@routes.post("/api/support/tickets", summary="A complaint or question, with or without an order",
             body=TicketInput, status=201, errors=(400, 404, 422, 429),
             response=responses.Ticket)
async def open_ticket(request: web.Request, body: TicketInput) -> web.Response:
    """With ``order_number``, the order must belong to ``email`` (otherwise the same 404 as
    the order lookup). ``email`` gets an acknowledgement with the reference only, never the
    message; tickets are limited per sender ("ticket") and per recipient
    ("ticket-recipient")."""
    return await _open(request, body=body, email=body.email, order_number=body.order_number)


@routes.get("/api/admin/support/tickets", summary="Support tickets, newest first",
            query=TicketsQuery, auth="agent", errors=(401, 422),
            response=responses.Tickets)
async def list_tickets(request: web.Request, query: TicketsQuery) -> web.Response:
    async with request.app[DB].read() as session:
        documents = await service.merchant_tickets(session, status=query.status, kind=query.kind,
                                                   limit=query.limit, offset=query.offset)
    return json_response({"tickets": documents})


# --- handoffs: the bot asks for a person; agents take the conversation ---------------------

TOKEN = r"^[A-Za-z0-9_-]{20,64}$"  # a cart token, as carts are addressed
ORDER_NUMBER = r"^[A-Za-z]{2}-\d{5}$"
Printable = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             pattern=r"^[^\x00-\x1f\x7f]+$")]


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?"
                      r"([Zz]|[+-]\d{2}:\d{2})")


def _moment(value):
    """Unix seconds, or an RFC 3339 date and time: what the document says, nothing looser
    (pydantic alone would also take "123" or a bare date)."""
    if isinstance(value, bool) or (isinstance(value, str) and not _RFC3339.fullmatch(value)):
        raise ValueError("unix seconds or an RFC 3339 date and time (2026-03-01T09:30:00Z)")
    return value


Moment = Annotated[datetime | None, BeforeValidator(_moment), WithJsonSchema({"anyOf": [
    {"type": "number"}, {"type": "string", "format": "date-time"}, {"type": "null"}]})]


class TranscriptTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sender: Literal["user", "bot"]
    text: str = Field(max_length=4000)
    ts: Moment = Field(None, description="unix seconds (as Rasa's events) or RFC 3339")


class HandoffInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conversation_id: Annotated[Printable, StringConstraints(max_length=128)] = Field(
        description="Rasa's sender id")
    channel: str = Field(max_length=40, pattern=r"^[a-z0-9_.-]{1,40}$",
                         description="Rasa's input channel")
    reason: Annotated[Printable, StringConstraints(max_length=200)] = Field(
        description="why: asked_for_human, repeated_fallback, complaint... or free text")
    transcript: list[TranscriptTurn] = Field(default_factory=list, max_length=200,
                                             description="the conversation so far, oldest first")
    cart_token: str | None = Field(None, max_length=64, pattern=TOKEN)
    email: str | None = Field(None, max_length=320)
    email_verified: StrictBool = Field(False, description=(
        "the bot matched this e-mail with one of order_numbers; the inbox marks the e-mail "
        "verified only if that order's e-mail is this one"))
    order_numbers: list[Annotated[str, StringConstraints(max_length=8,
                                                         pattern=ORDER_NUMBER)]] = Field(
        default_factory=list, max_length=20,
        description="only orders the bot verified in this conversation (number + e-mail "
                    "matched by the shop); the inbox lists these and the conversation's own")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        email = normalise_email(value)
        if not is_valid_email(email):
            raise ValueError("not a valid email address")
        return email

    def turns(self) -> list[dict]:
        return [{"sender": t.sender, "text": t.text,
                 "ts": iso(t.ts.astimezone(timezone.utc).replace(tzinfo=None)) if t.ts else None}
                for t in self.transcript]


class HandoffsQuery(BaseModel):
    status: Literal["open", "waiting", "active", "closed"] = Field(
        "open", description="open: waiting and active")
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=10**6)


class ClaimInput(BaseModel):
    """Nothing to say (``{}``): the agent is the signed-in staff member, whose name the
    shopper sees; a name in the request is refused, not believed."""
    model_config = ConfigDict(extra="forbid")


class AgentMessageInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=2000)]


class ReleaseInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution: Annotated[Printable, StringConstraints(max_length=200)] = "resolved"


async def signed_in_agent(request: web.Request) -> StaffMember:
    """The signed-in staff member: their name (their e-mail if they have none; "Admin" for
    the break-glass token) is the only name an agent's claim or reply carries, their
    account (``id``) the only one that may write in what they claimed."""
    member = await current_staff(request)
    assert member is not None  # the route's auth="agent" let the request through
    return member


async def _beat(request: web.Request, member: StaffMember) -> None:
    """Acting on a handoff counts as being online (an agent working through the API)."""
    from ..inbox import presence
    await presence.beat_now_and_then(request.app[DB], member)


def _rasa(request: web.Request, conversation_id: str) -> RasaConversation:
    settings = request.app[SETTINGS]
    return RasaConversation(settings.rasa_url, conversation_id, settings.rasa_jwt_secret)


def _chat_problem(error: RasaUnavailable, what: str, **extra) -> Problem:
    title = "Bad gateway" if error.status == 502 else "Service unavailable"
    return Problem(error.status, title, f"{error.detail} {what}", type="rasa-unavailable",
                   **extra)


@routes.post("/api/support/handoffs", summary="Hand the conversation to a person",
             body=HandoffInput, status=201, auth="service", errors=(400, 401, 413, 422),
             response=responses.Handoff, also_ok=(200,))
async def request_handoff(request: web.Request, body: HandoffInput) -> web.Response:
    """Called by the bot's handoff action, which then pauses the conversation. Answers 201
    with the queue position, or 200 with the conversation's handoff that is still open."""
    ctx = replace(EventContext.from_request(request), conversation_id=body.conversation_id,
                  channel=body.channel)
    try:
        async with request.app[DB].write() as session:
            handoff, created = await handoffs.request_handoff(
                session, conversation_id=body.conversation_id, channel=body.channel,
                reason=body.reason, transcript=body.turns(), email=body.email,
                cart_token=body.cart_token, order_numbers=[n.upper() for n in body.order_numbers],
                ctx=ctx)
            document = handoffs.summary_document(
                handoff, await handoffs.position_of(session, handoff))
    except IntegrityError:  # the same conversation asked twice at once: the other one won
        async with request.app[DB].read() as session:
            handoff = await handoffs.open_handoff_of(session, body.conversation_id)
            if handoff is None:
                raise
            document = handoffs.summary_document(
                handoff, await handoffs.position_of(session, handoff))
        created = False
    if created:
        await notify.handoff_changed(request.app, document["id"],
                                     watch=body.conversation_id)
    return json_response(document, status=201 if created else 200)


@routes.get("/api/admin/support/handoffs", summary="The handoff queue",
            query=HandoffsQuery, auth="agent", errors=(401, 422),
            response=responses.Handoffs)
async def list_handoffs(request: web.Request, query: HandoffsQuery) -> web.Response:
    """Open handoffs in queue order with each waiting one's position and how long the
    shopper has waited; closed ones newest first."""
    async with request.app[DB].read() as session:
        documents = await handoffs.queue(session, status=query.status, limit=query.limit,
                                         offset=query.offset)
    return json_response({"handoffs": documents})


@routes.get("/api/admin/support/handoffs/{id}", summary="A handoff with its conversation",
            auth="agent", errors=(401, 404),
            response=responses.HandoffDetail)
async def handoff_detail(request: web.Request) -> web.Response:
    """The transcript (what the bot saw, then what the shopper wrote since, read live from
    Rasa's tracker, and the agents' replies), the shopper's cart as it is now, the orders
    placed in this conversation or verified by the bot (never all orders of a typed e-mail),
    and ``email_verified``. ``live.available`` is false when Rasa could not be read."""
    handoff_id = int_param(request, "id", "handoff")
    settings = request.app[SETTINGS]
    async with request.app[DB].read() as session:
        handoff = await handoffs.find_handoff(session, handoff_id)
        document = handoffs.summary_document(handoff,
                                              await handoffs.position_of(session, handoff))
        document |= {"cart_token": handoff.cart_token, "order_numbers": handoff.order_numbers,
                     "email_verified": await handoffs.email_is_verified(session, handoff),
                     "cart": await handoffs.cart_of(session, handoff, settings),
                     "orders": await handoffs.orders_of(session, handoff)}
    try:
        shopper = await _rasa(request, handoff.conversation_id).shopper_messages(
            handoff.created_at, handoff.closed_at)
        document["live"] = {"available": True}
    except RasaUnavailable as error:
        shopper, document["live"] = [], {"available": False, "detail": error.detail}
    document["transcript"] = handoffs.timeline(handoff, shopper)
    return json_response(document)


@routes.post("/api/admin/support/handoffs/{id}/claim", summary="Take a waiting conversation",
             body=ClaimInput, auth="agent", errors=(401, 404, 409, 422),
             response=responses.Handoff)
async def claim_handoff(request: web.Request, body: ClaimInput) -> web.Response:
    """409 if another agent has it or it was handed back; claiming one's own is a no-op."""
    member = await signed_in_agent(request)
    async with request.app[DB].write() as session:
        handoff = await handoffs.find_handoff(session, int_param(request, "id", "handoff"),
                                              for_update=True)
        joined = await handoffs.claim(session, handoff, member.shown_name, member.id)
        document = handoffs.summary_document(handoff, None)
    if joined:
        await _beat(request, member)
        await notify.handoff_changed(request.app, handoff.id)
        await notify.to_shopper(request.app, handoff.conversation_id, "agent",
                                {"agent": member.shown_name})
    return json_response(document)


@routes.post("/api/admin/support/handoffs/{id}/messages", summary="Write to the shopper",
             body=AgentMessageInput, status=201, auth="agent",
             errors=(401, 404, 409, 422, 502, 503),
             response=responses.AgentMessage)
async def send_agent_message(request: web.Request, body: AgentMessageInput) -> web.Response:
    """Delivered through Rasa (a bot message of the agent's, sent on the shopper's
    channel) and kept in the transcript. If Rasa cannot take it: 502/503,
    and the message stays in the transcript with ``delivered: false``."""
    member = await signed_in_agent(request)
    async with request.app[DB].write() as session:
        handoff = await handoffs.find_handoff(session, int_param(request, "id", "handoff"),
                                              for_update=True)
        message = handoffs.add_agent_message(session, handoff, body.text,
                                             agent=member.shown_name, agent_id=member.id)
        await session.flush()
        message_id, conversation_id = message.id, handoff.conversation_id
        agent, channel = message.agent, handoff.channel
    failure = None
    try:
        await _rasa(request, conversation_id).deliver_agent_message(body.text, agent, channel)
    except RasaUnavailable as error:
        failure = error
    await _beat(request, member)
    async with request.app[DB].write() as session:
        await handoffs.record_delivery(session, message_id, failure.detail if failure else None)
        document = handoffs.message_document(await session.get(HandoffMessage, message_id))
    await notify.item_added(request.app, handoff, {"key": f"a{message_id}", **document})
    await notify.to_shopper(request.app, conversation_id, "typing",
                            {"typing": False, "agent": agent})
    if not failure:
        await notify.handoff_changed(request.app, handoff.id)
    if failure:
        raise _chat_problem(failure, "The message was kept as undelivered; send it again "
                                     "once Rasa is back.", message=document)
    return json_response(document, status=201)


@routes.post("/api/admin/support/handoffs/{id}/release", summary="Hand the conversation back",
             body=ReleaseInput, auth="agent", errors=(401, 404, 409, 422, 502, 503),
             response=responses.Handoff)
async def release_handoff(request: web.Request, body: ReleaseInput) -> web.Response:
    """Resumes the bot in Rasa (``resume`` event, then ``action_handoff_ended``: the bot
    says it is back) and closes the handoff. If Rasa cannot be reached the handoff stays
    open (502/503): the bot must not stay silent for a conversation the queue no longer
    shows. Only the agent holding it or an admin (409 otherwise). Releasing a closed
    handoff again answers it unchanged."""
    document = await end_handoff(request, int_param(request, "id", "handoff"),
                                 outcome="handed_back", resolution=body.resolution)
    return json_response(document)


async def _expect_rating(request: web.Request, handoff_id: int, expecting: bool) -> None:
    async with request.app[DB].write() as session:
        await handoffs.expect_rating(session, handoff_id, expecting)


async def end_handoff(request: web.Request, handoff_id: int, *, outcome: str,
                      resolution: str) -> dict:
    """Hand back (``handed_back``: the bot says it is back) or resolve (``resolved``: the
    bot asks for a rating): Rasa first, then the handoff is closed. By the agent holding
    it, an admin, or any agent while it waits. Ending an ended handoff answers it as it is."""
    member = await signed_in_agent(request)
    async with request.app[DB].read() as session:
        handoff = await handoffs.find_handoff(session, handoff_id)
    if handoff.status != "closed":
        handoffs.check_holder(handoff, by=member.shown_name, by_id=member.id,
                              by_admin=member.role == "admin")
        rasa = _rasa(request, handoff.conversation_id)
        asking = outcome == "resolved"
        if asking:  # before the question reaches the shopper, who may answer at once
            await _expect_rating(request, handoff_id, True)
        try:
            await (rasa.resolve() if asking else rasa.hand_back())
        except RasaUnavailable as error:
            if asking:
                await _expect_rating(request, handoff_id, False)
            raise _chat_problem(error, "The handoff stays open; try again.") from None
    async with request.app[DB].write() as session:
        handoff = await handoffs.find_handoff(session, handoff_id, for_update=True)
        closed_now = handoff.status != "closed"
        if closed_now:  # another agent's release may have won meanwhile
            await handoffs.close(session, handoff, agent=member.shown_name,
                                 resolution=resolution, outcome=outcome)
        document = handoffs.summary_document(handoff, None)
    if closed_now:
        await notify.handoff_changed(request.app, handoff_id)
        await notify.to_shopper(request.app, handoff.conversation_id, "agent",
                                {"agent": None})
    return document
