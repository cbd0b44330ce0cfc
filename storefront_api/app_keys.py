"""Typed keys for what the application holds."""

from typing import Any

from aiohttp import web

from .db import Database
from .events.service import EventBuffer
from .settings import Settings

DB = web.AppKey("db", Database)
SETTINGS = web.AppKey("settings", Settings)
VIEW_EVENTS = web.AppKey("view_events", EventBuffer)
OPERATIONS = web.AppKey("api_operations", list)  # routing.Operation, for the OpenAPI document
OPENAPI_SPEC = web.AppKey("openapi_spec", dict[str, Any])
