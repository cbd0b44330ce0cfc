"""The application as a whole: health, the OpenAPI document, problem documents."""

from __future__ import annotations

import pytest


async def test_healthz(client):
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["database"] == "ok"


async def test_openapi_matches_the_routes(client):
    spec = await (await client.get("/api/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    routed = set()
    for resource in client.app.router.resources():
        info = resource.get_info()
        path = info.get("formatter") or info.get("path")
        if not path or not path.startswith("/api/") or path.startswith("/api/docs") \
                or path == "/api/openapi.json":
            continue
        import re
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path)
        for route in resource:
            if route.method != "HEAD":
                routed.add((route.method, path))
    assert routed == documented
    for path, ops in spec["paths"].items():
        for op in ops.values():
            assert op["summary"] and op["responses"]
            names = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert names == set(__import__("re").findall(r"\{(\w+)\}", path))


async def test_docs_page_lists_every_operation_in_chromium(aiohttp_server, settings):
    """The page a developer opens: rendered by Swagger UI in a real browser, it shows each
    operation of the OpenAPI document (a broken document or a blocked script shows none)."""
    from pathlib import Path

    from storefront_api.app import create_app
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("/usr/bin/chromium is not installed")
    from playwright.async_api import async_playwright
    server = await aiohttp_server(create_app(settings, migrate=False))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking"])
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            spec = await (await page.request.get(str(server.make_url("/api/openapi.json")))).json()
            await page.goto(str(server.make_url("/api/docs")))
            await page.wait_for_selector(".opblock", timeout=20000)
            shown = await page.eval_on_selector_all(".opblock", """blocks => blocks.map(b => [
                b.querySelector('.opblock-summary-method').textContent.trim(),
                b.querySelector('.opblock-summary-path').getAttribute('data-path')])""")
            title = await page.inner_text(".info .title")
        finally:
            await browser.close()
    documented = sorted([method.upper(), path] for path, operations in spec["paths"].items()
                        for method in operations)
    assert sorted(shown) == documented and len(documented) > 50
    assert title.startswith(spec["info"]["title"]) and errors == []


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/api/nothing-here", 404), ("DELETE", "/api/products", 405),
])
async def test_errors_are_problem_documents(client, method, path, status):
    response = await client.request(method, path)
    assert response.status == status
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["status"] == status and body["title"] and body["detail"]


