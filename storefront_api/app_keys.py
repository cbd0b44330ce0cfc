"""Typed keys for what the application holds."""

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .db import Database
from .events.service import EventBuffer
from .outbox.dispatcher import OutboxDispatcher
from .payments.gateway import PaymentGateway
from .settings import Settings

if TYPE_CHECKING:
    from .ratelimit import RateLimiter

DB = web.AppKey("db", Database)
SETTINGS = web.AppKey("settings", Settings)
VIEW_EVENTS = web.AppKey("view_events", EventBuffer)
OUTBOX = web.AppKey("outbox", OutboxDispatcher)  # sends e-mails and chat notices
PAYMENT_GATEWAY = web.AppKey("payment_gateway", PaymentGateway)  # PAYMENT_GATEWAY=test|stripe
OPERATIONS = web.AppKey("api_operations", list)  # routing.Operation, for the OpenAPI document
OPENAPI_SPEC = web.AppKey("openapi_spec", dict[str, Any])
RATE_LIMITER: web.AppKey["RateLimiter"] = web.AppKey("rate_limiter")  # abuse limits
