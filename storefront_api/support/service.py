"""Support tickets: a shopper's complaint or question, for the merchant's inbox, linked to
the order it is about when there is one.

Anyone can open a ticket for any e-mail address, so the acknowledgement sent to that
address is a fixed text with the ticket's reference only: nothing the sender wrote (message,
subject, name) is in it, and the shop cannot be used to carry someone's text to a stranger's
inbox. The routes also limit tickets per sender and per recipient.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import utcnow
from ..events.service import EventContext
from ..orders.models import Order
from ..outbox.service import enqueue_email
from ..values import iso, reference
from .models import SupportTicket

TICKET_KINDS = ("complaint", "question")
TICKET_STATUSES = ("open", "answered", "closed")


async def _unused_reference(session: AsyncSession) -> str:
    for _ in range(20):
        candidate = reference("T-")
        if await session.scalar(select(SupportTicket.id)
                                .where(SupportTicket.reference == candidate)) is None:
            return candidate
    raise RuntimeError("could not find a free ticket reference")  # 20 collisions in 887M


async def open_ticket(session: AsyncSession, *, kind: str, email: str, subject: str,
                      message: str, order: Order | None, ctx: EventContext) -> SupportTicket:
    """A new open ticket, and an e-mail telling the shopper its reference. The conversation
    it came from is kept, so an agent can answer in the chat."""
    ticket = SupportTicket(reference=await _unused_reference(session), kind=kind,
                           order_id=order.id if order else None, email=email,
                           subject=subject or _default_subject(kind, order), message=message,
                           status="open", conversation_id=ctx.conversation_id,
                           channel=ctx.channel, created_at=utcnow())
    session.add(ticket)
    await session.flush()
    await enqueue_email(session, to=email, tag="ticket-opened",
                        subject=f"We received your message ({ticket.reference})",
                        text=acknowledgement(ticket.reference))
    return ticket


def acknowledgement(reference: str) -> str:
    """The whole acknowledgement: the same words for everyone, and the reference."""
    return (f"Thank you for writing to us. Your reference is {reference}; someone from the "
            "shop will answer you by e-mail, usually within one working day.\n\n"
            "If you did not write to us, you can ignore this message.")


def _default_subject(kind: str, order: Order | None) -> str:
    return f"{kind.capitalize()} about order {order.number}" if order else kind.capitalize()


def ticket_document(ticket: SupportTicket, order_number: str | None) -> dict[str, Any]:
    return {"reference": ticket.reference, "kind": ticket.kind, "status": ticket.status,
            "order_number": order_number, "email": ticket.email, "subject": ticket.subject,
            "message": ticket.message, "conversation_id": ticket.conversation_id,
            "channel": ticket.channel, "created_at": iso(ticket.created_at)}


async def merchant_tickets(session: AsyncSession, *, status: str | None, kind: str | None,
                           limit: int, offset: int) -> list[dict[str, Any]]:
    query = (select(SupportTicket, Order.number)
             .outerjoin(Order, Order.id == SupportTicket.order_id)
             .order_by(SupportTicket.id.desc()).limit(limit).offset(offset))
    if status:
        query = query.where(SupportTicket.status == status)
    if kind:
        query = query.where(SupportTicket.kind == kind)
    return [ticket_document(ticket, number)
            for ticket, number in (await session.execute(query)).all()]
