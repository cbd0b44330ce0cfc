"""Fulfilment HTTP routes. The merchant's, under /api/admin (bearer ADMIN_TOKEN): orders,
their status, shipments and scans, stock. The shopper's: back-in-stock alerts and the
public tracking of a parcel (JSON, and the page the tracking links open)."""

from __future__ import annotations

import html
import re
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from ..app_keys import DB, SETTINGS
from ..values import is_valid_email, normalise_email
from ..events.service import EventContext
from ..orders.documents import order_document, order_summary, shipment_document
from ..orders.models import ORDER_STATUSES
from ..orders.service import order_context
from ..problems import Problem, unprocessable
from ..auth import forbidden, is_service_call
from ..ratelimit import enforce
from .. import responses
from ..routing import MAX_DB_INT, ApiRoutes, int_param, json_response
from ..values import iso
from . import service, stock
from .carriers import CARRIERS
from .models import TRACKING_STEPS, Shipment


class _FulfilmentRoutes(ApiRoutes):
    def register(self, app: web.Application) -> None:
        super().register(app)
        # The page tracking links open: HTML for people, so not part of the API document.
        app.router.add_get("/track/{tracking_number}", tracking_page)


routes = _FulfilmentRoutes("fulfilment")

MAX_STOCK = 1_000_000
OrderStatus = Literal[ORDER_STATUSES]
PLAIN = r"^[^\x00-\x1f\x7f]*$"  # one line of text, no control characters (PostgreSQL refuses NUL)


class OrderListQuery(BaseModel):
    status: OrderStatus | None = Field(None, description="only orders in this status")
    page: int = Field(1, ge=1, le=10_000)
    page_size: int = Field(50, ge=1, le=200)


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: OrderStatus
    note: str = Field("", max_length=500, pattern=PLAIN,
                      description="kept in the order's history")


class ShipmentInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    carrier: Literal[tuple(CARRIERS)] | None = Field(None, description="default aisle_express")


class ScanInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal[TRACKING_STEPS] | None = Field(None, description="default: the next step")
    location: str | None = Field(None, min_length=1, max_length=120, pattern=PLAIN)
    description: str | None = Field(None, min_length=1, max_length=255, pattern=PLAIN)


class StockInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stock: StrictInt = Field(ge=0, le=MAX_STOCK, description="units on hand")


class LowStockQuery(BaseModel):
    threshold: int = Field(5, ge=0, le=MAX_STOCK, description="at most this many units")
    page: int = Field(1, ge=1, le=10_000)
    page_size: int = Field(100, ge=1, le=500)


class BackInStockInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variant_id: StrictInt = Field(ge=1, le=MAX_DB_INT)
    email: str | None = Field(None, max_length=274)
    conversation_id: str | None = Field(None, min_length=1, max_length=128, pattern=PLAIN,
                                        description="default: the X-Conversation-Id header")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        email = normalise_email(value)
        if not is_valid_email(email) or not re.fullmatch(PLAIN, email):
            raise ValueError("not a valid email address")
        return email


def _variant_document(variant) -> dict:
    return {"variant_id": variant.id, "sku": variant.sku, "product_id": variant.product_id,
            "product_title": variant.product_title, "variant_title": variant.title,
            "stock": variant.stock, "reserved": variant.reserved,
            "available": variant.available}


# --- merchant: orders ---------------------------------------------------------------------

@routes.get("/api/admin/orders", summary="Orders, newest first", query=OrderListQuery,
            auth="merchant", errors=(422,),
            response=responses.OrderList)
async def list_orders(request: web.Request, query: OrderListQuery) -> web.Response:
    async with request.app[DB].read() as session:
        orders, total = await service.list_orders(session, status=query.status, page=query.page,
                                                   page_size=query.page_size)
    return json_response({"items": [order_summary(o) for o in orders], "total": total,
                          "page": query.page, "page_size": query.page_size})


@routes.get("/api/admin/orders/{number}", summary="An order, with the shopper's details",
            auth="merchant", errors=(404,),
            response=responses.MerchantOrder)
