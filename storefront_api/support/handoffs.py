"""Handoffs: the queue of chat conversations waiting for a person, and what an agent does
with one (claim it, transfer it, put it back, write to the shopper, hand it back to the bot
or resolve it, and the shopper's rating afterwards).

A conversation has at most one open handoff (waiting or active); asking again while one is
open returns it, so a shopper who repeats "human please" keeps their place in the queue. One
agent holds an active handoff (their staff account, or the name of the break-glass token),
and only they write in it. Each change records its analytics event in the same transaction
(``handoff_requested``, ``agent_joined``, ``agent_left``, ``agent_message`` once Rasa took it,
``handoff_resolved`` with the first-reply and resolution seconds, ``handoff_rated``).
Talking to Rasa happens in the routes, outside any transaction (``conversations.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ..cart import service as carts
from ..cart.documents import cart_document
from ..cart.models import Cart
from ..db import utcnow
from ..events.service import EventContext, record_event
from ..orders.documents import order_summary
from ..orders.models import Order
from ..problems import Problem, conflict
from ..settings import Settings
from ..values import iso, reference
from .models import Handoff, HandoffMessage

OPEN_STATUSES = ("waiting", "active")
MAX_ORDERS_SHOWN = 20


def handoff_not_found(ident: Any) -> Problem:
    return Problem(404, "Not found", f"No handoff with id {ident!r}.", type="handoff-not-found")


async def _unused_reference(session: AsyncSession) -> str:
    for _ in range(20):
        candidate = reference("H-")
        if await session.scalar(select(Handoff.id).where(Handoff.reference == candidate)) is None:
            return candidate
    raise RuntimeError("could not find a free handoff reference")  # 20 collisions in 887M


async def open_handoff_of(session: AsyncSession, conversation_id: str) -> Handoff | None:
    return await session.scalar(select(Handoff).where(
        Handoff.conversation_id == conversation_id, Handoff.status.in_(OPEN_STATUSES)))


async def request_handoff(session: AsyncSession, *, conversation_id: str, channel: str,
                          reason: str, transcript: list[dict[str, Any]], email: str | None,
                          cart_token: str | None, order_numbers: list[str],
                          ctx: EventContext) -> tuple[Handoff, bool]:
    """(the conversation's open handoff, whether it was created now)."""
    existing = await open_handoff_of(session, conversation_id)
    if existing is not None:
        return existing, False
    handoff = Handoff(reference=await _unused_reference(session),
                      conversation_id=conversation_id, channel=channel, reason=reason,
                      status="waiting", email=email, cart_token=cart_token,
                      order_numbers=order_numbers, transcript=transcript, created_at=utcnow())
    session.add(handoff)
    await session.flush()  # the open-conversation unique index refuses a concurrent twin
    cart = await carts.cart_by_token(session, cart_token) if cart_token else None
    await record_event(session, "handoff_requested", ctx,
                       cart_id=str(cart.id) if cart else None,
                       properties={"reason": reason, "handoff": handoff.reference,
                                   "transcript_turns": len(transcript)})
    return handoff, True


async def position_of(session: AsyncSession, handoff: Handoff) -> int | None:
    """1 for the next conversation an agent should take; None unless waiting."""
    if handoff.status != "waiting":
        return None
    ahead = await session.scalar(select(func.count()).select_from(Handoff).where(
        Handoff.status == "waiting",
        tuple_(Handoff.created_at, Handoff.id) < tuple_(handoff.created_at, handoff.id)))
    return ahead + 1


def waited_seconds(handoff: Handoff, now: datetime) -> int:
    """How long the shopper waited for a person (so far, if nobody has claimed it)."""
    until = handoff.claimed_at or handoff.closed_at or now
    return max(0, int((until - handoff.created_at).total_seconds()))


def summary_document(handoff: Handoff, position: int | None,
                     now: datetime | None = None) -> dict[str, Any]:
    return {
        "id": handoff.id, "reference": handoff.reference, "status": handoff.status,
        "position": position, "conversation_id": handoff.conversation_id,
        "channel": handoff.channel, "reason": handoff.reason, "agent": handoff.agent,
        "agent_id": handoff.agent_id, "email": handoff.email, "waited_seconds": waited_seconds(handoff, now or utcnow()),
        "created_at": iso(handoff.created_at), "claimed_at": iso(handoff.claimed_at),
        "closed_at": iso(handoff.closed_at),
    }


async def queue(session: AsyncSession, *, status: str, limit: int,
                offset: int) -> list[dict[str, Any]]:
    """Open handoffs in queue order (oldest first); closed ones newest first."""
    statuses = OPEN_STATUSES if status == "open" else (status,)
    query = select(Handoff).where(Handoff.status.in_(statuses)).limit(limit).offset(offset)
    if status == "closed":
        query = query.order_by(Handoff.closed_at.desc(), Handoff.id.desc())
    else:
        query = query.order_by(Handoff.created_at, Handoff.id)
    handoffs = (await session.scalars(query)).all()
    now, documents, next_position = utcnow(), [], None
    for handoff in handoffs:
        position = None
        if handoff.status == "waiting":  # in queue order, waiting ones follow each other
            if next_position is None:
                next_position = await position_of(session, handoff)
            position, next_position = next_position, next_position + 1
        documents.append(summary_document(handoff, position, now))
    order_emails = await _order_emails(session, {number for handoff in handoffs
                                                 for number in handoff.order_numbers or ()})
    for handoff, document in zip(handoffs, documents):
        document["email_verified"] = _email_verified(handoff, order_emails)
    return documents


async def find_handoff(session: AsyncSession, handoff_id: int, *,
                       for_update: bool = False) -> Handoff:
    query = (select(Handoff).where(Handoff.id == handoff_id)
             .options(selectinload(Handoff.messages)))
    if for_update:  # PostgreSQL: one agent action at a time per handoff
        query = query.with_for_update()
    handoff = await session.scalar(query)
    if handoff is None:
        raise handoff_not_found(handoff_id)
    return handoff


def _ensure_open(handoff: Handoff) -> None:
    if handoff.status == "closed":
        raise conflict(f"Handoff {handoff.reference} was already handed back to the bot.",
                       type="handoff-closed")


def same_agent(handoff: Handoff, agent: str, agent_id: int | None) -> bool:
    """Is this the agent holding the handoff? Their staff account when there is one (two
    agents may share a name), else the name (the break-glass token)."""
    if handoff.agent_id is not None or agent_id is not None:
        return handoff.agent_id == agent_id
    return handoff.agent == agent


async def claim(session: AsyncSession, handoff: Handoff, agent: str,
                agent_id: int | None = None) -> bool:
    """The agent takes the conversation; whether it changed hands now (claiming one's own
    again changes nothing). Records ``agent_joined``."""
    _ensure_open(handoff)
    if handoff.status == "active" and not same_agent(handoff, agent, agent_id):
        raise conflict(f"{handoff.agent} is already talking with this shopper.",
                       type="handoff-claimed", agent=handoff.agent)
    if handoff.status != "waiting":
        return False
    await _join(session, handoff, agent, agent_id, via="claim")
    return True


async def _join(session: AsyncSession, handoff: Handoff, agent: str, agent_id: int | None,
                *, via: str, **properties: Any) -> None:
    now = utcnow()
    handoff.status, handoff.agent, handoff.agent_id, handoff.claimed_at = (
        "active", agent, agent_id, now)
    await record_event(session, "agent_joined", _context(handoff), properties={
        "handoff": handoff.reference, "reason": handoff.reason, "agent": agent,
        "agent_id": agent_id, "via": via,
        "wait_seconds": _seconds(handoff.created_at, now), **properties})


async def transfer(session: AsyncSession, handoff: Handoff, *, to_agent: str,
                   to_agent_id: int, by: str, by_id: int | None, by_admin: bool) -> None:
    """Give the conversation to another agent: its holder (or an admin) does it; a waiting
    one is assigned."""
    _ensure_open(handoff)
    if handoff.status == "active" and not (by_admin or same_agent(handoff, by, by_id)):
        raise conflict(f"{handoff.agent} is talking with this shopper; only they (or an "
                       "admin) can transfer the conversation.", type="handoff-claimed",
                       agent=handoff.agent)
    if handoff.status == "active" and handoff.agent_id == to_agent_id:
        return
    await _join(session, handoff, to_agent, to_agent_id, via="transfer",
                transferred_by=by, transferred_from=handoff.agent)


async def unclaim(session: AsyncSession, handoff: Handoff, *, by: str, by_id: int | None,
                  by_admin: bool, via: str = "unclaim") -> None:
    """Back to the queue, in its place (the queue is ordered by when the shopper asked);
    ``agent_left``."""
    _ensure_open(handoff)
    if handoff.status == "waiting":
        return
    if not (by_admin or same_agent(handoff, by, by_id)):
        raise conflict(f"{handoff.agent} is talking with this shopper; only they (or an "
                       "admin) can put it back in the queue.", type="handoff-claimed",
                       agent=handoff.agent)
    await record_event(session, "agent_left", _context(handoff), properties={
        "handoff": handoff.reference, "reason": handoff.reason, "agent": handoff.agent,
        "agent_id": handoff.agent_id, "via": via, "by": by})
    handoff.status, handoff.agent, handoff.agent_id, handoff.claimed_at = (
        "waiting", None, None, None)


def check_holder(handoff: Handoff, *, by: str, by_id: int | None, by_admin: bool) -> None:
    """Hand back or resolve: the agent holding it, an admin, or anyone while it waits."""
    if (handoff.status == "active" and not by_admin
            and not same_agent(handoff, by, by_id)):
        raise conflict(f"{handoff.agent} is talking with this shopper; only they (or an "
                       "admin) can end the conversation.", type="handoff-claimed",
                       agent=handoff.agent)


def _context(handoff: Handoff) -> EventContext:
    return EventContext(conversation_id=handoff.conversation_id, channel=handoff.channel)


def add_agent_message(session: AsyncSession, handoff: Handoff, text: str, *,
                      agent: str, agent_id: int | None = None) -> HandoffMessage:
    """Kept before it is sent, so the transcript shows it even if Rasa never takes it. Only
    the agent who claimed the conversation writes in it: the shopper was told whom they
    are talking with."""
    _ensure_open(handoff)
    if handoff.status != "active":
        raise conflict("Claim the handoff before writing to the shopper "
                       f"(POST /api/admin/support/handoffs/{handoff.id}/claim).",
                       type="handoff-not-claimed")
    if not same_agent(handoff, agent, agent_id):
        raise conflict(f"{handoff.agent} is talking with this shopper; only they can write.",
                       type="handoff-claimed", agent=handoff.agent)
    message = HandoffMessage(handoff_id=handoff.id, agent=agent, text=text,
                             delivered=False, created_at=utcnow())
    session.add(message)
    return message


async def record_delivery(session: AsyncSession, message_id: int, error: str | None) -> None:
    """Rasa took the message (``error`` None) or not. A delivered one is an
    ``agent_message`` event; the first sets the handoff's first reply."""
    message = await session.get(HandoffMessage, message_id)
    if error is not None:
        message.error = error[:300]
        return
    now = utcnow()
    message.delivered, message.delivered_at, message.error = True, now, None
    handoff = await session.get(Handoff, message.handoff_id, with_for_update=True)
    first = handoff.first_reply_at is None
    if first:
        handoff.first_reply_at = now
    await record_event(session, "agent_message", _context(handoff), properties={
        "handoff": handoff.reference, "reason": handoff.reason, "agent": message.agent,
        "agent_id": handoff.agent_id, "first": first,
        "seconds_since_request": _seconds(handoff.created_at, now)})


async def close(session: AsyncSession, handoff: Handoff, *, agent: str | None,
                resolution: str, outcome: str = "handed_back") -> None:
    """The bot has the conversation again (Rasa already resumed it): ``handoff_resolved``
    with the reason, the agent, how long the first reply and the whole took, and the
    rating when there is one already."""
    now = utcnow()
    handoff.status, handoff.closed_at, handoff.outcome = "closed", now, outcome
    handoff.agent = handoff.agent or agent
    if outcome == "resolved":
        handoff.csat_asked_at = handoff.csat_asked_at or now
    await record_event(session, "handoff_resolved", _context(handoff), properties={
        "reason": handoff.reason, "handoff": handoff.reference, "resolution": resolution,
        "outcome": outcome, "agent": handoff.agent, "agent_id": handoff.agent_id,
        "claimed": handoff.claimed_at is not None,
        "wait_seconds": waited_seconds(handoff, now),
        "first_reply_seconds": _seconds(handoff.created_at, handoff.first_reply_at),
        "resolution_seconds": _seconds(handoff.created_at, now),
        "duration_seconds": int((now - handoff.created_at).total_seconds()),
        "csat": handoff.csat, "agent_messages": len(handoff.messages)})


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if end else None


async def expect_rating(session: AsyncSession, handoff_id: int, expecting: bool) -> None:
    """Mark (or, when Rasa could not ask after all, unmark) a handoff as asked for a
    rating, before the question goes out: the shopper may press a star before the handoff
    is closed, and their answer must find it. A rating already given stays."""
    handoff = await find_handoff(session, handoff_id, for_update=True)
    if handoff.status == "closed" or handoff.csat is not None:
        return
    handoff.csat_asked_at = utcnow() if expecting else None


async def rate(session: AsyncSession, conversation_id: str, csat: int) -> Handoff:
    """The shopper's 1-5 answer to the rating question: kept on the latest resolved
    handoff of the conversation that asked for it (``handoff_rated``). Asked once, answered
    once: a second answer is a 409, a conversation never asked a 404."""
    handoff = await session.scalar(
        select(Handoff).where(Handoff.conversation_id == conversation_id,
                              Handoff.csat_asked_at.is_not(None))
        .order_by(Handoff.csat_asked_at.desc(), Handoff.id.desc()).limit(1)
        .with_for_update())
    if handoff is None:
        raise Problem(404, "Not found", "Nobody asked this conversation for a rating.",
                      type="rating-not-asked")
    if handoff.csat is not None:
        raise conflict(f"Handoff {handoff.reference} was already rated {handoff.csat}.",
                       type="already-rated", csat=handoff.csat)
    handoff.csat, handoff.rated_at = csat, utcnow()
    await record_event(session, "handoff_rated", _context(handoff), properties={
        "handoff": handoff.reference, "reason": handoff.reason, "agent": handoff.agent,
        "agent_id": handoff.agent_id, "csat": csat,
        "seconds_after_resolution": _seconds(handoff.csat_asked_at, handoff.rated_at)})
    return handoff


# --- what the agent sees -------------------------------------------------------------------

def message_document(message: HandoffMessage) -> dict[str, Any]:
    return {"id": message.id, "sender": "agent", "agent": message.agent, "text": message.text,
            "ts": iso(message.created_at), "delivered": message.delivered,
            "error": message.error}


def timeline(handoff: Handoff, shopper_messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation as the bot saw it up to the handoff, then, in time order, what the
    shopper wrote since (from Rasa) and what agents answered."""
    since = sorted(shopper_messages + [message_document(m) for m in handoff.messages],
                   key=lambda item: datetime.fromisoformat(item["ts"].rstrip("Z")))
    return list(handoff.transcript) + since


async def cart_of(session: AsyncSession, handoff: Handoff,
                  settings: Settings) -> dict[str, Any] | None:
    """The shopper's cart as it is now: the one the bot named, else the conversation's."""
    cart = None
    if handoff.cart_token:
        cart = await carts.cart_by_token(session, handoff.cart_token)
    if cart is None:
        token = await session.scalar(
            select(Cart.token).where(Cart.conversation_id == handoff.conversation_id,
                                     Cart.status == "active")
            .order_by(Cart.updated_at.desc(), Cart.id.desc()).limit(1))
        cart = await carts.cart_by_token(session, token) if token else None
    if cart is None:
        return None
    return cart_document(await carts.price_cart(session, cart, settings))


async def orders_of(session: AsyncSession, handoff: Handoff) -> list[dict[str, Any]]:
    """The orders an agent may talk about: those placed in this conversation (its checkout
    carried the conversation id through the service credential) and those the bot verified
    in it (number and e-mail matched by the shop). Never every order of the e-mail the
    shopper typed: anyone can type anyone's address."""
    who = [Order.conversation_id == handoff.conversation_id]
    if handoff.order_numbers:
        who.append(Order.number.in_(handoff.order_numbers))
    orders = (await session.scalars(select(Order).where(or_(*who))
                                    .order_by(Order.created_at.desc(), Order.id.desc())
                                    .limit(MAX_ORDERS_SHOWN))).all()
    return [order_summary(order) for order in orders]


async def email_is_verified(session: AsyncSession, handoff: Handoff) -> bool:
    """Whether the shopper's e-mail is one the bot verified: the e-mail of an order whose
    number and e-mail the shop matched in this conversation. Worked out here from the
    verified orders rather than taken from the request, so a claim the shop cannot check is
    never shown as verified; an e-mail the shopper only typed is shown as unverified."""
    return _email_verified(handoff, await _order_emails(session, handoff.order_numbers or ()))


async def _order_emails(session: AsyncSession, numbers) -> dict[str, str]:
    numbers = sorted(set(numbers))
    if not numbers:
        return {}
    rows = await session.execute(select(Order.number, Order.email)
                                 .where(Order.number.in_(numbers)))
    return {number: email for number, email in rows.all()}


def _email_verified(handoff: Handoff, order_emails: dict[str, str]) -> bool:
    email = (handoff.email or "").strip().lower()
    return bool(email) and any(order_emails.get(number) == email
                               for number in handoff.order_numbers or ())
