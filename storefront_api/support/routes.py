"""Support HTTP routes: a complaint or question about an order (opened like the order
lookup, with its e-mail or token), one without an order, and the merchant's ticket list."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from ..aftersales.routes import OrderProof, count_order_lookup
from ..app_keys import DB, SETTINGS
from ..customers.service import is_valid_email, normalise_email
from ..events.service import EventContext
from ..orders import service as orders
from ..routing import ApiRoutes, json_response
from . import service

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

    email: str = Field(max_length=320, description="where the shop answers")
    kind: Kind
    subject: Subject = ""
    message: Message
    order_number: str | None = Field(None, min_length=1, max_length=32,
                                     description="must be an order of this e-mail")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        email = normalise_email(value)
        if not is_valid_email(email):
            raise ValueError("not a valid email address")
        return email


class TicketsQuery(BaseModel):
    status: Literal["open", "answered", "closed"] | None = None
    kind: Kind | None = None
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=10**6)


async def _open(request: web.Request, *, body, email: str, order_number: str | None,
                proof: OrderProof | None = None) -> web.Response:
    ctx = EventContext.from_request(request)
    secret_key = request.app[SETTINGS].secret_key
    if order_number is not None:
        count_order_lookup(request)
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
             body=OrderTicketInput, status=201, errors=(400, 404, 422, 429))
async def open_order_ticket(request: web.Request, body: OrderTicketInput) -> web.Response:
    """Answers with the ticket's reference (T-XXXXXX). X-Conversation-Id and X-Channel are
    kept on the ticket so that an agent can answer in the chat."""
    return await _open(request, body=body, email="", proof=body,
                       order_number=request.match_info["number"])


@routes.post("/api/support/tickets", summary="A complaint or question, with or without an order",
             body=TicketInput, status=201, errors=(400, 404, 422, 429))
async def open_ticket(request: web.Request, body: TicketInput) -> web.Response:
    """With ``order_number``, the order must belong to ``email`` (otherwise the same 404 as
    the order lookup)."""
    return await _open(request, body=body, email=body.email, order_number=body.order_number)


@routes.get("/api/admin/support/tickets", summary="Support tickets, newest first",
            query=TicketsQuery, auth="admin", errors=(401, 422))
async def list_tickets(request: web.Request, query: TicketsQuery) -> web.Response:
    async with request.app[DB].read() as session:
        documents = await service.merchant_tickets(session, status=query.status, kind=query.kind,
                                                   limit=query.limit, offset=query.offset)
    return json_response({"tickets": documents})
