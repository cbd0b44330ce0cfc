"""Staff sessions (placeholder until the staff accounts land)."""

from __future__ import annotations

from aiohttp import web


async def identify(request: web.Request):
    """The staff member whose session or bearer token the request carries, or None."""
    return None
