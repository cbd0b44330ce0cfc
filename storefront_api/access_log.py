"""The access log, without the secrets and personal data some URLs carry.

An order lookup is ``GET /api/orders/AB-12345?email=...``, a cart is ``/api/carts/{token}``,
a payment page ``/pay/{session id}``: aiohttp's default access log would write shoppers'
e-mail addresses and the tokens that open their carts, checkouts and payments into every
log line. Here the values of such query parameters and such path segments are replaced by
``***``, and any e-mail address left in the path or the query by ``<address>``; the rest of
the line is aiohttp's usual one. deploy/nginx.conf logs the same way in front of it.
"""

from __future__ import annotations

import re

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from .redaction import redact_emails

PRIVATE_PARAMETERS = {"email", "token", "password", "cart_token", "session_id", "code"}
MASK = "***"
# The path segment after these prefixes is a bearer secret: whoever has it, has the cart,
# checkout, payment session or staff password link.
TOKEN_PATH_PREFIXES = ("/api/carts/", "/api/checkouts/", "/pay/", "/checkout/",
                       "/staff/set-password/", "/api/staff/set-password/")
_TOKEN_SEGMENT = re.compile(
    "^(" + "|".join(re.escape(prefix) for prefix in TOKEN_PATH_PREFIXES) + ")[^/]+")


def redacted_path_only(path: str) -> str:
    """``path`` with its token segment masked and e-mail addresses replaced."""
    return redact_emails(_TOKEN_SEGMENT.sub(lambda m: m.group(1) + MASK, path, count=1))


def redacted_path(request: BaseRequest) -> str:
    path = redacted_path_only(request.path)
    if not request.query_string:
        return path
    pairs = [f"{key}={MASK}" if key.lower() in PRIVATE_PARAMETERS else f"{key}={value}"
             for key, value in request.query.items()]
    return f"{path}?{redact_emails('&'.join(pairs))}"


class RedactingAccessLogger(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info('%s "%s %s" %s %s %.1fms "%s"', request.remote, request.method,
                         redacted_path(request), response.status, response.body_length,
                         time * 1000, request.headers.get("User-Agent", "-"))
