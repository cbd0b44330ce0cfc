"""Cart HTTP routes under /api/carts/{token}: lines, saved-for-later, promo code, shipping.

Every route answers with the whole cart, priced now (see ``documents.cart_document``), so the
chat and the shop page never compute a total themselves. A change sent with an
``Idempotency-Key`` is applied once however often it is sent (``idempotency.py``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from sqlalchemy.exc import IntegrityError
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt,
                      model_validator)

from ..app_keys import DB, SETTINGS, VIEW_EVENTS
from ..auth import is_service_call
from ..events.service import EventContext
from ..pricing import service as pricing
from ..pricing.documents import shipping_option_document
from ..problems import unprocessable
from ..ratelimit import enforce
from .. import responses
from ..routing import MAX_DB_INT, ApiRoutes, int_param, json_response
from ..values import Country
from . import idempotency, service
from .documents import cart_document

routes = ApiRoutes("carts")

LINE_ERRORS = (400, 404, 409, 410, 422)


def _line_quantity(value: int) -> int:
    if not 1 <= value <= service.MAX_LINE_QUANTITY:
        raise ValueError(f"quantity must be from 1 to {service.MAX_LINE_QUANTITY} per line")
    return value


Quantity = Annotated[StrictInt, AfterValidator(_line_quantity),
                     Field(json_schema_extra={"minimum": 1,
                                              "maximum": service.MAX_LINE_QUANTITY})]
ShippingMethod = Literal["standard", "express", "pickup"]


class AddItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variant_id: StrictInt | None = Field(None, ge=1, le=MAX_DB_INT)
    sku: str | None = Field(None, min_length=1, max_length=100)
    quantity: Quantity = Field(1, description="how many to add (1-99 a line)")

    @model_validator(mode="after")
    def _one_reference(self):
        if (self.variant_id is None) == (self.sku is None):
            raise ValueError("give either variant_id or sku (exactly one)")
        return self


class LineChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quantity: Quantity | None = Field(None, description="the line's new quantity (1-99)")
    saved_for_later: StrictBool | None = Field(
        None, description="true saves the line for later, false moves it back to the cart")

    @model_validator(mode="after")
    def _something(self):
        if self.quantity is None and self.saved_for_later is None:
            raise ValueError("give quantity and/or saved_for_later")
        return self


class PromoCodeInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=40, description="case-insensitive")


class ShippingChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    country: Country
    method: ShippingMethod = "standard"


class ShippingOptionsQuery(BaseModel):
    country: Country | None = Field(None, description="defaults to the cart's country")


# --- helpers -------------------------------------------------------------------------------

def _token(request: web.Request) -> str:
    return request.match_info["token"]


async def priced_cart_response(request: web.Request, session, cart,
                               status: int = 200) -> web.Response:
    priced = await service.price_cart(session, cart, request.app[SETTINGS])
    return json_response(cart_document(priced), status=status)


async def _change(request: web.Request, change, status: int = 200) -> web.Response:
    """Run ``change(session, cart, ctx)`` on the locked cart in one transaction; with an
    Idempotency-Key already applied to this cart, answer with the cart as it is."""
    ctx = EventContext.from_request(request)
    key = idempotency.client_key(request)
    request_hash = await idempotency.fingerprint(request) if key else ""
    async with request.app[DB].write() as session:
        cart = await service.find_cart(session, _token(request), for_update=True)
        scoped = idempotency.scoped(key, f"cart:{cart.id}") if key else None
        if scoped is None or await idempotency.applied(session, scoped, request_hash) is None:
            await change(session, cart, ctx)
            if scoped is not None:
                await idempotency.remember(session, scoped, cart.id, request_hash)
        return await priced_cart_response(request, session, cart, status)


async def _create(request: web.Request, ctx: EventContext, key: str | None) -> web.Response:
    request_hash = await idempotency.fingerprint(request) if key else ""
    async with request.app[DB].write() as session:
        made = await idempotency.applied(session, key, request_hash) if key else None
        if made is not None:
            cart = await service.cart_by_id(session, made)
        else:
            # the shop page beside the chat may have opened the conversation's cart already
            cart = (await service.conversation_cart(session, ctx.conversation_id,
                                                    opened_by_page=True)
                    if ctx.conversation_id else None) \
                or await service.create_cart(session, request.app[SETTINGS], ctx)
            if key:
                await idempotency.remember(session, key, cart.id, request_hash)
        return await priced_cart_response(request, session, cart, status=201)


# --- routes --------------------------------------------------------------------------------

@routes.post("/api/carts", summary="Create a guest cart", status=201, errors=(429,),
             response=responses.Cart)
async def create_cart(request: web.Request) -> web.Response:
    """Returns the new cart with its token: keep it, every other cart route needs it.
    X-Conversation-Id and X-Channel (from the assistant) are recorded on the cart; a
    conversation whose open cart the shop page opened (POST /api/chat/cart/open) gets that
    one, so page and assistant fill the same cart. New
    carts are limited per client ("cart"): each one is a row that lives for weeks. The
    assistant (service credential) may send an Idempotency-Key: the same key again answers
    with the cart it created."""
    await enforce(request, "cart")
    ctx = EventContext.from_request(request)
    key = idempotency.client_key(request)
    key = idempotency.scoped(key, "new-cart:service") if key and is_service_call(request) \
        else None
    try:
        return await _create(request, ctx, key)
    except IntegrityError:
        if key is None:
            raise
        return await _create(request, ctx, key)  # the same key at the same moment: it won


@routes.get("/api/carts/{token}", summary="Get a cart, priced now", errors=(404, 410),
            response=responses.Cart)
async def get_cart(request: web.Request) -> web.Response:
    """Totals are recomputed from current prices; an applied code that stopped being valid is
    reported with ``promo_code.valid=false`` and its reason, and not applied."""
    ctx = EventContext.from_request(request)
    async with request.app[DB].read() as session:
        cart = await service.find_cart(session, _token(request))
        priced = await service.price_cart(session, cart, request.app[SETTINGS])
    if priced.lines:
        name, event_ctx, fields = service.view_event(priced, ctx)
        request.app[VIEW_EVENTS].add(name, event_ctx, **fields)
    return json_response(cart_document(priced))


@routes.post("/api/carts/{token}/items", summary="Add a variant to the cart", body=AddItem,
             status=201, errors=LINE_ERRORS,
             response=responses.Cart)
async def add_item(request: web.Request, body: AddItem) -> web.Response:
    """Stock is checked now, counting what the cart already holds: asking for more answers 409
    with ``available``. Adding a variant already in the cart increases that line."""
    async def change(session, cart, ctx):
        variant = await service.resolve_variant(session, variant_id=body.variant_id,
                                                sku=body.sku)
        await service.add_item(session, cart, variant, body.quantity, ctx)
    return await _change(request, change, status=201)


@routes.patch(r"/api/carts/{token}/items/{line_id:\d+}", body=LineChange, errors=LINE_ERRORS,
              summary="Change a line's quantity, save it for later or move it back",
              response=responses.Cart)
async def change_line(request: web.Request, body: LineChange) -> web.Response:
    line_id = int_param(request, "line_id", "line in this cart")

    async def change(session, cart, ctx):
        await service.update_line(session, cart, line_id, ctx, quantity=body.quantity,
                                  saved_for_later=body.saved_for_later)
    return await _change(request, change)


@routes.delete(r"/api/carts/{token}/items/{line_id:\d+}", summary="Remove a line",
               errors=(404, 409, 410),
               response=responses.Cart)
async def remove_line(request: web.Request) -> web.Response:
    line_id = int_param(request, "line_id", "line in this cart")

    async def change(session, cart, ctx):
        await service.remove_line(session, cart, line_id, ctx)
    return await _change(request, change)


@routes.delete("/api/carts/{token}/items", summary="Empty the cart (saved-for-later stays)",
               errors=(404, 409, 410),
               response=responses.Cart)
async def clear_cart(request: web.Request) -> web.Response:
    return await _change(request, service.clear_cart)


@routes.put("/api/carts/{token}/promo-code", summary="Apply a promo code", body=PromoCodeInput,
            errors=(400, 404, 409, 410, 422),
            response=responses.Cart)
async def apply_promo_code(request: web.Request, body: PromoCodeInput) -> web.Response:
    """One code per cart (409 names the applied one). Unknown codes answer 404; expired, not
    yet valid, used up or minimum not met answer 422 with the reason (and ``missing``)."""
    async def change(session, cart, ctx):
        await service.apply_promo_code(session, cart, body.code, request.app[SETTINGS], ctx)
    return await _change(request, change)


@routes.delete("/api/carts/{token}/promo-code", summary="Remove the promo code",
               errors=(404, 409, 410),
               response=responses.Cart)
async def remove_promo_code(request: web.Request) -> web.Response:
    return await _change(request, service.remove_promo_code)


@routes.put("/api/carts/{token}/shipping", summary="Choose the destination and shipping method",
            body=ShippingChoice, errors=(400, 404, 409, 410, 422),
            response=responses.Cart)
async def choose_shipping(request: web.Request, body: ShippingChoice) -> web.Response:
    """Sets the country (for shipping and tax) and the method; a country not served answers
    422 with ``countries_served``, a method not offered there 422 with ``methods_available``."""
    async def change(session, cart, ctx):
        await service.choose_shipping(session, cart, body.country, body.method, ctx)
    return await _change(request, change)


@routes.get("/api/carts/{token}/shipping-options", query=ShippingOptionsQuery,
            summary="Shipping methods and prices for this cart", errors=(404, 410, 422),
            response=responses.ShippingOptions)
async def shipping_options(request: web.Request, query: ShippingOptionsQuery) -> web.Response:
    """Prices take the cart's free-shipping threshold and free-shipping code into account."""
    async with request.app[DB].read() as session:
        cart = await service.find_cart(session, _token(request))
        country = query.country or cart.country
        if not country:
            raise unprocessable("Which country should it ship to? Give ?country=XX "
                                "(ISO 3166-1 alpha-2).", type="country-required")
        priced = await service.price_cart(session, cart, request.app[SETTINGS])
        totals = priced.totals
        quotes = await pricing.shipping_quotes(
            session, country, totals.subtotal - totals.discount,
            bool(priced.promo and priced.promo.free_shipping))
    return json_response({
        "country": country, "currency": cart.currency,
        "options": [shipping_option_document(q, cart.currency) for q in quotes]})
