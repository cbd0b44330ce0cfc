"""RFC 7807 problem documents and the middleware that turns every error into one.

Handlers raise ``Problem`` (or call the helpers below); aiohttp's own HTTP errors (404 for an
unknown route, 405, 413) and unexpected exceptions are converted too, so a client never sees
an HTML error page or a stack trace.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from .access_log import redacted_path_only

log = logging.getLogger("storefront_api")

PROBLEM_BASE = "https://aisle.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"


class Problem(web.HTTPException):
    """An HTTP error carrying a problem document (type, title, status, detail, extras)."""

    def __init__(self, status: int, title: str, detail: str = "", *, type: str = "", **extra: Any):
        self.status_code = status
        super().__init__()
        self.body_dict = {
            "type": PROBLEM_BASE + (type or title.lower().replace(" ", "-")),
            "title": title,
            "status": status,
            "detail": detail or title,
            **extra,
        }
        self.content_type = PROBLEM_CONTENT_TYPE
        self.text = json.dumps(self.body_dict)


def bad_request(detail: str, *, type: str = "bad-request", **extra) -> Problem:
    return Problem(400, "Bad request", detail, type=type, **extra)


def not_found(what: str, ident: Any = None) -> Problem:
    detail = f"No {what} with id {ident!r}." if ident is not None else f"{what} not found."
    return Problem(404, "Not found", detail, type="not-found")


def conflict(detail: str, *, type: str = "conflict", **extra) -> Problem:
    return Problem(409, "Conflict", detail, type=type, **extra)


def unprocessable(detail: str, *, type: str = "validation-error", **extra) -> Problem:
    return Problem(422, "Invalid request", detail, type=type, **extra)


_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
           405: "Method not allowed", 413: "Request too large", 429: "Too many requests"}


@web.middleware
async def problem_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except Problem:
        raise
    except web.HTTPException as exc:
        if exc.status < 400 or not _wants_problem(request):
            raise
        title = _TITLES.get(exc.status, exc.reason)
        detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else title
        if exc.status == 404:
            detail = f"There is no resource at {request.path}."
        elif exc.status == 405:
            detail = f"{request.method} is not allowed on {request.path}."
        problem = Problem(exc.status, title, detail, type=title.lower().replace(" ", "-"))
        for key in ("Allow", "Retry-After", "WWW-Authenticate"):
            if key in exc.headers:
                problem.headers[key] = exc.headers[key]
        raise problem from None
    except Exception as error:  # logged without the tokens and e-mail addresses a path may carry
        from .observability import unavailable_problem
        unavailable = unavailable_problem(error)  # the database away: 503, Retry-After
        if unavailable is not None:
            raise unavailable from None
        log.exception("unhandled error on %s %s", request.method,
                      redacted_path_only(request.path))
        raise Problem(
            500, "Internal error",
            "Something went wrong on our side; it has been logged. Please try again.",
            type="internal-error",
        ) from None


def _wants_problem(request: web.Request) -> bool:
    return request.path.startswith("/api") or request.path == "/healthz"
