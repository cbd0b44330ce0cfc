"""After-sales HTTP routes: a shopper's cancellation, returns and refunds under
/api/orders/{number} (opened with the order's e-mail or its signed token, like the lookup),
and the merchant's handling of returns and refunds under /api/admin."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

from ..app_keys import DB, PAYMENT_GATEWAY, SETTINGS
from ..events.service import EventContext
from ..money import format_money, money
from ..orders import service as orders
from ..ratelimit import enforce
from .. import responses
from ..routing import ApiRoutes, int_param, json_response
from . import refunds, service

routes = ApiRoutes("after-sales")

SHOPPER_ERRORS = (400, 404, 409, 422, 429)
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Sku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class OrderProof(BaseModel):
    """Who may act on an order: whoever knows its e-mail, or holds its signed token."""
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(None, min_length=1, max_length=320,
                              description="the e-mail address used to order")
    token: str | None = Field(None, min_length=1, max_length=100,
                              description="the order's signed token (e-mail links, the chat)")

    @model_validator(mode="after")
    def _given(self):
        if not (self.email or "").strip() and not (self.token or "").strip():
            raise ValueError("give the order's email (or its token)")
        return self


class CancelInput(OrderProof):
    reason: Reason = ""


class ReturnItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku
    quantity: StrictInt = Field(ge=1, le=1000)
    exchange_sku: Sku | None = Field(None, description="exchanges only; default: the same SKU")


class ReturnInput(OrderProof):
    kind: Literal["return", "exchange"]
    items: list[ReturnItem] = Field(min_length=1, max_length=50)
    reason: Annotated[Reason, StringConstraints(min_length=1)]

    @model_validator(mode="after")
    def _consistent(self):
        skus = [item.sku.casefold() for item in self.items]
        if len(set(skus)) != len(skus):
            raise ValueError("list each SKU once, with the quantity to send back")
        if self.kind == "return" and any(item.exchange_sku for item in self.items):
            raise ValueError("exchange_sku is for exchanges (kind=exchange)")
        return self


class ApproveInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Reason = Field("", description="passed on to the shopper, e.g. a return address")


class RejectInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[Reason, StringConstraints(min_length=1)] = Field(
        description="why, in words for the shopper")


class ReceiveInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    restock: StrictBool = Field(True, description="false when the items cannot be sold again")


class ReturnsQuery(BaseModel):
    status: Literal["requested", "approved", "rejected", "received", "refunded",
                    "exchanged"] | None = None
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=10**6)


class RefundsQuery(BaseModel):
    status: Literal["pending", "succeeded", "failed"] | None = None
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=10**6)


async def count_order_lookup(request: web.Request) -> None:
    """Number + e-mail opens an order here as in the lookup, so a guess costs the same: one
    token of the client's order-lookup bucket (429 when it is empty)."""
    await enforce(request, "order-lookup")


async def _shopper_order(request: web.Request, session, proof: OrderProof, *,
                         for_update: bool = False):
    return await orders.order_for_shopper(
        session, request.match_info["number"], email=proof.email, token=proof.token,
        secret_key=request.app[SETTINGS].secret_key, for_update=for_update)


# --- the shopper ---------------------------------------------------------------------------

@routes.post("/api/orders/{number}/cancel", summary="Cancel an order before it ships",
             body=CancelInput, errors=SHOPPER_ERRORS,
             response=responses.Cancellation)
async def cancel_order(request: web.Request, body: CancelInput) -> web.Response:
    """Allowed while awaiting preparation or being prepared (409 once shipped, pointing to
    returns). Stock goes back and the whole amount is refunded. Cancelling again answers with
    the first cancellation and never refunds twice."""
    await count_order_lookup(request)
    ctx = EventContext.from_request(request)
    async with request.app[DB].write() as session:
        order = await _shopper_order(request, session, body, for_update=True)
        done = await service.cancel_order(session, order, body.reason,
                                          service.shopper_context(order, ctx))
        cancelled_at = service.last_change(order, "cancelled")
    refund = done.refund
    if done.new and refund is not None:
        refund = await refunds.issue(request.app[DB], request.app[PAYMENT_GATEWAY], refund.id,
                                     ctx)
    status = "refunded" if refund is not None and refund.status == "succeeded" \
        else order.status
    return json_response({
        "order_number": order.number, "status": status, "already_cancelled": not done.new,
        "cancelled_at": service.iso(cancelled_at),
        "refund": refunds.refund_document(refund) if refund else None,
        "message": _cancel_message(order.number, refund)})


def _cancel_message(number: str, refund) -> str:
    said = f"Order {number} is cancelled."
    if refund is None:
        return said + " Nothing was paid, so there is nothing to refund."
    amount = format_money(refund.amount, refund.currency)
    if refund.status == "succeeded":
        return said + f" {amount} has been refunded to the card used to pay."
    if refund.status == "failed":
        return said + (f" The refund of {amount} did not go through yet "
                       f"({refund.failure_reason}); the shop will retry it.")
    return said + f" The refund of {amount} is being processed."


@routes.post("/api/orders/{number}/returns", summary="Request a return or an exchange",
             body=ReturnInput, status=201, errors=SHOPPER_ERRORS,
             response=responses.Return)
