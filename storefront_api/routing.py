"""Route tables that carry their own OpenAPI description and validate input with pydantic.

Each domain package declares ``routes = ApiRoutes(tag)`` and decorates its handlers::

    @routes.get("/api/products", summary="Search products", query=ProductQuery)
    async def search_products(request, query: ProductQuery): ...

The decorator parses the query string or JSON body into the pydantic model (a 400 for
malformed JSON, a 422 listing each bad field otherwise) and records the operation so that
/api/openapi.json is generated from the same declarations that route the requests.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web
from pydantic import BaseModel, ValidationError

from .app_keys import OPERATIONS
from .auth import ROLE_GRANTS, authorize
from .problems import Problem, bad_request

MAX_BODY_BYTES = 64 * 1024
MAX_DB_INT = 2**31 - 1


@dataclass
class Operation:
    method: str
    path: str
    handler: Callable
    summary: str
    tag: str
    description: str = ""
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    auth: str | None = None  # a staff role ("admin" | "merchant" | "agent"), "service", "customer"
    path_params: dict[str, str] = field(default_factory=dict)


class ApiRoutes:
    def __init__(self, tag: str):
        self.tag = tag
        self.operations: list[Operation] = []

    def route(self, method: str, path: str, *, summary: str, description: str = "",
              query: type[BaseModel] | None = None, body: type[BaseModel] | None = None,
              response: type[BaseModel] | None = None, status: int = 200,
              errors: tuple[int, ...] = (), auth: str | None = None):
        if auth is not None and auth not in ("service", "customer") and auth not in ROLE_GRANTS:
            raise ValueError(f"unknown auth requirement {auth!r} on {method} {path}")

        def decorate(handler):
            @functools.wraps(handler)
            async def wrapper(request: web.Request):
                if auth is not None:  # credentials first: no validation hints to strangers
                    await authorize(request, auth)
                kwargs: dict[str, Any] = {}
                if query is not None:
                    kwargs["query"] = parse_query(request, query)
                if body is not None:
                    kwargs["body"] = await parse_body(request, body)
                return await handler(request, **kwargs)

            params = {name: "integer" if ":\\d+" in pattern else "string"
                      for name, pattern in re.findall(r"\{(\w+)(:[^}]*)?\}", path)}
            self.operations.append(Operation(
                method=method, path=path, handler=wrapper, summary=summary, tag=self.tag,
                description=description or (handler.__doc__ or "").strip(), query=query,
                body=body, response=response, status=status, errors=errors, auth=auth,
                path_params=params,
            ))
            return wrapper
        return decorate

    def get(self, path: str, **kw):
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw):
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw):
        return self.route("PUT", path, **kw)

    def patch(self, path: str, **kw):
        return self.route("PATCH", path, **kw)

    def delete(self, path: str, **kw):
        return self.route("DELETE", path, **kw)

    def register(self, app: web.Application) -> None:
        for op in self.operations:
            app.router.add_route(op.method, op.path, op.handler)
        app.setdefault(OPERATIONS, []).extend(self.operations)


def validation_problem(exc: ValidationError, where: str) -> Problem:
    errors = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in err["loc"]) or "(all)"
        errors.append({"field": loc, "message": err["msg"]})
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return Problem(422, "Invalid request", f"Invalid {where}: {summary}",
                   type="validation-error", errors=errors)


def parse_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    raw: dict[str, Any] = {}
    for key in request.query.keys():
        if key in model.model_fields:
            values = request.query.getall(key)
            raw[key] = values[-1]
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise validation_problem(exc, "query parameters") from None


async def parse_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    if request.content_length and request.content_length > MAX_BODY_BYTES:
        raise Problem(413, "Request too large", f"The body is limited to {MAX_BODY_BYTES} bytes.")
    raw = await request.read()
    if len(raw) > MAX_BODY_BYTES:
        raise Problem(413, "Request too large", f"The body is limited to {MAX_BODY_BYTES} bytes.")
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request(f"The body is not valid JSON: {exc}.", type="malformed-json") from None
    if not isinstance(data, dict):
        raise bad_request("The body must be a JSON object.", type="malformed-json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc, "body") from None


def int_param(request: web.Request, name: str, what: str) -> int:
    """A numeric path parameter; anything out of range is simply an unknown id (404)."""
    raw = request.match_info[name]
    value = int(raw) if raw.isdigit() and len(raw) < 12 else -1
    if not 0 < value <= MAX_DB_INT:
        raise Problem(404, "Not found", f"No {what} with id {raw!r}.", type="not-found")
    return value


def json_response(data: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(text=json.dumps(data, separators=(",", ":"), default=str), status=status,
                        content_type="application/json", headers=headers)
