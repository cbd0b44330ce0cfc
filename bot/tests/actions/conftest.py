"""Fixtures for the action unit tests: a real storefront_api and trackers built from dicts.

The storefront runs as a subprocess of the main environment (.venv, Python 3.11) on a seeded
temporary SQLite database, once per test session; the actions reach it over HTTP exactly as
in production. ``unreachable_storefront`` points the client at a closed port instead.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import storefront as storefront_module

REPO_ROOT = Path(__file__).resolve().parents[3]
SHOP_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
ADMIN_TOKEN = "actions-test-admin"
SERVICE_TOKEN = "actions-test-service-token"
SEED_PRODUCTS = 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"storefront_api exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError("storefront_api did not become healthy in time")


def _running_shop(directory: Path, products: int, **environment: str):
    """A seeded storefront_api process on a free port: yields its URL, stops it after."""
    if not SHOP_PYTHON.exists():
        pytest.skip(f"the main environment is missing ({SHOP_PYTHON})")
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{directory}/shop.db",
           "ADMIN_TOKEN": ADMIN_TOKEN, "PAYMENT_GATEWAY": "test",
           "RASA_URL": "http://127.0.0.1:9",  # chat notices must not reach a real bot
           # The actions carry the service credential (counted per conversation, as in
           # production); the tests' own direct order lookups from 127.0.0.1 would otherwise
           # exhaust the per-address limit that tests/orders/test_ratelimit.py covers.
           "SERVICE_TOKEN": SERVICE_TOKEN, "ORDER_LOOKUPS_PER_MINUTE": "1000", **environment}
    subprocess.run([str(SHOP_PYTHON), "-m", "storefront_api", "seed", "--products",
                    str(products)], cwd=REPO_ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env["STOREFRONT_URL"] = url
    log = open(directory / "serve.log", "wb")
    process = subprocess.Popen([str(SHOP_PYTHON), "-m", "storefront_api", "serve", "--port",
                                str(port)], cwd=REPO_ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def storefront_url(tmp_path_factory) -> str:
    """A seeded storefront_api for the whole session; STOREFRONT_URL points at it."""
    yield from _running_shop(tmp_path_factory.mktemp("shop"), SEED_PRODUCTS)


@pytest.fixture(scope="session")
def yen_storefront_url(tmp_path_factory) -> str:
    """A small shop whose currency has no minor unit (JPY): prices are whole yen."""
    yield from _running_shop(tmp_path_factory.mktemp("yen-shop"), 60, SHOP_CURRENCY="JPY")


@pytest.fixture
def shop(storefront_url, monkeypatch) -> "ShopApi":
    """The running storefront: the actions' client points at it, and the test can read the
    API's state directly."""
    monkeypatch.setenv("STOREFRONT_URL", storefront_url)
    monkeypatch.setattr(storefront_module, "_shared",
                        storefront_module.Storefront(storefront_url,
                                                     service_token=SERVICE_TOKEN))
    return ShopApi(storefront_url)


@pytest.fixture
def yen_shop(yen_storefront_url, monkeypatch) -> "ShopApi":
    """As ``shop``, on the JPY shop."""
    monkeypatch.setenv("STOREFRONT_URL", yen_storefront_url)
    monkeypatch.setattr(storefront_module, "_shared",
                        storefront_module.Storefront(yen_storefront_url,
                                                     service_token=SERVICE_TOKEN))
    return ShopApi(yen_storefront_url)


@pytest.fixture
def unreachable_storefront(monkeypatch) -> str:
    """The client points at a port nothing listens on: every call fails to connect."""
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("STOREFRONT_URL", url)
    monkeypatch.setattr(storefront_module, "_shared",
                        storefront_module.Storefront(url, retries=1, backoff=0.01))
    return url


