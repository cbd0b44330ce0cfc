"""GET /api/admin/recovery: what the cart reminders brought back (bearer ADMIN_TOKEN)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from ..app_keys import DB, SETTINGS
from ..db import utcnow
from .. import responses
from ..routing import ApiRoutes, json_response
from .eligibility import RecoveryPolicy
from .stats import recovery_stats

routes = ApiRoutes("recovery")


class RecoveryQuery(BaseModel):
    days: int = Field(30, ge=1, le=3650, description="reminders sent in the last N days")


@routes.get("/api/admin/recovery", summary="Abandoned-cart reminders and what they recovered",
            query=RecoveryQuery, auth="merchant", errors=(401, 422),
            response=responses.RecoveryStats)
async def get_recovery(request: web.Request, query: RecoveryQuery) -> web.Response:
    """Reminders sent (by kind), carts reminded, recovered (an order within
    RECOVERY_WINDOW_DAYS after a reminder), pending and lost, their value, promo codes used."""
    policy = RecoveryPolicy.from_settings(request.app[SETTINGS])
    async with request.app[DB].read() as session:
        stats = await recovery_stats(session, policy, utcnow(), query.days)
    return json_response(stats)
