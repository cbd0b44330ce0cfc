"""The application factory: one aiohttp app, routes registered per domain."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web
from sqlalchemy import text

from . import openapi
from .app_keys import DB, SETTINGS, VIEW_EVENTS
from .db import Database
from .events.service import EventBuffer
from .migrations import upgrade_async
from .problems import problem_middleware
from .routing import json_response
from .settings import Settings

log = logging.getLogger("storefront_api")
WEB_DIR = Path(__file__).resolve().parent / "web"


def _domain_routes():
    from .cart.routes import routes as cart
    from .catalog.routes import routes as catalog
    from .checkout.routes import routes as checkout
    from .customers.routes import routes as customers
    from .events.routes import routes as events
    from .pricing.routes import routes as pricing
    return [catalog, cart, checkout, customers, pricing, events]


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> web.Application:
    settings = settings or Settings.from_env()
    app = web.Application(middlewares=[problem_middleware], client_max_size=1024 * 1024)
    app[SETTINGS] = settings

    async def database(app: web.Application):
        if migrate:
            await upgrade_async(settings.database_url)
        app[DB] = Database(settings.database_url, pool_size=settings.db_pool_size,
                           echo=settings.log_sql)
        app[VIEW_EVENTS] = EventBuffer(app[DB], interval=settings.view_event_flush_seconds)
        app[VIEW_EVENTS].start()
        await _warm_up(app[DB])
        yield
        await app[VIEW_EVENTS].stop()
        await app[DB].dispose()

    app.cleanup_ctx.append(database)
    app.router.add_get("/healthz", healthz)
    openapi.register(app)
    for routes in _domain_routes():
        routes.register(app)
    if WEB_DIR.is_dir():
        app.router.add_static("/static", WEB_DIR, show_index=False)
    return app


async def _warm_up(db: Database) -> None:
    """Load the search snapshot before the first shopper waits for it."""
    from .catalog.search import catalog_cache, catalog_snapshot
    async with db.read() as session:
        await catalog_cache(session)
        await catalog_snapshot(session)


async def healthz(request: web.Request) -> web.Response:
    """Liveness and database reachability, for load balancers and `make run`."""
    try:
        async with request.app[DB].read() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # the check's whole point is to report it, not to raise
        log.warning("health check failed: %s", exc)
        return json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    return json_response({"status": "ok", "database": "ok"})


def serve(settings: Settings, host: str, port: int, *, reuse_port: bool = False,
          quiet: bool = False) -> None:
    """Run one server process (the schema must already be migrated)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    web.run_app(create_app(settings, migrate=False), host=host, port=port, reuse_port=reuse_port,
                access_log=None if quiet else logging.getLogger("aiohttp.access"), print=None)
