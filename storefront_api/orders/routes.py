"""The shopper's order lookup: GET /api/orders/{number} with the order's e-mail or token.

Guessing is the threat (order numbers are short, e-mails are guessable), hence one answer for
every miss and a rate limit per client. Nothing personal is logged here: a miss is counted,
not described.
"""

from __future__ import annotations

import re

from aiohttp import web
from pydantic import BaseModel, Field, model_validator

from ..app_keys import DB, SETTINGS
from ..ratelimit import enforce
from .. import responses
from ..routing import ApiRoutes, json_response
from .documents import order_document
from .service import order_for_shopper, order_not_found

routes = ApiRoutes("orders")


class OrderLookup(BaseModel):
    email: str | None = Field(None, max_length=274, description="the e-mail used to order")
    token: str | None = Field(None, max_length=100,
                              description="the token of the link in the confirmation e-mail")

    @model_validator(mode="after")
    def _one_key(self):
        if not (self.email or "").strip() and not (self.token or "").strip():
            raise ValueError("give the order's email or its token")
        return self


@routes.get("/api/orders/{number}", summary="An order, for the shopper who placed it",
            query=OrderLookup, errors=(404, 422, 429), not_found=order_not_found,
            response=responses.Order)
async def get_order(request: web.Request, query: OrderLookup) -> web.Response:
    """Status (with a label and what it means), lines, totals, delivery method and address,
    status history, shipments with tracking, refunds. An unknown number, a wrong e-mail and
    a wrong token give the same 404. Limited to ORDER_LOOKUPS_PER_MINUTE per client (429
    with Retry-After)."""
    settings = request.app[SETTINGS]
    await enforce(request, "order-lookup")
    number = request.match_info["number"]
    if not re.fullmatch(r"\s*[A-Za-z0-9-]{1,20}\s*", number):  # cannot be one of ours
        raise order_not_found(number)
    async with request.app[DB].read() as session:
        order = await order_for_shopper(session, number, email=query.email, token=query.token,
                                        secret_key=settings.secret_key)
        document = await order_document(session, order, settings)
    return json_response(document, headers={"Cache-Control": "no-store"})
