"""Checkout HTTP routes: the summary to confirm (holds nothing), the payment link (holds the
stock), where a checkout stands.

Both POSTs are public (a guest cart's token is the credential) and limited per client; the
payment link also counts the units the client holds (checkout/holds.py).
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ..app_keys import DB, PAYMENT_GATEWAY, SETTINGS
from ..consent import confirmation
from ..consent import service as consent
from ..events.service import EventContext
from ..orders import service as orders
from ..problems import Problem
from ..ratelimit import enforce, shopper_key
from .. import responses
from ..routing import ApiRoutes, json_response
from ..values import Email
from .address import Address
from .documents import checkout_document
from .service import CheckoutRequest, checkout_by_token, preview_checkout, start_checkout

routes = ApiRoutes("checkout")


class CheckoutInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email = Field(max_length=274, description="where the confirmation goes")
    shipping_address: Address
    shipping_method: str = Field(max_length=20, pattern=r"^[a-z_]{1,20}$",
                                 description="standard | express | pickup")
    promo_code: str | None = Field(None, min_length=1, max_length=40)


def _checkout_request(body: CheckoutInput) -> CheckoutRequest:
    return CheckoutRequest(email=body.email, address=body.shipping_address,
                           shipping_method=body.shipping_method, promo_code=body.promo_code)


@routes.post("/api/carts/{token}/checkout/preview",
             summary="The checkout summary to confirm (holds nothing)", body=CheckoutInput,
             errors=(400, 404, 409, 410, 422, 429),
             response=responses.CheckoutPreview)
async def post_checkout_preview(request: web.Request, body: CheckoutInput) -> web.Response:
    """The same checks and prices as the payment link (address, shipping method, promo
    code, stock) and the same summary (lines, shipping, discount, tax, total), with
    ``status: preview`` and no link: no stock is held and no payment session opened. The
    cart keeps the shipping method and code. ``hold`` says what asking for the link will
    hold, for how long, and the most one shopper may hold."""
    await enforce(request, "checkout-preview")
    document = await preview_checkout(
        request.app[DB], request.app[SETTINGS], request.match_info["token"],
        _checkout_request(body), EventContext.from_request(request))
    return json_response(document)


@routes.post("/api/carts/{token}/checkout", summary="Check out: the summary and a payment link",
             body=CheckoutInput, status=201, errors=(400, 404, 409, 410, 422, 429, 502),
             response=responses.Checkout)
async def post_checkout(request: web.Request, body: CheckoutInput) -> web.Response:
    """Validates the address for its country, the shipping method for that country, the
    promo code and the stock; holds the stock for CHECKOUT_MINUTES; returns the summary
    (lines, shipping, discount, tax, total) and the payment link. Asking again with the
    same cart and details returns the same open link. One client (an address; for the
    assistant, the web chat's browser, else the conversation) holds at most MAX_HELD_UNITS
    units at once: beyond, 409
    ``hold-limit``. X-Consent, when sent, is recorded as the shopper's decision; a grant of
    marketing or advertising for ``email`` waits for the address's owner to confirm it
    through the link mailed to them."""
    await enforce(request, "checkout")
    settings = request.app[SETTINGS]
    ctx = EventContext.from_request(request)
    checkout = await start_checkout(
        request.app[DB], request.app[PAYMENT_GATEWAY], settings, request.match_info["token"],
        _checkout_request(body), ctx, holder=shopper_key(request, settings))
    await confirmation.ask_owner(request, body.email,
                                 (ctx.purposes or frozenset()) & consent.NEEDS_OWNER)
    return json_response(checkout_document(checkout), status=201)


@routes.get("/api/checkouts/{token}", summary="Where a checkout stands (open, completed...)",
            errors=(404,),
            response=responses.Checkout)
async def get_checkout(request: web.Request) -> web.Response:
    """``completed`` carries the order number; ``expired`` and ``failed`` carry the reason
    (a new checkout on the same cart gives a new link)."""
    async with request.app[DB].read() as session:
        checkout = await checkout_by_token(session, request.match_info["token"])
        if checkout is None:
            raise Problem(404, "Not found", "No checkout with this token.", type="not-found")
        order = await orders.order_for_checkout(session, checkout.id)
    return json_response(checkout_document(checkout, order.number if order else None))
