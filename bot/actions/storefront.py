"""The one way the actions reach storefront_api: a small aiohttp client.

Every call carries the conversation id and channel (X-Conversation-Id, X-Channel) so the
shop's events and orders join up with the conversation. Idempotent calls (GET, PUT, DELETE)
are retried on connection errors, timeouts and 502/503/504. A change (POST, PATCH, DELETE)
made in a conversation carries an ``Idempotency-Key``: a digest of the conversation, the
point of the conversation it is made at (its session and how many events that session had
when the action ran) and the request itself. The same action run again at the same point
(the action server restarted and Rasa called it again, a Rasa replica died mid-turn and the
other ran the turn again, a shopper who got "try again" and typed it again) sends the same
key, and the shop applies the change once (storefront_api/cart/idempotency.py). The cart
changes, which the shop keys, are therefore retried like idempotent calls; other POSTs are
not (a ticket or a return sent twice would be two), and two identical calls within one run
of an action count as one. When the API cannot be reached the caller gets
``StorefrontUnavailable`` and tells the shopper to try again in a moment; an answer the API
refused (4xx) comes back as ``StorefrontProblem`` with the RFC 7807 document.

Domain calls (search, carts, checkout, orders, support) are methods of ``Storefront``,
grouped by skill below the transport.
"""

from __future__ import annotations

import asyncio
import hashlib
import json as jsonlib
import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

RETRIED_METHODS = frozenset({"GET", "PUT", "DELETE", "HEAD"})
RETRIED_STATUSES = frozenset({502, 503, 504})
CHANGES = frozenset({"POST", "PATCH", "DELETE", "PUT"})
# changes the shop applies once per Idempotency-Key, or that are harmless to repeat (a
# checkout asked again returns the same open payment link): retried as well
KEYED_CHANGES = re.compile(r"^/api/carts(/[^/]+/(items(/\d+)?|promo-code|checkout(/preview)?))?$")


class StorefrontUnavailable(Exception):
    """The API did not answer (down, timed out, or failing): worth another try later."""


@dataclass
class StorefrontProblem(Exception):
    """The API answered with an error document: the request itself was refused."""

    status: int
    title: str = ""
    detail: str = ""
    document: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.detail}".strip()


@dataclass(frozen=True)
class CallContext:
    """Who is asking: sent as headers so events and orders carry the conversation."""

    conversation_id: str | None = None
    channel: str | None = None
    # the web chat's browser, as storefront_api keyed it in the chat token: the shop counts
    # its limits and stock holds per browser, however many conversations it starts
    client: str | None = None
    # where in the conversation the action runs: "<session start>:<events since>" (the
    # actions' call_context); with it, changes carry an Idempotency-Key
    point: str | None = None

    def idempotency_key(self, method: str, path: str, params: dict, body: Any) -> str | None:
        """The key of a change made at this point of the conversation (None for a read or
        without a point): the same request at the same point has the same key."""
        if method not in CHANGES or not self.conversation_id or not self.point:
            return None
        request = jsonlib.dumps([method, path, params, body], sort_keys=True, default=str)
        digest = hashlib.sha256(f"{self.conversation_id}\n{self.point}\n{request}".encode())
        return "chat-" + digest.hexdigest()[:48]

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.conversation_id:
            headers["X-Conversation-Id"] = self.conversation_id[:128]
            headers["X-Session-Id"] = self.conversation_id[:128]
        if self.channel:
            headers["X-Channel"] = self.channel[:40]
        if self.client:
            headers["X-Aisle-Client"] = self.client[:64]
        return headers


def path_part(value: str | int) -> str:
    """A value placed in a URL path, escaped so it can never change the path."""
    return quote(str(value), safe="")


