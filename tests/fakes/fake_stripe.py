"""A local stand-in for api.stripe.com, speaking Stripe's wire format for what Aisle uses.

The real ``stripe`` library talks to it (STRIPE_API_BASE), so tests check what the library
actually sends: form-encoded bodies with nested keys (``line_items[0][price_data][currency]``),
``Authorization: Bearer sk_test_...``, ``Idempotency-Key``. Answers are JSON objects shaped
like Stripe's, errors use Stripe's ``{"error": {...}}`` shape and status codes.

Endpoints: POST /v1/checkout/sessions, GET /v1/checkout/sessions/{id},
POST /v1/checkout/sessions/{id}/expire, POST /v1/refunds.

Tests drive the shopper's side with ``pay(session_id)`` (the session becomes complete and
paid, as if the shopper paid on Stripe's page), build the events Stripe would send with
``event(...)`` and sign them with ``sign_event`` to deliver them to the webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

SESSION_MIN_LIFETIME, SESSION_MAX_LIFETIME = 30 * 60, 24 * 3600

# Stripe's currencies and how its API counts them (https://docs.stripe.com/currencies):
# "Supported presentment currencies" (two-decimal unless listed below) ...
PRESENTMENT_CURRENCIES = frozenset("""
    AED AFN AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BIF BMD BND BOB BRL BSD BWP BYN BZD CAD CDF
    CHF CLP CNY COP CRC CVE CZK DJF DKK DOP DZD EGP ETB EUR FJD FKP GBP GEL GIP GMD GNF GTQ GYD
    HKD HNL HTG HUF IDR ILS INR ISK JMD JPY KES KGS KHR KMF KRW KYD KZT LAK LBP LKR LRD LSL MAD
    MDL MGA MKD MMK MNT MOP MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR
    PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SEK SGD SHP SLE SRD SZL THB TJS TRY TTD TWD TZS UAH
    UGX USD UYU UZS VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW""".split())
# ... "zero-decimal currencies": the amount is whole units ...
ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF VND VUV XAF XOF XPF".split())
# ... "special cases": ISK and UGX went zero-decimal but are still sent as two-decimal amounts
# whose decimals are always 00 (no fractions); HUF and TWD charge two-decimal amounts ...
WHOLE_UNITS_AS_TWO_DECIMAL = frozenset({"ISK", "UGX"})
# ... and three-decimal currencies (enabled per account): minor units, last digit 0.
THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())
CURRENCIES = PRESENTMENT_CURRENCIES | THREE_DECIMAL


def api_decimals(currency: str) -> int:
    """How many decimals Stripe's API amounts of ``currency`` carry."""
    code = currency.upper()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def _check_amount(amount: int, currency: str, param: str) -> None:
    """Stripe refuses an amount its currency cannot carry."""
    code = currency.upper()
    if code not in CURRENCIES:
        raise StripeError(400, f"Invalid currency: {currency}.", param="currency")
    if code in WHOLE_UNITS_AS_TWO_DECIMAL and amount % 100:
        raise StripeError(400, f"Invalid amount: {code} amounts must end in 00.", param=param)
    if code in THREE_DECIMAL and amount % 10:
        raise StripeError(400, f"Invalid amount: {code} amounts must end in 0.", param=param)


