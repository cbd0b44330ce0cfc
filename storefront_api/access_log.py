"""The access log, without the personal data some URLs carry.

An order lookup is ``GET /api/orders/AB-12345?email=...``: aiohttp's default access log would
write the shopper's e-mail address (and order tokens) into every log line. Here the values
of such parameters are replaced by ``***``; the rest of the line is aiohttp's usual one.
"""

from __future__ import annotations

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

PRIVATE_PARAMETERS = {"email", "token", "password"}


def redacted_path(request: BaseRequest) -> str:
    if not request.query_string:
        return request.path
    pairs = [f"{key}=***" if key.lower() in PRIVATE_PARAMETERS else f"{key}={value}"
             for key, value in request.query.items()]
    return f"{request.path}?{'&'.join(pairs)}"


class RedactingAccessLogger(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info('%s "%s %s" %s %s %.1fms "%s"', request.remote, request.method,
                         redacted_path(request), response.status, response.body_length,
                         time * 1000, request.headers.get("User-Agent", "-"))
