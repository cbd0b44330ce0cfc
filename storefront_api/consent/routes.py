"""Consent HTTP routes: the shopper's decision per purpose, and the decisions in force.

Whose decision it is comes from the caller's own credentials, never from the body: the
browser session (X-Session-Id), the signed-in customer (their token: their account and
their e-mail address), or the conversation (only from Aisle's assistant, with the service
credential; source "chat"). Nobody can decide for an e-mail address they cannot sign in
with: that is what keeps a stranger from signing someone else up for reminders. And since
nobody verified an account's address when it was created, even its customer grants the
address marketing or advertising only through the link mailed to it
(consent/confirmation.py); refusals apply at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import update

from ..app_keys import DB
from ..auth import bearer_token, is_service_call, require_customer
from ..customers.models import Customer
from ..events.service import EventContext
from ..problems import unprocessable
from ..ratelimit import enforce
from .. import responses
from ..routing import ApiRoutes, json_response
from . import confirmation, service

routes = ApiRoutes("consent")

Purpose = Literal["analytics", "marketing", "advertising"]


class ConsentInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    granted: list[Purpose] = Field(max_length=3, description="the purposes granted; the "
                                   "others are refused (an empty list refuses all)")
    source: Literal["cookie-banner", "api"] = Field(
        "api", description="where the shopper decided (the assistant's calls are 'chat')")


@dataclass(frozen=True)
class Whose:
    """Whom a decision is for: ``own`` subjects the caller's credentials prove, and the
    signed-in customer's address (``email``: its subject is for its owner to grant)."""
    own: list[str]
    customer_id: int | None = None
    email: str | None = None

    @property
    def subjects(self) -> list[str]:
        return self.own + service.subjects(email=self.email)


async def _whose(request: web.Request) -> Whose:
    """The subjects the caller may decide for, and the signed-in customer if any."""
    ctx = EventContext.from_request(request)
    customer_id, email = None, None
    if bearer_token(request) and not is_service_call(request):
        customer_id = require_customer(request)
        async with request.app[DB].read() as session:
            customer = await session.get(Customer, customer_id)
        email = customer.email if customer else None
    own = service.subjects(customer_id=customer_id, session_id=ctx.session_id,
                           conversation_id=ctx.conversation_id)
    if not own:
        raise unprocessable("Whose consent? Send X-Session-Id (the shop page's session), "
                            "sign in (a customer token), or call as the assistant.",
                            type="consent-subject-missing")
    return Whose(own, customer_id, email)


@routes.post("/api/consent", summary="Record the shopper's consent per purpose",
             body=ConsentInput, status=201, errors=(400, 401, 422, 429),
             response=responses.ConsentDecisions)
async def post_consent(request: web.Request, body: ConsentInput) -> web.Response:
    """For the session (X-Session-Id), the signed-in customer (Authorization: Bearer
    <customer token>) or, from the assistant, the conversation. Answers the decisions now in
    force per purpose. A signed-in customer's grant of marketing or advertising reaches
    their e-mail address once they follow the link mailed to it (``awaiting_confirmation``);
    refusals reach it at once."""
    await enforce(request, "consent")
    whose = await _whose(request)
    source = "chat" if is_service_call(request) else body.source
    async with request.app[DB].write() as session:
        awaiting = await service.record_stated(session, body.granted, own=whose.own,
                                               unproven=service.subjects(email=whose.email),
                                               source=source)
        if whose.customer_id is not None:  # the account page shows the e-mail choice
            await session.execute(update(Customer).where(Customer.id == whose.customer_id)
                                  .values(marketing_consent="marketing" in body.granted))
        document = await service.decisions_document(session, whose.subjects)
    if whose.email:
        await confirmation.ask_owner(request, whose.email, awaiting)
    return json_response({"consent": document,
                          "awaiting_confirmation": service.in_order(awaiting)}, status=201)


@routes.get("/api/consent", summary="The shopper's consent in force, per purpose",
            errors=(401, 422),
            response=responses.ConsentDecisions)
async def get_consent(request: web.Request) -> web.Response:
    """Per purpose: ``granted``, ``source``, ``recorded_at``, or null when never asked."""
    whose = await _whose(request)
    async with request.app[DB].read() as session:
        document = await service.decisions_document(session, whose.subjects)
    return json_response({"consent": document})