class ShopApi:
    """Plain HTTP calls to check what the actions really did (and to set up state)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def call(self, method: str, path: str, body: Any = None, *, admin: bool = False,
             conversation_id: str | None = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if admin:
            headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        if conversation_id:  # as the action server says it: with the service credential
            headers["X-Conversation-Id"] = conversation_id
            headers.setdefault("Authorization", f"Bearer {SERVICE_TOKEN}")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers,
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def get(self, path: str, **kwargs) -> Any:
        status, body = self.call("GET", path, **kwargs)
        assert status == 200, (status, body)
        return body

    def post(self, path: str, body: Any = None, **kwargs) -> Any:
        status, answer = self.call("POST", path, body, **kwargs)
        assert status in (200, 201), (status, answer)
        return answer

    def new_cart(self) -> str:
        return self.post("/api/carts")["token"]

    def product_with(self, predicate: Callable[[dict, list[dict]], bool],
                     query: str = "") -> dict:
        """The first product (full document) whose variants satisfy ``predicate``."""
        for page in range(1, 20):
            found = self.get(f"/api/products?page_size=50&facets=false&page={page}{query}")
            for item in found["items"]:
                product = self.get(f"/api/products/{item['id']}")
                if predicate(product, product["variants"]):
                    return product
            if page >= found["pages"]:
                break
        raise LookupError("no product in the seeded catalog fits this test")


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    """The bot's domain as actions receive it (the parts actions read: forms, slots)."""
    merged: dict[str, Any] = {"forms": {}, "slots": {}, "responses": {}}
    for path in sorted((REPO_ROOT / "bot" / "domain").glob("*.yml")):
        part = yaml.safe_load(path.read_text()) or {}
        for key in merged:
            merged[key].update(part.get(key) or {})
    return merged


@pytest.fixture
def tracker_for() -> Callable[..., Tracker]:
    """``tracker_for(slots=..., latest_message=..., events=..., sender_id=..., channel=...,
    active_loop=..., extracted=...)``.

    ``latest_message`` may be a dict (intent, entities, text) or just an intent name;
    entities may be given as ``{"size": "M"}`` for short. The latest user event carries
    ``channel`` as its input channel, which is how actions tell web from messaging.
    ``extracted`` are slot candidates a form just extracted from that message (slot events
    after it, as Rasa sends them to a validation action); they are also set in ``slots``.
    """
    def build(slots: dict[str, Any] | None = None,
              latest_message: dict[str, Any] | str | None = None,
              events: list[dict[str, Any]] | None = None, *, sender_id: str = "test-shopper",
              channel: str = "rest", active_loop: str | None = None,
              extracted: dict[str, Any] | None = None) -> Tracker:
        message = _message(latest_message)
        user_event = {"event": "user", "text": message.get("text"), "parse_data": message,
                      "input_channel": channel, "timestamp": time.time()}
        candidates = [{"event": "slot", "name": name, "value": value, "timestamp": time.time()}
                      for name, value in (extracted or {}).items()]
        all_events = [*(events or []), user_event, *candidates]
        return Tracker(sender_id=sender_id, slots={**(slots or {}), **(extracted or {})},
                       latest_message=message,
                       events=all_events, paused=False, followup_action=None,
                       active_loop={"name": active_loop} if active_loop else {},
                       latest_action_name="action_listen")
    return build


def _message(latest: dict[str, Any] | str | None) -> dict[str, Any]:
    if latest is None:
        return {"intent": {}, "entities": [], "text": ""}
    if isinstance(latest, str):
        return {"intent": {"name": latest, "confidence": 1.0}, "entities": [],
                "text": f"/{latest}"}
    entities = latest.get("entities") or []
    if isinstance(entities, dict):
        entities = [{"entity": k, "value": v} for k, v in entities.items()]
    intent = latest.get("intent")
    if isinstance(intent, str):
        intent = {"name": intent, "confidence": 1.0}
    message = {"intent": intent or {}, "entities": entities,
               "text": latest.get("text", f"/{(intent or {}).get('name', '')}")}
    if "metadata" in latest:  # what the channel attached (the web chat: its browser)
        message["metadata"] = latest["metadata"]
    return message


def _slots_set(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def _uttered(dispatcher: CollectingDispatcher) -> list[str]:
    return [m.get("response") or m.get("text") or "custom" for m in dispatcher.messages]


@pytest.fixture
def slots_set() -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    """``slots_set(events)``: the slots a list of returned events sets (last one wins)."""
    return _slots_set


@pytest.fixture
def uttered() -> Callable[[CollectingDispatcher], list[str]]:
    """``uttered(dispatcher)``: the response names the action sent, in order."""
    return _uttered


@pytest.fixture(autouse=True)
async def _close_the_client_after_each_test(monkeypatch):
    """Each test runs in its own event loop: close the client's connection pool with it.
    (Asking for monkeypatch makes this teardown run before monkeypatch restores the shared
    client, so the client the test used is the one closed.)"""
    yield
    await storefront_module.storefront().close()