class Storefront:
    """storefront_api over HTTP. One instance (and one connection pool) per process."""

    def __init__(self, base_url: str | None = None, *, timeout: float | None = None,
                 retries: int = 2, backoff: float = 0.15,
                 service_token: str | None = None) -> None:
        self.base_url = (base_url or os.environ.get("STOREFRONT_URL")
                         or "http://127.0.0.1:8080").rstrip("/")
        # The service credential shared with storefront_api: without it the API ignores the
        # conversation headers and refuses conversation-scoped calls (handoffs).
        token = service_token if service_token is not None else os.environ.get(
            "SERVICE_TOKEN", "")
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        total = timeout if timeout is not None else float(
            os.environ.get("STOREFRONT_TIMEOUT_SECONDS", "5"))
        self._timeout = aiohttp.ClientTimeout(total=total, connect=min(2.0, total))
        self.retries = retries
        self.backoff = backoff
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._minor_units: int | None = None

    def _client(self) -> aiohttp.ClientSession:
        # A session belongs to the loop it was made in; tests run each case in a new loop.
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"Accept": "application/json"},
                connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=30))
            self._session_loop = loop
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def request(self, method: str, path: str, ctx: CallContext | None = None, *,
                      params: dict[str, Any] | None = None, json: Any = None,
                      headers: dict[str, str] | None = None) -> Any:
        """The JSON answer of ``method path``; raises StorefrontUnavailable or
        StorefrontProblem."""
        method = method.upper()
        all_headers = {**self._auth, **(ctx.headers() if ctx else {}), **(headers or {})}
        clean_params = {key: _param(value) for key, value in (params or {}).items()
                        if value is not None}
        key = ctx.idempotency_key(method, path, clean_params, json) if ctx else None
        if key:
            all_headers["Idempotency-Key"] = key
        retried = method in RETRIED_METHODS or bool(key and KEYED_CHANGES.match(path))
        attempts = 1 + (self.retries if retried else 0)
        last_error: Exception | None = None
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self.backoff * (2 ** (attempt - 1)))
            try:
                async with self._client().request(method, self.base_url + path,
                                                  params=clean_params, json=json,
                                                  headers=all_headers) as response:
                    if response.status in RETRIED_STATUSES:
                        last_error = StorefrontUnavailable(f"{method} {path}: {response.status}")
                        continue
                    return await _answer(response)
            except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as error:
                last_error = error
        raise StorefrontUnavailable(f"{method} {path}: {last_error!r}")

    async def get(self, path: str, ctx: CallContext | None = None, **kwargs) -> Any:
        return await self.request("GET", path, ctx, **kwargs)

    async def post(self, path: str, ctx: CallContext | None = None, **kwargs) -> Any:
        return await self.request("POST", path, ctx, **kwargs)

    async def put(self, path: str, ctx: CallContext | None = None, **kwargs) -> Any:
        return await self.request("PUT", path, ctx, **kwargs)

    async def delete(self, path: str, ctx: CallContext | None = None, **kwargs) -> Any:
        return await self.request("DELETE", path, ctx, **kwargs)

    # ---- domain calls, grouped by skill (add yours in your section) ----------------------

    # == catalog and cart (shopping skills) ==

    async def minor_units(self, ctx: CallContext | None = None) -> int:
        """Decimals of the shop's currency (2 for USD, 0 for JPY): every amount the API takes
        is in its minor units. Asked once per process; the shop's currency does not change
        while it runs."""
        if self._minor_units is None:
            answer = await self.get("/api/shop", ctx)
            self._minor_units = int(answer["minor_units"])
        return self._minor_units

    async def search_products(self, ctx: CallContext, **params: Any) -> dict[str, Any]:
        """GET /api/products: ``params`` are its query parameters (q, category, color...)."""
        return await self.get("/api/products", ctx, params=params)

    async def product(self, ctx: CallContext, product_id: int) -> dict[str, Any]:
        return await self.get(f"/api/products/{path_part(product_id)}", ctx)

    async def similar_products(self, ctx: CallContext, product_id: int) -> list[dict[str, Any]]:
        answer = await self.get(f"/api/products/{path_part(product_id)}/similar", ctx)
        return answer.get("items", [])

    async def create_cart(self, ctx: CallContext) -> dict[str, Any]:
        return await self.post("/api/carts", ctx)

    async def cart(self, ctx: CallContext, token: str) -> dict[str, Any]:
        return await self.get(f"/api/carts/{path_part(token)}", ctx)

    async def add_to_cart(self, ctx: CallContext, token: str, variant_id: int,
                          quantity: int = 1) -> dict[str, Any]:
        return await self.post(f"/api/carts/{path_part(token)}/items", ctx,
                               json={"variant_id": variant_id, "quantity": quantity})

    async def change_line(self, ctx: CallContext, token: str, line_id: int, *,
                          quantity: int | None = None,
                          saved_for_later: bool | None = None) -> dict[str, Any]:
        body = {key: value for key, value in (("quantity", quantity),
                                              ("saved_for_later", saved_for_later))
                if value is not None}
        return await self.request("PATCH", f"/api/carts/{path_part(token)}/items/"
                                  f"{path_part(line_id)}", ctx, json=body)

    async def remove_line(self, ctx: CallContext, token: str, line_id: int) -> dict[str, Any]:
        return await self.delete(f"/api/carts/{path_part(token)}/items/{path_part(line_id)}",
                                 ctx)

    async def apply_promo_code(self, ctx: CallContext, token: str, code: str) -> dict[str, Any]:
        return await self.put(f"/api/carts/{path_part(token)}/promo-code", ctx,
                              json={"code": code})

    async def subscribe_back_in_stock(self, ctx: CallContext, variant_id: int,
                                      email: str | None = None) -> dict[str, Any]:
        """The alert comes to this conversation (X-Conversation-Id) and, if given, by email."""
        body: dict[str, Any] = {"variant_id": variant_id}
        if email:
            body["email"] = email
        return await self.post("/api/back-in-stock", ctx, json=body)

    # == checkout and payment ==

    async def countries_served(self, ctx: CallContext) -> list[str]:
        answer = await self.get("/api/shipping-methods", ctx)
        return list(answer.get("countries_served", []))

    async def shipping_options(self, ctx: CallContext, token: str,
                               country: str) -> list[dict[str, Any]]:
        answer = await self.get(f"/api/carts/{path_part(token)}/shipping-options", ctx,
                                params={"country": country})
        return answer.get("options", [])

    async def checkout_preview(self, ctx: CallContext, token: str, *, email: str,
                               address: dict[str, Any], shipping_method: str) -> dict[str, Any]:
        """The priced summary to confirm: no payment link, no stock held."""
        return await self.post(f"/api/carts/{path_part(token)}/checkout/preview", ctx,
                               json={"email": email, "shipping_address": address,
                                     "shipping_method": shipping_method})

    async def checkout(self, ctx: CallContext, token: str, *, email: str,
                       address: dict[str, Any], shipping_method: str) -> dict[str, Any]:
        """The priced summary and the payment link, which holds the stock (409 ``hold-limit``
        past the per-shopper cap); the same details give the same open link."""
        return await self.post(f"/api/carts/{path_part(token)}/checkout", ctx,
                               json={"email": email, "shipping_address": address,
                                     "shipping_method": shipping_method})

    # == orders and after-sales ==

    # Every order call proves the shopper's right to the order with its e-mail; the API
    # answers 404 for an unknown number and a wrong e-mail alike.

    async def order(self, number: str, email: str, ctx: CallContext | None = None) -> dict:
        """The order document (status, lines, shipments with tracking, refunds)."""
        return await self.get(f"/api/orders/{path_part(number)}", ctx, params={"email": email})

    async def cancel_order(self, number: str, email: str, ctx: CallContext | None = None, *,
                           reason: str = "") -> dict:
        """Cancel before shipping (409 ``order-not-cancellable`` once it has shipped)."""
        return await self.post(f"/api/orders/{path_part(number)}/cancel", ctx,
                               json={"email": email, "reason": reason})

    async def request_return(self, number: str, email: str, ctx: CallContext | None = None,
                             *, kind: str, items: list[dict], reason: str) -> dict:
        """A return or exchange request: items [{"sku", "quantity"}]; answers with the RMA."""
        return await self.post(f"/api/orders/{path_part(number)}/returns", ctx,
                               json={"email": email, "kind": kind, "items": items,
                                     "reason": reason})

    async def order_returns(self, number: str, email: str,
                            ctx: CallContext | None = None) -> dict:
        return await self.get(f"/api/orders/{path_part(number)}/returns", ctx,
                              params={"email": email})

    async def order_refunds(self, number: str, email: str,
                            ctx: CallContext | None = None) -> dict:
        return await self.get(f"/api/orders/{path_part(number)}/refunds", ctx,
                              params={"email": email})

    # == support and handoff ==

    async def open_ticket(self, email: str, message: str, ctx: CallContext | None = None, *,
                          kind: str = "complaint", order_number: str | None = None) -> dict:
        """A complaint or question; with ``order_number`` it is filed on that order, which
        must belong to ``email``. Answers with the ticket's reference (T-XXXXXX)."""
        if order_number:
            return await self.post(f"/api/orders/{path_part(order_number)}/tickets", ctx,
                                   json={"email": email, "kind": kind, "message": message})
        return await self.post("/api/support/tickets", ctx,
                               json={"email": email, "kind": kind, "message": message})

    async def request_handoff(self, handoff: dict, ctx: CallContext | None = None) -> dict:
        """Queue the conversation for a person: {id, reference, status, position}. The API
        returns the open handoff again when one exists, so a repeated request is harmless."""
        return await self.post("/api/support/handoffs", ctx, json=handoff)

    async def support_availability(self, ctx: CallContext | None = None) -> dict:
        """Can a person take the conversation now: {available, open_now, agents_online,
        back_text}."""
        return await self.get("/api/support/availability", ctx)

    async def rate_handoff(self, conversation_id: str, csat: int,
                           ctx: CallContext | None = None) -> dict:
        """The shopper's 1-5 rating of the help a person gave: {reference, csat, agent}."""
        return await self.post("/api/support/handoffs/rating", ctx,
                               json={"conversation_id": conversation_id, "csat": csat})

    async def record_event(self, name: str, ctx: CallContext | None = None, *,
                           properties: dict | None = None) -> dict:
        """A client-side analytics event (e.g. ``chat_started``)."""
        return await self.post("/api/events", ctx,
                               json={"name": name, "properties": properties or {}})


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def _answer(response: aiohttp.ClientResponse) -> Any:
    if response.status >= 500:
        raise StorefrontUnavailable(f"{response.method} {response.url.path}: {response.status}")
    try:
        body = await response.json(content_type=None)
    except ValueError:
        body = None
    if response.status >= 400:
        document = body if isinstance(body, dict) else {}
        raise StorefrontProblem(response.status, str(document.get("title", "")),
                                str(document.get("detail", "")), document)
    return body


_shared: Storefront | None = None


def storefront() -> Storefront:
    """The process-wide client (configured from STOREFRONT_URL)."""
    global _shared
    if _shared is None:
        _shared = Storefront()
    return _shared