def sign_event(payload: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """Stripe's ``Stripe-Signature`` header: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>."""
    t = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={signature}"


def decode_form(body: str) -> dict[str, Any]:
    """Stripe's nested form encoding back into dicts and lists (``a[0][b]=1``)."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"^[^\[]+|(?<=\[)[^\]]*(?=\])", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    node = {k: _lists(v) for k, v in node.items()}
    if node and all(k.isdigit() for k in node):
        return [node[k] for k in sorted(node, key=int)]
    return node


class StripeError(Exception):
    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.body = status, {"error": {
            "type": type, "message": message, "param": param, "code": code}}


def _integer(params: dict, name: str, *, required: bool = True) -> int | None:
    raw = params.get(name)
    if raw is None:
        if required:
            raise StripeError(400, f"Missing required param: {name}.", param=name,
                              code="parameter_missing")
        return None
    if not re.fullmatch(r"-?\d+", str(raw)):
        raise StripeError(400, f"Invalid integer: {raw}", param=name)
    return int(raw)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, Any]


@dataclass
class FakeStripe:
    api_key: str = "sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc"
    webhook_secret: str = "whsec_" + "fake" + secrets.token_hex(16)
    requests: list[RecordedRequest] = field(default_factory=list)
    sessions: dict[str, dict] = field(default_factory=dict)
    payment_intents: dict[str, dict] = field(default_factory=dict)
    refunds: dict[str, dict] = field(default_factory=dict)
    fail_next: list[tuple[int, str]] = field(default_factory=list)  # (status, message) to answer
    _replays: dict[str, tuple[str, dict, int, dict]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    url: str = ""

    # --- server ----------------------------------------------------------------------------

    async def start(self) -> FakeStripe:
        app = web.Application()
        app.router.add_post("/v1/checkout/sessions", self._create_session)
        app.router.add_get("/v1/checkout/sessions/{id}", self._retrieve_session)
        app.router.add_post("/v1/checkout/sessions/{id}/expire", self._expire_session)
        app.router.add_post("/v1/refunds", self._create_refund)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def calls(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # --- the shopper's side and Stripe's events --------------------------------------------

    def pay(self, session_id: str) -> dict:
        """The shopper paid on Stripe's page: the session is complete, its PaymentIntent exists."""
        session = self.sessions[session_id]
        intent_id = "pi_" + secrets.token_hex(12)
        self.payment_intents[intent_id] = {"id": intent_id, "amount": session["amount_total"],
                                           "currency": session["currency"], "refunded": 0}
        session.update(status="complete", payment_status="paid", payment_intent=intent_id,
                       customer_details={"email": session["customer_email"]})
        return session

    def event(self, session_id: str, type: str = "checkout.session.completed",
              **changes: Any) -> dict:
        """The event Stripe would send about a session (``changes`` patch its object)."""
        return {"id": "evt_" + secrets.token_hex(12), "object": "event", "type": type,
                "api_version": "2025-01-27.acacia", "created": int(time.time()),
                "livemode": False, "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "data": {"object": {**self.sessions[session_id], **changes}}}

    def signed(self, event: dict, *, timestamp: int | None = None) -> tuple[bytes, dict]:
        payload = json.dumps(event).encode()
        return payload, {"Stripe-Signature": sign_event(payload, self.webhook_secret,
                                                        timestamp=timestamp),
                         "Content-Type": "application/json"}

    # --- plumbing: auth, recording, idempotency, errors ------------------------------------

    async def _handle(self, request: web.Request, action) -> web.Response:
        params = decode_form(await request.text()) if request.method == "POST" else {}
        self.requests.append(RecordedRequest(request.method, request.path,
                                             dict(request.headers), params))
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or key != self.api_key:
            shown = (key[:8] + "*" * 4 + key[-4:]) if key else "(none)"
            return web.json_response({"error": {
                "type": "invalid_request_error",
                "message": f"Invalid API Key provided: {shown}"}}, status=401)
        idem = request.headers.get("Idempotency-Key")
        replay_key = f"{request.method} {idem}" if idem and request.method == "POST" else None
        if replay_key in self._replays:
            path, first_params, status, body = self._replays[replay_key]
            if (path, first_params) != (request.path, params):
                return web.json_response({"error": {
                    "type": "idempotency_error",
                    "message": "Keys for idempotent requests can only be used with the same "
                               "parameters they were first used with."}}, status=400)
            return web.json_response(body, status=status,
                                     headers={"Idempotent-Replayed": "true"})
        try:
            if self.fail_next:
                status, message = self.fail_next.pop(0)
                raise StripeError(status, message, type="api_error" if status >= 500
                                  else "invalid_request_error")
            status, body = 200, action(request, params)
        except StripeError as exc:
            status, body = exc.status, exc.body
        if replay_key and status < 500:  # Stripe does not save 5xx answers for replay
            self._replays[replay_key] = (request.path, params, status, body)
        return web.json_response(body, status=status,
                                 headers={"Request-Id": "req_" + secrets.token_hex(7)})

    async def _create_session(self, request):
        return await self._handle(request, self._new_session)

    async def _retrieve_session(self, request):
        return await self._handle(request, lambda r, p: self._session(r.match_info["id"]))

    async def _expire_session(self, request):
        return await self._handle(request, self._expire)

    async def _create_refund(self, request):
        return await self._handle(request, self._new_refund)

    # --- the objects -----------------------------------------------------------------------

    def _session(self, session_id: str) -> dict:
        if session_id not in self.sessions:
            raise StripeError(404, f"No such checkout.session: '{session_id}'", param="session",
                              code="resource_missing")
        return self.sessions[session_id]

    def _new_session(self, request, params: dict) -> dict:
        if params.get("mode") != "payment":
            raise StripeError(400, "Missing required param: mode.", param="mode")
        items = params.get("line_items") or []
        if not isinstance(items, list) or not items:
            raise StripeError(400, "line_items is required in payment mode.", param="line_items")
        currencies, total = set(), 0
        for index, item in enumerate(items):
            price = item.get("price_data") or {}
            amount = _integer(price, "unit_amount")
            quantity = _integer(item, "quantity")
            if amount < 0 or quantity < 1:
                raise StripeError(400, "Invalid line item amount or quantity.",
                                  param=f"line_items[{index}]")
            if not (price.get("product_data") or {}).get("name"):
                raise StripeError(400, "Missing required param: "
                                  f"line_items[{index}][price_data][product_data][name].")
            currencies.add(price.get("currency", "").lower())
            _check_amount(amount, price.get("currency", ""),
                          f"line_items[{index}][price_data][unit_amount]")
            total += amount * quantity
        if len(currencies) != 1:
            raise StripeError(400, "All line items must have the same currency.")
        now = int(time.time())
        expires_at = _integer(params, "expires_at", required=False) or now + SESSION_MAX_LIFETIME
        if not now + SESSION_MIN_LIFETIME <= expires_at <= now + SESSION_MAX_LIFETIME:
            raise StripeError(400, "The `expires_at` timestamp must be between 30 minutes and "
                              "24 hours from Checkout Session creation.", param="expires_at")
        session_id = "cs_test_" + secrets.token_urlsafe(40).replace("-", "a").replace("_", "b")
        self.sessions[session_id] = {
            "id": session_id, "object": "checkout.session", "livemode": False,
            "mode": "payment", "status": "open", "payment_status": "unpaid",
            "amount_subtotal": total, "amount_total": total, "currency": currencies.pop(),
            "client_reference_id": params.get("client_reference_id"),
            "customer_email": params.get("customer_email"), "customer_details": None,
            "metadata": params.get("metadata") or {}, "payment_intent": None,
            "success_url": params.get("success_url"), "cancel_url": params.get("cancel_url"),
            "created": now, "expires_at": expires_at,
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
        }
        return self.sessions[session_id]

    def _expire(self, request, params: dict) -> dict:
        session = self._session(request.match_info["id"])
        if session["status"] != "open":
            raise StripeError(400, "Only Checkout Sessions with a status of `open` can be "
                              "expired.", code="checkout_session_not_open")  # not Stripe's code
        session.update(status="expired", url=None)
        return session

    def _new_refund(self, request, params: dict) -> dict:
        intent = self.payment_intents.get(params.get("payment_intent", ""))
        if intent is None:
            raise StripeError(400, f"No such payment_intent: '{params.get('payment_intent')}'",
                              param="payment_intent", code="resource_missing")
        amount = _integer(params, "amount", required=False) or intent["amount"] - intent["refunded"]
        if amount <= 0 or amount > intent["amount"] - intent["refunded"]:
            raise StripeError(400, f"Refund amount ({amount}) is greater than unrefunded amount "
                              f"on charge ({intent['amount'] - intent['refunded']})",
                              param="amount", code="amount_too_large")
        _check_amount(amount, intent["currency"], "amount")
        intent["refunded"] += amount
        refund_id = "re_" + secrets.token_hex(12)
        self.refunds[refund_id] = {
            "id": refund_id, "object": "refund", "amount": amount,
            "currency": intent["currency"], "payment_intent": intent["id"],
            "status": "succeeded", "reason": params.get("reason"),
            "metadata": params.get("metadata") or {}, "created": int(time.time())}
        return self.refunds[refund_id]
