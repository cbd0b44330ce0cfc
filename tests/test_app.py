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


async def test_docs_page_is_served(client):
    response = await client.get("/api/docs")
    assert response.status == 200 and "swagger-ui" in await response.text()
    asset = await client.get("/api/docs/static/swagger-ui-bundle.js")
    assert asset.status == 200


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
    from sqlalchemy import text
    body = {"name": "page_view", "properties": {"email": "a@b.example", "path": "/"}}
    for consent in ("", "granted"):
        response = await client.post("/api/events", json=body, headers={
            "X-Session-Id": f"s-{consent or 'none'}", "X-Consent": consent})
        assert response.status == 202
    async with db.read() as s:
        rows = dict((await s.execute(text(
            "SELECT session_id, properties FROM events WHERE name = 'page_view'"))).all())
    import json
    props = {k: json.loads(v) if isinstance(v, str) else v for k, v in rows.items()}
    assert "email" not in props["s-none"] and props["s-none"]["path"] == "/"
    assert props["s-granted"]["email"] == "a@b.example"
