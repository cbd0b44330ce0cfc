"""Route tables that carry their own OpenAPI description and validate input with pydantic.

Each domain package declares ``routes = ApiRoutes(tag)`` and decorates its handlers::

    @routes.get("/api/products", summary="Search products", query=ProductQuery)
    async def search_products(request, query: ProductQuery): ...

The decorator parses the query string or JSON body into the pydantic model (a 400 for
malformed JSON, a 422 listing each bad field otherwise) and records the operation so that
/api/openapi.json is generated from the same declarations that route the requests.

Bad input is refused before a handler runs, so it never reaches the database or a 500:
- every POST, PUT and PATCH body is read and checked, also on routes that declare no body
  model (an empty body or ``{}`` is what they take): not JSON, not a JSON object or nested
  deeper than MAX_JSON_DEPTH is a 400, text PostgreSQL cannot store (NUL, a lone surrogate)
  a 422 naming the field, and nothing changes. Depth is measured on the raw bytes first, in C-speed passes, so
  10,000 nested arrays never reach the recursive decoder. ``raw_body=True`` is for the one
  route that must verify the bytes before anything reads them (the payment webhook);
- path parameters and query values are bounded (MAX_PARAM_LENGTH, MAX_QUERY_LENGTH) and may
  not carry NUL: a path that cannot name anything of ours is a 404, such a query a 400;
- text fields are bounded by the models themselves (``max_length`` on every string, which
  pydantic checks before any pattern or validator runs).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Callable

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from .app_keys import OPERATIONS
from .auth import ROLE_GRANTS, authorize
from .problems import Problem, bad_request

MAX_BODY_BYTES = 64 * 1024
MAX_DB_INT = 2**31 - 1
MAX_JSON_DEPTH = 32  # event properties nest deepest, and the events keep only 8 levels
MAX_PARAM_LENGTH = 200  # a path parameter: tokens are 64 characters, order numbers 20
MAX_QUERY_LENGTH = 2000  # one query value
MAX_QUERY_PARAMETERS = 50
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


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
    response: type[BaseModel] | dict[str, Any] | None = None  # the 2xx document's schema
    status: int = 200
    also_ok: tuple[int, ...] = ()  # other 2xx statuses, with the same document
    errors: tuple[int, ...] = ()
    auth: str | None = None  # a staff role ("admin" | "merchant" | "agent"), "service", "customer"
    path_params: dict[str, str] = field(default_factory=dict)
    raw_body: bool = False  # the handler reads (and verifies) the bytes itself
    not_found: Callable[[str], Problem] | None = None  # the route's own 404 for a bad path


class ApiRoutes:
    def __init__(self, tag: str):
        self.tag = tag
        self.operations: list[Operation] = []

    def route(self, method: str, path: str, *, summary: str, description: str = "",
              query: type[BaseModel] | None = None, body: type[BaseModel] | None = None,
              response: type[BaseModel] | dict[str, Any] | None = None, status: int = 200,
              also_ok: tuple[int, ...] = (), errors: tuple[int, ...] = (),
              auth: str | None = None, raw_body: bool = False,
              not_found: Callable[[str], Problem] | None = None):
        if auth is not None and auth not in ("service", "customer") and auth not in ROLE_GRANTS:
            raise ValueError(f"unknown auth requirement {auth!r} on {method} {path}")

        def decorate(handler):
            @functools.wraps(handler)
            async def wrapper(request: web.Request):
                if auth is not None:  # credentials first: no validation hints to strangers
                    await authorize(request, auth)
                check_path(request, not_found)
                check_query(request)
                kwargs: dict[str, Any] = {}
                if query is not None:
                    kwargs["query"] = parse_query(request, query)
                if body is not None:
                    kwargs["body"] = await parse_body(request, body)
                elif method in BODY_METHODS and not raw_body:
                    await parse_body(request, NoBody)  # a broken body changes nothing either
                return await handler(request, **kwargs)

            params = {name: "integer" if ":\\d+" in pattern else "string"
                      for name, pattern in re.findall(r"\{(\w+)(:[^}]*)?\}", path)}
            self.operations.append(Operation(
                method=method, path=path, handler=wrapper, summary=summary, tag=self.tag,
                description=description or (handler.__doc__ or "").strip(), query=query,
                body=body, response=response, status=status, also_ok=also_ok,
                errors=errors, auth=auth,
                path_params=params, raw_body=raw_body, not_found=not_found,
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


class NoBody(BaseModel):
    """What a POST, PUT or PATCH route without a body model takes: nothing, or ``{}``."""
    model_config = ConfigDict(extra="forbid")


def check_path(request: web.Request,
               not_found: Callable[[str], Problem] | None = None) -> None:
    """A path parameter too long to be an id or token of ours, or holding NUL, names nothing:
    the route's own 404 (``not_found(value)``, e.g. the one answer of every order miss), or
    a plain one."""
    for name, value in request.match_info.items():
        if len(value) > MAX_PARAM_LENGTH or "\x00" in value:
            if not_found is not None:
                raise not_found(value)
            raise Problem(404, "Not found", f"There is nothing at this {name}.",
                          type="not-found")


def check_query(request: web.Request) -> None:
    query = request.query
    if len(query) > MAX_QUERY_PARAMETERS:
        raise bad_request(f"At most {MAX_QUERY_PARAMETERS} query parameters.",
                          type="query-too-large")
    for key, value in query.items():
        if len(key) > MAX_QUERY_LENGTH or len(value) > MAX_QUERY_LENGTH:
            raise bad_request(f"A query parameter is limited to {MAX_QUERY_LENGTH} characters.",
                              type="query-too-large")
        if "\x00" in key or "\x00" in value:
            raise bad_request("The query string holds a NUL character.", type="malformed-query")


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
    data = decode_json_object(raw)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc, "body") from None


def decode_json_object(raw: bytes) -> dict[str, Any]:
    """The JSON object in ``raw`` (an empty body is ``{}``), or a 400 saying what is wrong."""
    if not raw.strip():
        return {}
    if nesting_depth(raw) > MAX_JSON_DEPTH:
        raise bad_request(f"The body nests arrays and objects deeper than {MAX_JSON_DEPTH} "
                          "levels.", type="malformed-json")
    try:
        data = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise bad_request(f"The body is not valid JSON: {str(exc)[:200]}.",
                          type="malformed-json") from None
    if not isinstance(data, dict):
        raise bad_request("The body must be a JSON object.", type="malformed-json")
    where = unstorable_text(data)
    if where is not None:
        message = "holds a NUL character (\\u0000) or an unpaired surrogate"
        raise Problem(422, "Invalid request", f"Invalid body: {where or '(all)'}: {message}",
                      type="validation-error", errors=[{"field": where or "(all)",
                                                        "message": message}])
    return data


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")  # Python's decoder would accept NaN and Infinity


# A JSON string (an unterminated one runs to the end), matched without backtracking, so
# that stripping strings stays linear whatever the bytes are.
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\[\s\S])*+(?:"|\\?\Z)')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1, +1, -1, -1 as signed


def nesting_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in the JSON text ``raw`` (brackets inside strings
    do not count). C-speed passes only: strip strings, keep brackets, add up +1/-1."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return 0  # cannot be too deep: the common case, decided by two counts
    steps = _JSON_STRING.sub(b"", raw).translate(_DEPTH_STEPS, _NOT_BRACKETS)
    return max(accumulate(memoryview(steps).cast("b")), default=0)


def unstorable_text(data: Any) -> str | None:
    """Where (``a.b.0``) a key or string of ``data`` holds NUL or an unpaired surrogate, or
    None: PostgreSQL refuses the first and UTF-8 cannot encode the second (each would be a
    500 later)."""
    pending: list[tuple[str, Any]] = [("", data)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item or (not item.isascii() and not _encodable(item)):
                return where
        elif isinstance(item, dict):
            for key, value in item.items():
                inner = f"{where}.{key}" if where else str(key)
                pending += [(inner, key), (inner, value)]
        elif isinstance(item, list):
            pending += [(f"{where}.{n}" if where else str(n), value)
                        for n, value in enumerate(item)]
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