async def test_malformed_json_is_a_400_problem(client):
    response = await client.post("/api/events", data=b"{not json",
                                 headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["type"].endswith("malformed-json")


async def test_client_events_are_recorded_without_personal_data_unless_consented(client, db):
    """Personal keys in any letter case, and values that look like an address or a phone
    number, at any depth: gone without analytics consent, kept with it."""
    import json
    import uuid

    from sqlalchemy import text
    properties = {"E-Mail": "a@b.example", "PHONE": "x", "Path": "/",
                  "cart": {"Customer_Name": "Ann", "items": [{"sku": "T-1", "qty": 2},
                                                             "call +44 20 7946 0958"]},
                  "note": "ANN@EXAMPLE.COM"}
    run = uuid.uuid4().hex
    for consent in ("", "denied", "granted", "analytics,marketing"):
        response = await client.post("/api/events", json={
            "name": "page_view", "properties": properties}, headers={
            "X-Session-Id": f"{run}-{consent or 'none'}", "X-Consent": consent})
        assert response.status == 202
    async with db.read() as s:
        rows = dict((await s.execute(text(
            "SELECT session_id, properties FROM events WHERE session_id LIKE :run"),
            {"run": f"{run}-%"})).all())
    stored = {k.removeprefix(f"{run}-"): json.loads(v) if isinstance(v, str) else v
              for k, v in rows.items()}
    scrubbed = {"Path": "/", "cart": {"items": [{"sku": "T-1", "qty": 2}]}}
    assert stored == {"none": scrubbed, "denied": scrubbed, "granted": properties,
                      "analytics,marketing": properties}


# --- bad input never reaches a 500 or blocks the loop ----------------------------------------

import asyncio  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402

from sqlalchemy import func, select  # noqa: E402

from assistant_calls import SERVICE  # noqa: E402

from storefront_api.app_keys import OPERATIONS  # noqa: E402
from storefront_api.db import Base  # noqa: E402
from storefront_api.events.models import Event  # noqa: E402
from storefront_api.routing import BODY_METHODS, MAX_JSON_DEPTH, nesting_depth  # noqa: E402


async def row_counts(db) -> dict[str, int]:
    """Rows in every table: a request that changes nothing leaves these as they were. Left
    out: the `agent_left` events of the inbox's sweeper, which runs in every app and puts
    back in the queue the claims other tests' agents left in the shared database."""
    async with db.read() as session:
        counts = {table.name: await session.scalar(select(func.count()).select_from(table))
                  for table in Base.metadata.sorted_tables}
        counts["events"] = await session.scalar(
            select(func.count()).select_from(Event).where(Event.name != "agent_left"))
        return counts


ADMIN = {"Authorization": "Bearer test-admin"}  # the break-glass token of conftest's settings


def _credential(op) -> dict[str, str]:
    return {None: {}, "service": SERVICE}.get(op.auth, ADMIN)


def _concrete(path: str) -> str:
    """A request path for a route: numeric parameters 1, others a plausible token."""
    path = re.sub(r"\{\w+:\\d\+\}", "1", path)
    return re.sub(r"\{\w+(:[^}]*)?\}", "AB-12345", path)


def body_routes(client, *, with_model: bool | None = None):
    for op in client.app[OPERATIONS]:
        if op.method in BODY_METHODS and not op.raw_body and \
                (with_model is None or (op.body is not None) == with_model):
            yield op


@pytest.mark.parametrize("body", [b"{not json", b'{"a": 1,}', b"[1, 2]", b'"a string"', b"42",
                                  b"\xff\xfe{", b'{"x": NaN}'])
async def test_malformed_json_changes_nothing_on_every_body_route(client, db, body):
    """Every POST, PUT and PATCH, with a body model or without one (POST /api/carts once
    created a cart from a broken body): a 400 problem, and not one row more or less."""
    before = await row_counts(db)
    checked = []
    for op in body_routes(client):
        response = await client.request(op.method, _concrete(op.path), data=body, headers={
            "Content-Type": "application/json", **_credential(op)})
        assert response.status == 400, (op.method, op.path, response.status,
                                        await response.text())
        problem = await response.json()
        assert response.content_type == "application/problem+json"
        assert problem["type"].endswith("malformed-json") and problem["status"] == 400
        checked.append(f"{op.method} {op.path}")
    assert "POST /api/carts" in checked and len(checked) >= 30
    assert await row_counts(db) == before


async def test_routes_without_a_body_model_take_nothing_or_an_empty_object(client, db):
    ops = list(body_routes(client, with_model=False))
    assert any(op.path == "/api/carts" for op in ops)
    before = await row_counts(db)
    for op in ops:
        response = await client.request(op.method, _concrete(op.path), json={"x": 1},
                                        headers=_credential(op))
        assert response.status == 422, (op.method, op.path, await response.text())
    assert await row_counts(db) == before
    created = await client.post("/api/carts", data=b"")
    assert created.status == 201  # no body at all is fine, as is {}
    assert (await client.post("/api/carts", json={})).status == 201


async def test_attack_deep_json(client, db):
    """10,000 nested arrays once reached the recursive decoder (a RecursionError, a 500):
    refused from the raw bytes, 400, nothing written, on routes with and without a body."""
    deep = b"[" * 10_000 + b"]" * 10_000
    nested_object = b'{"name": "page_view", "properties": {"a": ' + deep + b"}}"
    before = await row_counts(db)
    for path, body in [("/api/carts", deep), ("/api/events", nested_object),
                       ("/api/support/tickets", b'{"x":' + b'{"y":' * 5000 + b"1" + b"}" * 5001)]:
        started = time.perf_counter()
        response = await client.post(path, data=body,
                                     headers={"Content-Type": "application/json"})
        assert response.status == 400, (path, await response.text())
        assert "deeper than 32" in (await response.json())["detail"]
        assert time.perf_counter() - started < 1
    assert await row_counts(db) == before
    # brackets inside strings are text, not nesting
    fine = {"name": "page_view", "properties": {"q": "[" * 400}}
    assert (await client.post("/api/events", json=fine)).status == 202


def test_nesting_depth_is_measured_outside_strings():
    assert nesting_depth(b'{"a": [1, {"b": []}]}') == 0  # few brackets: not even counted
    deep = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
    assert nesting_depth(deep) == MAX_JSON_DEPTH + 1
    in_text = b'{"a": "' + b"[" * 100 + b'\\"[[["}'
    assert nesting_depth(in_text) == 1
    unterminated = b'["' + b'\\"[' * 30_000
    started = time.perf_counter()
    assert nesting_depth(unterminated) == 1
    assert time.perf_counter() - started < 0.1  # linear, whatever the bytes


@pytest.mark.parametrize("text", ["\\u0000", "\\ud800"])
async def test_text_a_database_cannot_store_is_refused(client, db, text):
    """NUL (PostgreSQL refuses it) and a lone surrogate (not UTF-8) were 500s later: a 422
    naming the field, at any depth, in keys too, and nothing written."""
    before = await row_counts(db)
    bodies = [("/api/support/tickets", '{"email": "a@b.example", "kind": "question", '
               '"message": "hi ' + text + '"}'),
              ("/api/events", '{"name": "page_view", "properties": {"a": [1, {"k' + text +
               '": 2}]}}')]
    fields = []
    for path, body in bodies:
        response = await client.post(path, data=body.encode(),
                                     headers={"Content-Type": "application/json"})
        assert response.status == 422, await response.text()
        problem = await response.json()
        assert "NUL" in problem["detail"]
        fields.append(problem["errors"][0]["field"])
    assert fields[0] == "message" and fields[1].startswith("properties.a.1.k")
    assert await row_counts(db) == before


async def test_query_and_path_are_bounded(client):
    long = "a" * 2001
    assert (await client.get(f"/api/products?q={long}")).status == 400
    many = "&".join(f"p{n}=1" for n in range(60))
    assert (await client.get(f"/api/products?{many}")).status == 400
    assert (await client.get("/api/products?q=%00")).status == 400
    assert (await client.get("/api/carts/abc%00def")).status == 404
    assert (await client.get(f"/api/checkouts/{'t' * 300}")).status == 404
    response = await client.get(f"/api/orders/{'A' * 300}?email=a@b.example")
    assert response.status == 404 and response.content_type == "application/problem+json"


class LoopWatch:
    """Pings /healthz all along: the longest wait tells whether the event loop was blocked."""

    def __init__(self, client):
        self.client, self.longest, self._stop = client, 0.0, False

    async def run(self):
        while not self._stop:
            started = time.perf_counter()
            await self.client.get("/healthz")
            self.longest = max(self.longest, time.perf_counter() - started)
            await asyncio.sleep(0.005)

    async def __aenter__(self):
        self._task = asyncio.create_task(self.run())
        await asyncio.sleep(0.05)
        return self

    async def __aexit__(self, *exc):
        self._stop = True
        await self._task


async def test_attack_redos_body(client, db):
    """64 KiB strings in fields a regex validates (e-mails, patterns) and in a client
    event with no consent (its e-mail scrubber once took seconds inside a write
    transaction): answered at once, 4xx or 2xx, while other requests keep being served."""
    huge = "a" * (64 * 1024 - 200)
    almost = "ab.cd." * 10_000  # dots and letters: what makes naive e-mail patterns backtrack
    attacks = [
        ("/api/customers", {"email": huge + "@x", "password": "long enough pw"}, 422),
        ("/api/support/tickets", {"email": almost[:60_000], "kind": "question",
                                  "message": "hi"}, 422),
        ("/api/back-in-stock", {"variant_id": 1, "email": "@" + huge}, 422),
        ("/api/events", {"name": "a" + huge}, 422),
        ("/api/events", {"name": "page_view", "properties": {"q": huge}}, 422),
        # within the bounds: 30 properties of 500 characters shaped like e-mail near-misses
        ("/api/events", {"name": "page_view", "properties": {
            f"p{n}": ("x" * 60 + "@" + "y." * 200)[:500] for n in range(30)}}, 202),
        ("/api/events", {"name": "page_view", "properties": {
            f"p{n}": [("z." * 240 + "@")[:500]] * 4 for n in range(30)}}, 202),
    ]
    before = await row_counts(db)
    async with LoopWatch(client) as watch:
        for path, body, status in attacks:
            started = time.perf_counter()
            response = await client.post(path, json=body)  # no X-Consent header
            assert response.status == status, (path, await response.text())
            assert time.perf_counter() - started < 0.5, path
    assert watch.longest < 0.25
    after = await row_counts(db)
    assert after["events"] == before["events"] + 2 and after["customers"] == before["customers"]


async def test_non_ascii_tokens_are_wrong_tokens_not_errors(client):
    """Secrets are compared as bytes: a token with other characters simply does not
    match (hmac.compare_digest on str raised TypeError, a 500)."""
    non_ascii = "tökén-ünïcode-ß-€"
    for headers in ({"Authorization": f"Bearer {non_ascii}"},
                    {"Authorization": "Bearer \u00e9" * 40}):
        raw = {k: v.encode().decode("latin-1") for k, v in headers.items()}
        assert (await client.get("/api/admin/orders", headers=raw)).status == 401
        assert (await client.post("/api/support/handoffs", json={}, headers=raw)).status == 401
        assert (await client.get("/api/customers/me", headers=raw)).status == 401
    signature = f"t={int(time.time())},v1={non_ascii}".encode().decode("latin-1")
    response = await client.post("/api/payments/webhook", data=b'{"id": "evt_1"}', headers={
        "Content-Type": "application/json", "Stripe-Signature": signature})
    assert response.status == 400 and "malformed" in (await response.json())["detail"]
    for path in (f"/api/carts/{non_ascii}", f"/api/checkouts/{non_ascii}x{'y' * 20}",
                 f"/api/orders/AB-12345?token={non_ascii}"):
        response = await client.get(path)
        assert response.status == 404, (path, await response.text())
    response = await client.post("/api/orders/AB-12345/tickets", json={
        "token": non_ascii, "kind": "question", "message": "where is it?"})
    assert response.status == 404
    response = await client.post("/api/customers/sign-in", json={
        "email": "a@b.example", "password": "x", "cart_token": non_ascii})
    assert response.status == 401


# --- the OpenAPI document declares every answer ---------------------------------------------

async def test_openapi_is_valid_openapi_3_1(client):
    import schemathesis
    spec = await (await client.get("/api/openapi.json")).json()
    assert spec["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(spec).validate()  # the 3.1 meta-schema; raises if not


async def test_every_operation_declares_its_answers(client):
    """A 2xx document schema (the fuzz run checks answers against it) and the problem
    document for every error status, including those every route of its kind can give."""
    spec = await (await client.get("/api/openapi.json")).json()
    undeclared = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            label = f"{method.upper()} {path}"
            for status, answer in op["responses"].items():
                if status.startswith("2") and status != "204":
                    if "schema" not in answer.get("content", {}).get("application/json", {}):
                        undeclared.append(label)
                elif status[0] in "45":
                    schema = answer["content"]["application/problem+json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Problem"}, label
            assert "429" in op["responses"], label  # every /api request counts
            if "requestBody" in op or method in ("post", "put", "patch"):
                assert {"400", "413"} <= set(op["responses"]), label
            if "requestBody" in op:
                assert "422" in op["responses"], label
            if "{" in path:
                assert "404" in op["responses"], label
            if op.get("security"):
                assert "401" in op["responses"], label
    assert not undeclared, f"give these routes response=...: {sorted(set(undeclared))}"


def _unbounded_strings(schema: dict, defs: dict, where: str, seen=()) -> list[str]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return [] if name in seen else _unbounded_strings(defs[name], defs, where,
                                                          seen + (name,))
    found = []
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            found += _unbounded_strings(sub, defs, where, seen)
    if schema.get("type") == "string" and not ({"maxLength", "enum", "const", "format"}
                                               & set(schema)):
        found.append(where)
    for name, prop in schema.get("properties", {}).items():
        found += _unbounded_strings(prop, defs, f"{where}.{name}", seen)
    for key in ("additionalProperties", "items", "propertyNames"):
        if isinstance(schema.get(key), dict):
            found += _unbounded_strings(schema[key], defs, f"{where}[{key}]", seen)
    return found


def test_every_text_input_is_bounded(client):
    """Every string a body or query model takes has a maximum length, which pydantic checks
    before any pattern or validator (a regex never sees a 64 KiB string)."""
    unbounded = []
    for op in client.app[OPERATIONS]:
        for kind in ("body", "query"):
            model = getattr(op, kind)
            if model is not None:
                schema = model.model_json_schema()
                unbounded += _unbounded_strings(schema, schema.get("$defs", {}),
                                                f"{op.method} {op.path} {kind}")
    assert not unbounded
