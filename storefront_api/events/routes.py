"""POST /api/events: events the shop page or the chat widget reports itself (page views...)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ..app_keys import DB
from ..problems import unprocessable
from ..routing import ApiRoutes, json_response
from .service import EventContext, record_event

routes = ApiRoutes("events")

# Recorded by the server itself when the change happens; a client may not claim them.
SERVER_EVENTS = frozenset({
    "view_item_list", "view_item", "add_to_cart", "remove_from_cart", "view_cart",
    "begin_checkout", "add_shipping_info", "add_payment_info", "purchase", "refund",
    "handoff_requested", "handoff_resolved", "order_status_changed", "return_requested",
    "cart_reminder_sent",
})


class ClientEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$", description="GA4-style event name")
    item_id: str | None = Field(default=None, max_length=64)
    value: int | None = Field(default=None, ge=0, le=10**12, description="minor units")
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    properties: dict[str, Any] = Field(default_factory=dict, max_length=30)


@routes.post("/api/events", summary="Record a client-side analytics event", body=ClientEvent,
             status=202, errors=(400, 413, 422))
async def post_event(request: web.Request, body: ClientEvent) -> web.Response:
    """Headers X-Session-Id, X-Conversation-Id, X-Channel, X-Source, X-Device and X-Consent
    describe who sent it; without consent, personal identifiers are dropped."""
    if body.name in SERVER_EVENTS:
        raise unprocessable(f"{body.name!r} is recorded by the shop itself when it happens; "
                            "clients may send other events (page_view, select_item, ...).",
                            type="server-owned-event")
    ctx = EventContext.from_request(request)
    async with request.app[DB].write() as session:
        await record_event(session, body.name, ctx, item_id=body.item_id, value=body.value,
                           currency=body.currency, properties=body.properties)
    return json_response({"accepted": True}, status=202)
