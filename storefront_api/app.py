"""The application factory: one aiohttp app, routes registered per domain."""

from __future__ import annotations

import asyncio
import gc
import logging
from pathlib import Path

from aiohttp import web

from . import observability, openapi
from .access_log import RedactingAccessLogger
from .catalog.pictures import register_pictures
from .chat.page import register_chat_page
from .shop_page import register_shop_front
from .checkout.pages import register_checkout_pages
from .checkout.sweeper import run_sweeper
from .events.visits import run_compaction
from .consent.pages import register_consent_pages
from .app_keys import DB, OUTBOX, PAYMENT_GATEWAY, RATE_LIMITER, SETTINGS, VIEW_EVENTS
from .db import Database
from .events.service import EventBuffer
from .inbox import setup_inbox
from .logs import configure_logging
from .migrations import upgrade_async
from .outbox.dispatcher import OutboxDispatcher
from .payments.builtin.pages import register_pages
from .payments.gateways import gateway_for
from .problems import problem_middleware
from .production import refuse_unsafe
from .ratelimit import RateLimiter, api_rate_limit
from .settings import Settings
from .staff.pages import register_staff_pages

log = logging.getLogger("storefront_api")
WEB_DIR = Path(__file__).resolve().parent / "web"


def _domain_routes():
    from .aftersales.routes import routes as aftersales
    from .cart.routes import routes as cart
    from .catalog.routes import routes as catalog
    from .chat.routes import routes as chat
    from .checkout.payment_webhook import routes as payments
    from .checkout.routes import routes as checkout
    from .consent.routes import routes as consent
    from .customers.routes import routes as customers
    from .events.routes import routes as events
    from .fulfilment.routes import routes as fulfilment
    from .inbox.routes import routes as inbox
    from .orders.routes import routes as orders
    from .pricing.routes import routes as pricing
    from .recovery.routes import routes as recovery
    from .staff.routes import routes as staff
    from .support.routes import routes as support
    return [catalog, cart, checkout, payments, orders, fulfilment, customers, pricing, events,
            aftersales, support, recovery, chat, consent, staff, inbox]


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> web.Application:
    settings = settings or Settings.from_env()
    refuse_unsafe(settings)  # AISLE_ENV=production: fail closed, naming what to fix
    app = web.Application(middlewares=[observability.observe, problem_middleware,
                                       api_rate_limit], client_max_size=1024 * 1024)
    app[SETTINGS] = settings
    app[RATE_LIMITER] = RateLimiter(settings)

    async def database(app: web.Application):
        if migrate:
            await upgrade_async(settings.database_url)
        app[DB] = Database(settings.database_url, pool_size=settings.db_pool_size,
                           echo=settings.log_sql)
        app[VIEW_EVENTS] = EventBuffer(app[DB], interval=settings.view_event_flush_seconds)
        app[VIEW_EVENTS].start()
        app[OUTBOX] = OutboxDispatcher(app[DB], settings)  # OUTBOX_POLL_SECONDS=0: not here
        app[OUTBOX].start()
        await _warm_up(app[DB])
        yield
        await app[OUTBOX].stop()
        await app[VIEW_EVENTS].stop()
        await app[DB].dispose()

    async def payment_gateway(app: web.Application):
        app[PAYMENT_GATEWAY] = gateway_for(settings)
        stop = asyncio.Event()
        sweeper = asyncio.get_running_loop().create_task(
            run_sweeper(app[DB], app[PAYMENT_GATEWAY], stop))  # unpaid checkouts expire
        compaction = asyncio.get_running_loop().create_task(  # the Overview's daily visits
            run_compaction(app[DB], stop, settings.visits_compact_seconds))
        yield
        stop.set()
        await sweeper
        await compaction
        await app[PAYMENT_GATEWAY].close()  # the Stripe client's HTTP connections

    async def rate_limits(app: web.Application):
        yield
        await app[RATE_LIMITER].close()

    app.cleanup_ctx.append(database)
    app.cleanup_ctx.append(payment_gateway)
    app.cleanup_ctx.append(rate_limits)
    setup_inbox(app)  # /inbox, its live streams, the tracker store watch (after the database)
    if settings.recovery_interval_minutes:
        app.cleanup_ctx.append(_cart_reminders)
    app.router.add_get("/healthz", healthz)
    observability.register(app)  # /livez, /readyz, /metrics
    openapi.register(app)
    if not settings.is_production:  # production refuses the test gateway; its page too
        register_pages(app)  # the test gateway's hosted payment page, /pay/{session_id}
    register_chat_page(app)  # the web chat, /chat
    register_shop_front(app)  # the demo shop front, /
    register_pictures(app)  # the demo catalog's pictures, /images/demo/...
    register_staff_pages(app)  # /staff/sign-in, /staff/set-password
    register_checkout_pages(app)  # where the payment provider sends the shopper back
    register_consent_pages(app)  # /consent/confirm, the link of a confirmation e-mail
    for routes in _domain_routes():
        routes.register(app)
    if WEB_DIR.is_dir():
        app.router.add_static("/static", WEB_DIR, show_index=False)
    return app


async def _cart_reminders(app: web.Application):
    """RECOVERY_INTERVAL_MINUTES > 0: this process also runs the abandoned-cart reminders."""
    from .recovery.service import run_periodically
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(run_periodically(app[DB], app[SETTINGS], stop))
    yield
    stop.set()
    await task


async def _warm_up(db: Database) -> None:
    """Load the search snapshot before the first shopper waits for it."""
    from .catalog.search import catalog_cache, catalog_snapshot
    async with db.read() as session:
        await catalog_cache(session)
        await catalog_snapshot(session)


async def healthz(request: web.Request) -> web.Response:
    """Database reachability, for load balancers and `make run` (the same as /readyz; a
    container's liveness check is /livez: storefront_api/observability.py)."""
    return await observability.readyz(request)


async def _freeze_startup_objects(app: web.Application) -> None:
    """What start-up built (modules, routes, the search snapshot) lives as long as the
    process: keep it out of the garbage collector's full passes, which otherwise stop a
    serving process for 60-100 ms every few hundred requests (measured under chat load)."""
    gc.freeze()


def serve(settings: Settings, host: str, port: int, *, reuse_port: bool = False,
          quiet: bool = False) -> None:
    """Run one server process (the schema must already be migrated)."""
    configure_logging("storefront_api")  # LOG_FORMAT=json: one JSON object a line
    app = create_app(settings, migrate=False)
    app.on_startup.append(_freeze_startup_objects)  # after the cleanup contexts' start-up
    web.run_app(app, host=host, port=port, reuse_port=reuse_port,
                access_log=None if quiet else logging.getLogger("aiohttp.access"), print=None,
                access_log_class=RedactingAccessLogger)  # no e-mails from lookup URLs in logs
