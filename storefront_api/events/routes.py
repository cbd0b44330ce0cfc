"""POST /api/events: events the shop page or the chat widget reports itself (page views...)."""

from __future__ import annotations

from typing import Annotated, Union

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints
from typing_extensions import TypeAliasType

from ..app_keys import DB
from ..problems import unprocessable
from ..ratelimit import enforce
from .. import responses
from ..routing import ApiRoutes, json_response
from .service import EventContext, event_row, record_rows

routes = ApiRoutes("events")

# Recorded by the server itself when the change happens; a client may not claim them.
SERVER_EVENTS = frozenset({
    "view_item_list", "view_item", "add_to_cart", "remove_from_cart", "view_cart",
    "begin_checkout", "add_shipping_info", "add_payment_info", "purchase", "refund",
    "handoff_requested", "handoff_resolved", "order_status_changed", "return_requested",
    "cart_reminder_sent",
})


# Property values are JSON, bounded: no text long enough to keep a scrubber busy.
PropertyName = Annotated[str, StringConstraints(min_length=1, max_length=40)]
PropertyValue = TypeAliasType("PropertyValue", Union[
    Annotated[str, StringConstraints(max_length=500)], StrictBool, int, float, None,
    Annotated[list["PropertyValue"], Field(max_length=50)],
    Annotated[dict[PropertyName, "PropertyValue"], Field(max_length=30)]])


class ClientEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=40, pattern=r"^[a-z][a-z0-9_]{1,39}$",
                      description="GA4-style event name")
    item_id: str | None = Field(default=None, max_length=64)
    value: StrictInt | None = Field(default=None, ge=0, le=10**12, description="minor units")
    currency: str | None = Field(default=None, max_length=3, pattern=r"^[A-Z]{3}$")
    properties: dict[PropertyName, PropertyValue] = Field(default_factory=dict, max_length=30)


@routes.post("/api/events", summary="Record a client-side analytics event", body=ClientEvent,
             status=202, errors=(400, 413, 422, 429),
             response=responses.Accepted)
async def post_event(request: web.Request, body: ClientEvent) -> web.Response:
    """Headers X-Session-Id, X-Source, X-Device and X-Consent describe who sent it
    (X-Conversation-Id and X-Channel only from the assistant); without analytics consent,
    personal identifiers are dropped at every depth of ``properties``."""
    await enforce(request, "event")
    if body.name in SERVER_EVENTS:
        raise unprocessable(f"{body.name!r} is recorded by the shop itself when it happens; "
                            "clients may send other events (page_view, select_item, ...).",
                            type="server-owned-event")
    # bounded and scrubbed before the transaction: the write lock waits on no client's data
    row = event_row(body.name, EventContext.from_request(request), item_id=body.item_id,
                    value=body.value, currency=body.currency, properties=body.properties)
    async with request.app[DB].write() as session:
        await record_rows(session, [row])
    return json_response({"accepted": True}, status=202)