async def request_return(request: web.Request, body: ReturnInput) -> web.Response:
    """For delivered items, within RETURN_WINDOW_DAYS of delivery (422 with the date it
    closed). Answers with the RMA number the shopper writes on the parcel."""
    await count_order_lookup(request)
    settings = request.app[SETTINGS]
    async with request.app[DB].write() as session:
        order = await _shopper_order(request, session, body, for_update=True)
        created = await service.request_return(
            session, order, kind=body.kind, items=body.items, reason=body.reason,
            window_days=settings.return_window_days, ctx=EventContext.from_request(request))
        document = (await service.return_documents(session, order, [created]))[0]
    return json_response(document, status=201)


@routes.get("/api/orders/{number}/returns", summary="An order's returns and exchanges",
            query=OrderProof, errors=(404, 422, 429),
            response=responses.OrderReturns)
async def list_returns(request: web.Request, query: OrderProof) -> web.Response:
    await count_order_lookup(request)
    days = request.app[SETTINGS].return_window_days
    async with request.app[DB].read() as session:
        order = await _shopper_order(request, session, query)
        found = await service.returns_of_order(session, order.id)
        documents = await service.return_documents(session, order, found)
    closes = service.window_closes(order, days)
    return json_response({"order_number": order.number, "return_window_days": days,
                          "return_window_closes_on": closes.date().isoformat() if closes
                          else None, "returns": documents})


@routes.get("/api/orders/{number}/refunds", summary="An order's refunds and their status",
            query=OrderProof, errors=(404, 422, 429),
            response=responses.OrderRefunds)
async def list_refunds(request: web.Request, query: OrderProof) -> web.Response:
    await count_order_lookup(request)
    async with request.app[DB].read() as session:
        order = await _shopper_order(request, session, query)
        documents = await refunds.refund_documents(session, order)
    return json_response({"order_number": order.number, "order_status": order.status,
                          "total": money(order.total, order.currency),
                          "refunded": money(order.refunded, order.currency),
                          "refunds": documents})


# --- the merchant --------------------------------------------------------------------------

@routes.get("/api/admin/returns", summary="Returns and exchanges, newest first",
            query=ReturnsQuery, auth="merchant", errors=(401, 422),
            response=responses.Returns)
async def admin_list_returns(request: web.Request, query: ReturnsQuery) -> web.Response:
    async with request.app[DB].read() as session:
        documents = await service.merchant_returns(session, query.status, query.limit,
                                                   query.offset)
    return json_response({"returns": documents})


async def _return_change(request: web.Request, change) -> web.Response:
    """Run ``change(session, return, order)`` on a locked return; then pay any refund."""
    async with request.app[DB].write() as session:
        found, order = await service.locked_return(session, request.match_info["rma"])
        refund = await change(session, found, order)
    if refund is not None:
        refund = await refunds.issue(request.app[DB], request.app[PAYMENT_GATEWAY], refund.id,
                                     EventContext.from_request(request))
    async with request.app[DB].read() as session:
        found, order = await service.return_with_order(session, found.rma_number)
        document: dict[str, Any] = (await service.return_documents(session, order, [found]))[0]
    document["refund"] = refunds.refund_document(refund, found.rma_number) if refund else None
    return json_response(document)


@routes.post("/api/admin/returns/{rma}/approve", summary="Approve a return request",
             body=ApproveInput, auth="merchant", errors=(400, 401, 404, 409, 422),
             response=responses.HandledReturn)
async def approve_return(request: web.Request, body: ApproveInput) -> web.Response:
    async def change(session, found, order):
        await service.approve_return(session, found, order, body.note)
    return await _return_change(request, change)


@routes.post("/api/admin/returns/{rma}/reject", summary="Reject a return request",
             body=RejectInput, auth="merchant", errors=(400, 401, 404, 409, 422),
             response=responses.HandledReturn)
async def reject_return(request: web.Request, body: RejectInput) -> web.Response:
    async def change(session, found, order):
        await service.reject_return(session, found, order, body.note)
    return await _return_change(request, change)


@routes.post("/api/admin/returns/{rma}/receive", summary="Record a returned parcel",
             body=ReceiveInput, auth="merchant", errors=(400, 401, 404, 409, 422),
             response=responses.HandledReturn)
async def receive_return(request: web.Request, body: ReceiveInput) -> web.Response:
    """Units counted as returned and put back in stock (unless restock=false). A return is
    refunded its units' share of what was paid (partial refunds); an exchange takes the
    replacement from stock (409 if there is none) and refunds nothing."""
    async def change(session, found, order):
        return await service.receive_return(session, found, order, restock=body.restock,
                                            ctx=EventContext.from_request(request))
    return await _return_change(request, change)


@routes.get("/api/admin/refunds", summary="Refunds, newest first (failed ones to retry)",
            query=RefundsQuery, auth="merchant", errors=(401, 422),
            response=responses.Refunds)
async def admin_list_refunds(request: web.Request, query: RefundsQuery) -> web.Response:
    async with request.app[DB].read() as session:
        documents = await refunds.merchant_refunds(session, query.status, query.limit,
                                                   query.offset)
    return json_response({"refunds": documents})


@routes.post(r"/api/admin/refunds/{refund_id:\d+}/retry", summary="Retry a refund",
             auth="merchant", errors=(401, 404, 409),
             response=responses.Refund)
async def retry_refund(request: web.Request) -> web.Response:
    """Asks the gateway again with the same idempotency key, so a refund that did go
    through the first time is never paid twice. 409 if it already succeeded."""
    refund = await refunds.retry(request.app[DB], request.app[PAYMENT_GATEWAY],
                                 int_param(request, "refund_id", "refund"))
    return json_response(refunds.refund_document(refund))
