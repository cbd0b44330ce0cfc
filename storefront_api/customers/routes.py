"""Customer HTTP routes: sign-up, sign-in (merging the guest cart), the signed-in cart.

Sign-in is limited per address ("sign-in") and per account ("sign-in-account"), so that
neither one address trying many accounts nor many addresses trying one account get far;
sign-up per address ("sign-up"). A sign-up that states consent (the ``marketing_consent``
box, X-Consent) records each decision, source "signup"; a grant of marketing or advertising
reaches the account and its address only once the address's owner confirms it
(consent/confirmation.py).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from ..app_keys import DB, SETTINGS, VIEW_EVENTS
from ..auth import hash_password, require_customer, sign_customer_token, unauthorized
from ..cart import service as carts
from ..cart.documents import cart_document
from ..consent import confirmation
from ..consent import service as consent
from ..events.service import EventContext
from ..ratelimit import enforce, enforce_sign_in
from .. import responses
from ..routing import ApiRoutes, json_response
from ..values import MAX_EMAIL_LENGTH, Email, normalise_email
from . import service
from .models import Customer

routes = ApiRoutes("customers")


class SignUp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email = Field(max_length=MAX_EMAIL_LENGTH + 20)
    password: str = Field(min_length=8, max_length=256, description="at least 8 characters")
    name: str = Field("", max_length=120)
    marketing_consent: StrictBool = False



class SignInInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=1, max_length=MAX_EMAIL_LENGTH + 20)
    password: str = Field(min_length=1, max_length=256)
    cart_token: str | None = Field(None, max_length=64,
                                   description="the guest cart to merge into the customer's")


def customer_document(customer: Customer) -> dict[str, Any]:
    return {"id": customer.id, "email": customer.email, "name": customer.name,
            "marketing_consent": customer.marketing_consent,
            "created_at": customer.created_at.isoformat() + "Z"}


@routes.post("/api/customers", summary="Create a customer account", body=SignUp, status=201,
             errors=(400, 409, 422, 429),
             response=responses.Customer)
async def sign_up(request: web.Request, body: SignUp) -> web.Response:
    """``marketing_consent`` (or ``marketing`` in X-Consent) is the e-mail consent; the
    other purposes of X-Consent (analytics, advertising) are recorded with it. Nobody has
    proven the address is theirs yet: the account and the address get the refusals at
    once, the grants go to the caller's session (X-Session-Id), and the address gets a link
    to confirm marketing and advertising (listed in ``awaiting_confirmation``;
    ``marketing_consent`` turns true once confirmed)."""
    await enforce(request, "sign-up")
    stated = consent.from_header(request)
    marketing = body.marketing_consent or (stated is not None and "marketing" in stated)
    ctx = EventContext.from_request(request)
    password_hash = await hash_password(body.password)  # slow: outside the transaction
    async with request.app[DB].write() as session:
        customer = await service.register_customer(
            session, email=body.email, password_hash=password_hash, name=body.name,
            marketing_consent=False)
        granted = (stated or frozenset()) | ({"marketing"} if marketing else frozenset())
        awaiting = await consent.record_stated(
            session, granted, source="signup",
            purposes=consent.PURPOSES if stated is not None else ("marketing",),
            own=consent.subjects(session_id=ctx.session_id,
                                 conversation_id=ctx.conversation_id),
            unproven=consent.subjects(customer_id=customer.id, email=customer.email))
        document = customer_document(customer)
    await confirmation.ask_owner(request, document["email"], awaiting)
    return json_response({**document, "awaiting_confirmation": consent.in_order(awaiting)},
                         status=201)


@routes.post("/api/customers/sign-in", summary="Sign in; merges the guest cart",
             body=SignInInput, errors=(400, 401, 422, 429),
             response=responses.SignedIn)
async def sign_in(request: web.Request, body: SignInInput) -> web.Response:
    """Returns ``customer_token`` (send it as ``Authorization: Bearer``) and the customer's
    cart. The guest cart ``cart_token`` is merged into it and answers 410 afterwards."""
    await enforce_sign_in(request, normalise_email(body.email))
    settings = request.app[SETTINGS]
    async with request.app[DB].read() as session:  # the slow password check holds no lock
        customer = await service.authenticate(session, body.email, body.password)
    ctx = EventContext.from_request(request)
    async with request.app[DB].write() as session:
        result = await service.sign_in_cart(session, customer, body.cart_token, settings, ctx)
        priced = await carts.price_cart(session, result.cart, settings)
    priced.notices = result.notices
    token = sign_customer_token(settings.secret_key, customer.id)
    expires = datetime.fromtimestamp(token.expires_at, timezone.utc)
    return json_response({
        "customer_token": token.token,
        "expires_at": expires.isoformat().replace("+00:00", "Z"),
        "customer": customer_document(customer),
        "cart_merged": result.merged,
        "cart": cart_document(priced),
    })


@routes.get("/api/customers/me", summary="The signed-in customer", auth="customer",
            response=responses.Customer)
async def me(request: web.Request) -> web.Response:
    customer_id = require_customer(request)
    async with request.app[DB].read() as session:
        customer = await session.get(Customer, customer_id)
    if customer is None:  # a valid token for an account that no longer exists
        raise unauthorized("This account no longer exists.", "customer")
    return json_response(customer_document(customer))


@routes.get("/api/customers/me/cart", summary="The signed-in customer's cart", auth="customer",
            response=responses.Cart)
async def my_cart(request: web.Request) -> web.Response:
    """Created empty on first use. Its token works with every /api/carts/{token} route."""
    customer_id = require_customer(request)
    ctx = EventContext.from_request(request)
    settings = request.app[SETTINGS]
    async with request.app[DB].write() as session:
        cart = await service.customer_cart(session, customer_id, settings, ctx)
        priced = await carts.price_cart(session, cart, settings)
    if priced.lines:
        name, event_ctx, fields = carts.view_event(priced, ctx)
        request.app[VIEW_EVENTS].add(name, event_ctx, **fields)
    return json_response(cart_document(priced))
