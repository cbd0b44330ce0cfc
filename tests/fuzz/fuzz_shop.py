"""A real storefront_api process on a small seeded SQLite shop, with real objects in it (a
cart, a paid order that was shipped and delivered, its return, a cancelled and refunded
order, a ticket, a handoff, a customer), for the fuzz run to aim at. Rasa is a stub that
accepts everything (see _QuietRasa).

Rate limits stay on, generous enough that the fuzzer is never throttled: the limiter's
middleware runs on every call, a 429 would be a finding. The test payment gateway's events
are signed with a webhook secret set here, so an order is paid as Stripe would pay it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from local_processes import free_port  # noqa: E402

from storefront_api.payments.signature import sign_payload  # noqa: E402
from storefront_api.ratelimit import LIMITS  # noqa: E402

ADMIN_TOKEN = "fuzz-admin-token-break-glass"
SERVICE_TOKEN = "fuzz-service-token-of-the-action-server"
WEBHOOK_SECRET = "whsec_fuzz_test_gateway"
GENEROUS = json.dumps({name: "100000/minute" for name in LIMITS}
                      | {f"{name}:overall": "1000000/minute" for name in LIMITS})
ADDRESS = {"name": "Ada Lovelace", "line1": "12 Marylebone High St", "city": "London",
           "postal_code": "W1U 4PQ", "country": "GB"}


def call(method: str, url: str, body: Any = None, headers: dict | None = None,
         raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text) if text else None
        except ValueError:
            return error.code, text.decode(errors="replace")


@dataclass
class FuzzShop:
    directory: Path
    products: int = 60
    port: int = field(default_factory=free_port)
    rasa_port: int = field(default_factory=free_port)
    known: dict[str, list[str]] = field(default_factory=dict)  # path parameter -> real values
    customer_token: str = ""
    _stack: ExitStack = field(default_factory=ExitStack)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.directory / 'shop.db'}"

    def environment(self) -> dict[str, str]:
        return {"DATABASE_URL": self.database_url, "AISLE_VAR_DIR": str(self.directory),
                "AISLE_ENV": "demo", "ADMIN_TOKEN": ADMIN_TOKEN,
                "SERVICE_TOKEN": SERVICE_TOKEN, "SECRET_KEY": "fuzz-secret-key-" + "x" * 32,
                "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "PAYMENT_GATEWAY": "test",
                "RATE_LIMITS": GENEROUS, "REDIS_URL": "",
                "CHAT_JWT_SECRET": "fuzz-chat-secret-" + "y" * 32,
                "RASA_URL": f"http://127.0.0.1:{self.rasa_port}",
                "STOREFRONT_URL": self.url, "RECOVERY_INTERVAL_MINUTES": "0",
                "PYTHONUNBUFFERED": "1"}

    def __enter__(self) -> "FuzzShop":
        self.directory.mkdir(parents=True, exist_ok=True)
        self._stack.callback(_serve_in_thread(_QuietRasa, self.rasa_port))
        env = {**os.environ, **self.environment()}
        subprocess.run([sys.executable, "-m", "storefront_api", "seed", "--products",
                        str(self.products)], cwd=ROOT, env=env, check=True,
                       capture_output=True, timeout=300)
        log = (self.directory / "storefront_api.log").open("ab")
        proc = subprocess.Popen([sys.executable, "-m", "storefront_api", "serve", "--host",
                                 "127.0.0.1", "--port", str(self.port)], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        self._stack.callback(_stop, proc)
        try:
            _wait_until_up(proc, f"{self.url}/healthz", self.directory / "storefront_api.log")
            self._populate()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def server_errors_logged(self) -> list[str]:
        """Tracebacks the server logged (a 500 is logged with its exception)."""
        text = (self.directory / "storefront_api.log").read_text(errors="replace")
        return [line for line in text.splitlines() if "unhandled error" in line]

    # --- real objects ----------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, *, admin: bool = False,
            service: bool = False, expect: tuple[int, ...] = (200, 201)) -> Any:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN if admin else SERVICE_TOKEN}"} \
            if admin or service else {}
        status, answer = call(method, self.url + path, body, headers)
        assert status in expect, (method, path, status, answer)
        return answer

    def _populate(self) -> None:
        variants = self._variants_in_stock()
        carts = [self._cart(variant) for variant in variants[:3]]
        delivered = self._paid_order(carts[0], "ada@example.com")
        self._ship_and_deliver(delivered)
        rma = self.api("POST", f"/api/orders/{delivered['number']}/returns", {
            "email": "ada@example.com", "kind": "return", "reason": "too small",
            "items": [{"sku": delivered["lines"][0]["sku"], "quantity": 1}]})["rma_number"]
        cancelled = self._paid_order(carts[1], "grace@example.com")
        refund = self.api("POST", f"/api/orders/{cancelled['number']}/cancel",
                          {"email": "grace@example.com"})["refund"]
        ticket = self.api("POST", "/api/support/tickets", {
            "email": "ada@example.com", "kind": "question", "message": "Where is it?"})
        handoff = self.api("POST", "/api/support/handoffs", {
            "conversation_id": "fuzz-conversation", "channel": "socketio",
            "reason": "asked_for_human", "transcript": [{"sender": "user", "text": "hi"}]},
            service=True)
        self.api("POST", "/api/customers", {"email": "fuzz@example.com",
                                            "password": "fuzz-password-1"})
        self.customer_token = self.api("POST", "/api/customers/sign-in", {
            "email": "fuzz@example.com", "password": "fuzz-password-1"})["customer_token"]
        open_cart = self._cart(variants[2])
        self.known = {
            "token": [carts[2], open_cart, self._checkout(open_cart)["token"]],
            "number": [delivered["number"], cancelled["number"]],
            "tracking_number": [delivered["shipments"][0]["tracking_number"]],
            "rma": [rma], "refund_id": [str(refund["id"])] if refund else [],
            "id": [str(handoff["id"]), str(variants[0]["product_id"])],
            "variant_id": [str(v["id"]) for v in variants[:3]],
            "line_id": [str(line["id"]) for line in self.api(
                "GET", f"/api/carts/{carts[2]}")["lines"]],
            "country": ["GB", "DE", "US"], "reference": [ticket["reference"]],
        }

    def _variants_in_stock(self) -> list[dict]:
        found = []
        for product in self.api("GET", "/api/products?in_stock=true&page_size=20")["items"]:
            page = self.api("GET", product["url"])
            found += [{**v, "product_id": page["id"]} for v in page["variants"]
                      if v["stock"] >= 5]
        assert len(found) >= 3, "the seeded shop has too little in stock"
        return found

    def _cart(self, variant: dict) -> str:
        token = self.api("POST", "/api/carts", {})["token"]
        self.api("POST", f"/api/carts/{token}/items", {"variant_id": variant["id"],
                                                       "quantity": 2})
        return token

    def _checkout(self, cart: str, email: str = "ada@example.com") -> dict:
        return self.api("POST", f"/api/carts/{cart}/checkout", {
            "email": email, "shipping_address": ADDRESS, "shipping_method": "standard"})

    def _paid_order(self, cart: str, email: str) -> dict:
        checkout = self._checkout(cart, email)
        session_id = checkout["payment_url"].rstrip("/").rsplit("/", 1)[1]
        total = checkout["totals"]["total"]
        event = {"id": f"evt_fuzz_{session_id[-12:]}", "object": "event",
                 "type": "checkout.session.completed", "created": int(time.time()),
                 "data": {"object": {
                     "id": session_id, "object": "checkout.session", "payment_status": "paid",
                     "status": "complete", "payment_intent": f"pi_fuzz_{session_id[-12:]}",
                     "amount_total": total["amount"], "currency": total["currency"].lower(),
                     "customer_details": {"email": email}, "metadata": {}}}}
        payload = json.dumps(event).encode()
        status, receipt = call("POST", f"{self.url}/api/payments/webhook", raw=payload,
                               headers={"Stripe-Signature": sign_payload(payload,
                                                                         WEBHOOK_SECRET)})
        assert status == 200 and receipt.get("order_number"), (status, receipt)
        return self.api("GET", f"/api/admin/orders/{receipt['order_number']}", admin=True)

    def _ship_and_deliver(self, order: dict) -> None:
        shipped = self.api("POST", f"/api/admin/orders/{order['number']}/shipments", {},
                           admin=True)
        tracking = shipped["shipments"][0]["tracking_number"]
        for _ in range(6):
            scan = self.api("POST", f"/api/admin/shipments/{tracking}/events", {}, admin=True,
                            expect=(201, 409))
            if isinstance(scan, dict) and scan.get("order_status") == "delivered":
                break
        order.update(self.api("GET", f"/api/admin/orders/{order['number']}", admin=True))


class _QuietRasa(BaseHTTPRequestHandler):
    """Rasa's HTTP API as far as storefront_api uses it, answering every call with an empty
    tracker: agents' messages and hand-backs then succeed (Rasa's own behaviour is tested
    elsewhere), so a 5xx can only come from storefront_api."""

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b'{"events": [], "messages": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args):
        pass


def _serve_in_thread(handler, port: int):
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop():
        server.shutdown()
        server.server_close()
    return stop


def _wait_until_up(proc: subprocess.Popen, url: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"storefront_api did not come up:\n{tail}")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
