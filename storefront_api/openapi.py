"""The OpenAPI 3.1 document, generated from the route tables, and the /api/docs page.

Every operation declares what it answers, so that a client (and the fuzz run in
tests/fuzz) can check it: the 2xx document's schema (the route's ``response=``, a pydantic
model or a JSON schema) and the problem document for every error status it may give. The
error statuses are the route's own ``errors=`` plus those every route of its kind can give:
400 for a malformed body, query or path, 401/403 where credentials are needed, 404 where the
path names something, 413 for a body too large, 422 for invalid fields, 429 for the rate
limit every /api request counts against.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from . import __version__
from .app_keys import OPENAPI_SPEC, OPERATIONS, SETTINGS
from .routing import (BODY_METHODS, MAX_DB_INT, MAX_PARAM_LENGTH, MAX_QUERY_LENGTH, Operation,
                      json_response)

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 7807 problem document",
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"},
        "status": {"type": "integer"}, "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["type", "title", "status", "detail"],
}
_ERROR_TEXT = {400: "Malformed request", 401: "Missing or wrong credentials", 403: "Forbidden",
               404: "Unknown id", 409: "Conflict with the current state", 410: "Gone",
               413: "Request too large", 422: "Invalid input", 429: "Too many requests",
               502: "An upstream service failed", 503: "An upstream service is unavailable"}


def _openapi_path(path: str) -> str:
    return re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path)


def _schema(model: type[BaseModel] | dict[str, Any],
            components: dict[str, Any]) -> dict[str, Any]:
    if isinstance(model, dict):  # a JSON schema given as it is
        return model
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


_PATH_SCHEMAS = {"integer": {"type": "integer", "minimum": 1, "maximum": MAX_DB_INT},
                 "string": {"type": "string", "minLength": 1, "maxLength": MAX_PARAM_LENGTH}}


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params = [{"name": name, "in": "path", "required": True, "schema": _PATH_SCHEMAS[kind]}
              for name, kind in op.path_params.items()]
    if op.query is not None:
        schema = op.query.model_json_schema()
        for name, prop in schema.get("properties", {}).items():
            params.append({
                "name": name, "in": "query", "required": name in schema.get("required", []),
                "description": prop.get("description", ""),
                "schema": {k: v for k, v in prop.items() if k not in ("title", "description")},
            })
    return params


def error_statuses(op: Operation) -> list[int]:
    """Every error status the operation may answer (see the module's docstring)."""
    statuses = set(op.errors) | {429}
    takes_body = op.method in BODY_METHODS and not op.raw_body
    if takes_body or op.query is not None or op.path_params:
        statuses.add(400)
    if op.auth:
        statuses |= {401} if op.auth in ("service", "customer") else {401, 403}
    if op.path_params:
        statuses.add(404)
    if takes_body or op.raw_body:
        statuses.add(413)
    if op.body is not None or op.query is not None or takes_body:
        statuses.add(422)
    return sorted(statuses)


def build_spec(app: web.Application, title: str) -> dict[str, Any]:
    components: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for op in app.get(OPERATIONS, []):
        entry: dict[str, Any] = {
            "operationId": op.handler.__name__,
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": _parameters(op),
        }
        if op.description:
            entry["description"] = op.description
        if op.body is not None:
            # an empty body reads as {}: it may be left out when no field is required
            needed = any(field.is_required() for field in op.body.model_fields.values())
            entry["requestBody"] = {"required": needed, "content": {
                "application/json": {"schema": _schema(op.body, components)}}}
        ok: dict[str, Any] = {"description": "OK" if op.status < 300 else "Done"}
        if op.response is not None:
            ok["content"] = {"application/json": {"schema": _schema(op.response, components)}}
        responses: dict[str, Any] = {str(status): ok for status in (op.status, *op.also_ok)}
        for status in error_statuses(op):
            responses[str(status)] = {
                "description": _ERROR_TEXT.get(status, "Error"),
                "content": {"application/problem+json": {
                    "schema": {"$ref": "#/components/schemas/Problem"}}},
            }
        entry["responses"] = responses
        if op.auth in ("service", "customer"):
            entry["security"] = [{f"{op.auth}Token": []}]
        elif op.auth:  # a staff role; admin passes every role's check
            entry["security"] = [{"staffSession": []}, {"staffBearer": []}]
            entry["x-aisle-role"] = op.auth
        paths.setdefault(_openapi_path(op.path), {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{title} — storefront API", "version": __version__,
                 "description": "Catalog, search, carts and pricing of an Aisle shop. Errors "
                                "are RFC 7807 problem documents; money is integer minor units "
                                "with an ISO 4217 currency."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "staffSession": {"type": "apiKey", "in": "cookie", "name": "aisle_staff",
                                 "description": "a staff sign-in (POST /api/staff/sessions); "
                                                "unsafe methods also need X-CSRF-Token"},
                "staffBearer": {"type": "http", "scheme": "bearer",
                                "description": "a staff bearer token for scripts (POST "
                                               "/api/staff/sessions with kind=bearer), or "
                                               "the break-glass ADMIN_TOKEN where enabled"},
                "serviceToken": {"type": "http", "scheme": "bearer",
                                 "description": "SERVICE_TOKEN, shared by storefront_api "
                                                "and Aisle's action server"},
                "customerToken": {"type": "http", "scheme": "bearer",
                                  "description": "token returned by sign-in"},
            },
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI_SPEC])


async def _build_on_startup(app: web.Application) -> None:
    app[OPENAPI_SPEC] = build_spec(app, app[SETTINGS].shop_name)


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Aisle storefront API</title>
<link rel="stylesheet" href="/api/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/static/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/api/openapi.json", dom_id: "#swagger-ui"});</script>
</body></html>"""


async def docs_page(_request: web.Request) -> web.Response:
    return web.Response(text=DOCS_PAGE, content_type="text/html")


def register(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi_json)
    app.router.add_get("/api/docs", docs_page)
    app.on_startup.append(_build_on_startup)
    # Swagger UI 5 (swagger-ui-py's copy: the one of swagger-ui-bundle, 3.20, cannot read an
    # OpenAPI 3.1 document and showed "Unable to render this definition"). Located without
    # importing the package, which would load its web-framework adapters.
    found = importlib.util.find_spec("swagger_ui")
    if found and found.submodule_search_locations:
        static = Path(found.submodule_search_locations[0]) / "static"
        app.router.add_static("/api/docs/static", static)