async def get_order(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    async with request.app[DB].read() as session:
        order = await service.find_order(session, request.match_info["number"])
        document = await order_document(session, order, settings, for_merchant=True)
    return json_response(document)


async def _admin_order_answer(request, session, order, status: int = 200) -> web.Response:
    document = await order_document(session, order, request.app[SETTINGS], for_merchant=True)
    return json_response(document, status=status)


@routes.post("/api/admin/orders/{number}/status", summary="Move an order to another status",
             body=StatusChange, auth="merchant", errors=(400, 404, 409, 422),
             response=responses.MerchantOrder)
async def change_order_status(request: web.Request, body: StatusChange) -> web.Response:
    """Only legal transitions (409 naming the allowed ones). Shipping, cancelling and
    refunding have their own routes (409 ``status-has-own-route`` says which)."""
    settings = request.app[SETTINGS]
    async with request.app[DB].write() as session:
        order = await service.find_order(session, request.match_info["number"], for_update=True)
        ctx = order_context(order, EventContext.from_request(request))
        await service.set_order_status(session, order, body.status, body.note, ctx, settings)
        return await _admin_order_answer(request, session, order)


@routes.post("/api/admin/orders/{number}/shipments", summary="Ship an order (carrier label)",
             body=ShipmentInput, status=201, auth="merchant", errors=(400, 404, 409, 422),
             response=responses.MerchantOrder)
async def create_shipment(request: web.Request, body: ShipmentInput) -> web.Response:
    """Creates the label (tracking number and link), moves the order to shipped (through
    being_prepared if it was still awaiting preparation) and e-mails the shopper."""
    settings = request.app[SETTINGS]
    async with request.app[DB].write() as session:
        order = await service.find_order(session, request.match_info["number"], for_update=True)
        ctx = order_context(order, EventContext.from_request(request))
        await service.ship_order(session, order, body.carrier, ctx, settings)
        return await _admin_order_answer(request, session, order, status=201)


@routes.post("/api/admin/shipments/{tracking_number}/events", summary="Record a parcel scan",
             body=ScanInput, status=201, auth="merchant", errors=(400, 404, 409, 422),
             response=responses.ScannedShipment)
async def add_tracking_event(request: web.Request, body: ScanInput) -> web.Response:
    """Without ``status``, the next step of picked_up, in_transit, at_sorting_centre,
    out_for_delivery, delivered; location and description default to the carrier's. The
    delivered scan moves the order to delivered."""
    settings = request.app[SETTINGS]
    async with request.app[DB].write() as session:
        shipment = await service.find_shipment(session, request.match_info["tracking_number"],
                                               for_update=True)
        order = await service.record_scan(
            session, shipment, status=body.status, location=body.location,
            description=body.description, ctx=EventContext.from_request(request),
            settings=settings)
        return json_response({**shipment_document(shipment), "order_number": order.number,
                              "order_status": order.status}, status=201)


# --- merchant: stock ----------------------------------------------------------------------

@routes.put("/api/admin/variants/{variant_id:\\d+}/stock", summary="Set a variant's stock",
            body=StockInput, auth="merchant", errors=(400, 404, 422),
            response=responses.StockChange)
async def set_stock(request: web.Request, body: StockInput) -> web.Response:
    """Search filters follow at once; when the variant can be bought again, everyone waiting
    for it is told (e-mail and/or chat, through the outbox)."""
    variant_id = int_param(request, "variant_id", "variant")
    async with request.app[DB].write() as session:
        variant, notified = await stock.set_stock(session, variant_id, body.stock,
                                                    request.app[SETTINGS])
    return json_response({**_variant_document(variant), "subscribers_notified": notified})


@routes.get("/api/admin/stock/low", summary="Variants running out", query=LowStockQuery,
            auth="merchant", errors=(422,),
            response=responses.LowStock)
async def low_stock(request: web.Request, query: LowStockQuery) -> web.Response:
    async with request.app[DB].read() as session:
        variants, total = await stock.low_stock(session, query.threshold, page=query.page,
                                                  page_size=query.page_size)
    return json_response({"threshold": query.threshold, "total": total, "page": query.page,
                          "items": [_variant_document(v) for v in variants]})


# --- shoppers -------------------------------------------------------------------------------

@routes.post("/api/back-in-stock", summary="Be told when a sold-out variant is back",
             body=BackInStockInput, status=201, errors=(400, 403, 404, 409, 422, 429),
             response=responses.BackInStockSubscription, also_ok=(200,))
async def subscribe_back_in_stock(request: web.Request, body: BackInStockInput) -> web.Response:
    """By e-mail, in the chat (conversation_id, or the X-Conversation-Id header), or both.
    Only for a variant that cannot be bought now (409 ``variant-available`` otherwise). Asking
    again is the same subscription: 200 instead of 201. Limited per client like order
    lookups, so nobody can sign up a list of strangers' addresses."""
    await enforce(request, "back-in-stock")
    ctx = EventContext.from_request(request)
    if body.conversation_id and not is_service_call(request):
        raise forbidden("Only Aisle's assistant may subscribe a chat conversation; "
                        "give an email instead.")
    conversation_id = body.conversation_id or ctx.conversation_id
    if not body.email and not conversation_id:
        raise unprocessable("Give an email, a conversation_id, or both: where should we tell "
                            "you?", type="validation-error",
                            errors=[{"field": "body", "message": "email or conversation_id"}])
    async with request.app[DB].write() as session:
        subscription, created = await stock.subscribe(
            session, body.variant_id, email=body.email, conversation_id=conversation_id,
            channel=ctx.channel)
        document = {"variant_id": subscription.variant_id, "email": subscription.email,
                    "conversation_id": subscription.conversation_id,
                    "created_at": iso(subscription.created_at), "already_subscribed": not created}
    return json_response(document, status=201 if created else 200)


async def _public_shipment(request: web.Request) -> Shipment:
    await enforce(request, "tracking")
    async with request.app[DB].read() as session:
        return await service.find_shipment(session, request.match_info["tracking_number"][:64])


@routes.get("/api/tracking/{tracking_number}", summary="Where a parcel is",
            errors=(404, 429),
            response=responses.Shipment)
async def get_tracking(request: web.Request) -> web.Response:
    """The carrier's scans, without anything about the order or the shopper."""
    return json_response(shipment_document(await _public_shipment(request)))


def _page(title: str, content: str) -> str:
    return ("<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport "
            f"content='width=device-width'><title>{html.escape(title)}</title><style>"
            "body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;"
            "padding:0 1rem}td{padding:.3rem .6rem;border-bottom:1px solid #ddd}</style>"
            f"</head><body>{content}</body></html>")


async def tracking_page(request: web.Request) -> web.Response:
    """GET /track/{tracking_number}: the scans as a small HTML page (the e-mails link here)."""
    esc = html.escape
    try:
        document = shipment_document(await _public_shipment(request))
    except Problem as problem:  # unknown number, too many tries: a page, not JSON
        headers = {k: v for k, v in problem.headers.items() if k == "Retry-After"}
        return web.Response(text=_page(problem.body_dict["title"], f"<h1>Parcel tracking</h1>"
                                       f"<p>{esc(problem.body_dict['detail'])}</p>"),
                            status=problem.status, content_type="text/html", headers=headers)
    rows = "".join(f"<tr><td>{esc(e['at'][:16].replace('T', ' '))}</td><td>{esc(e['label'])}"
                   f"</td><td>{esc(e['location'])}</td><td>{esc(e['description'])}</td></tr>"
                   for e in reversed(document["events"]))
    status = document["status_label"] or "Label created"
    number = document["tracking_number"]
    return web.Response(content_type="text/html", text=_page(number, (
        f"<h1>{esc(document['carrier_name'])} {esc(number)}</h1><p><strong>{esc(status)}"
        "</strong></p><table><tr><th>When (UTC)</th><th>Status</th><th>Where</th><th></th>"
        f"</tr>{rows}</table>")))
