"""What an operator sees of a storefront_api process: Prometheus metrics, liveness and
readiness, and the conversation in every log line.

- ``GET /metrics`` (Prometheus text format): requests by route (the route's template, never
  the raw path: tokens stay out and the label set stays small), method and status, latency
  histograms by route, the outbox's backlog and the age of its oldest waiting message,
  stock held by open payment links, payment webhook outcomes. Who may read it is a trust
  boundary (docs/security.md): the proxy does not publish it, and with METRICS_TOKEN set
  (production: without it the route does not exist) it needs ``Authorization: Bearer
  <METRICS_TOKEN>``. With several processes (``serve --workers N``) set
  PROMETHEUS_MULTIPROC_DIR to an empty directory and each scrape sums them.
- ``GET /livez``: the process answers (for a container's health check: restarting a process
  whose database is away does not bring the database back). ``GET /readyz`` (and the
  older ``/healthz``): the database answers too, else 503 with Retry-After (for a load
  balancer: send requests elsewhere for now).
- A request made in a conversation (the assistant's ``X-Conversation-Id`` with the service
  credential) logs every line with that conversation (storefront_api/logs.py).
- A request that finds the database unreachable (restarting, failing over) answers 503
  with ``Retry-After`` and a problem document, not a 500; the pool checks connections
  before use, so the process carries on by itself once the database is back.
"""

from __future__ import annotations

import logging
import os
import time

from aiohttp import web
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter,
                               Gauge, Histogram, generate_latest)
from sqlalchemy import func, select, text

from .app_keys import DB, SETTINGS
from .auth import bearer_token, same_secret
from .logs import CONVERSATION
from .problems import Problem

log = logging.getLogger("storefront_api")

RETRY_AFTER_SECONDS = 5
OPERATOR_PATHS = frozenset({"/metrics", "/livez", "/readyz", "/healthz"})

REQUESTS = Counter("aisle_http_requests_total", "HTTP requests by route, method and status",
                   ["route", "method", "status"])
LATENCY = Histogram("aisle_http_request_seconds", "Time to answer an HTTP request, by route",
                    ["route", "method"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
OUTBOX_MESSAGES = Gauge("aisle_outbox_messages", "Outbox messages by status "
                        "(pending: waiting to be sent or retried; failed: gave up)", ["status"])
OUTBOX_OLDEST = Gauge("aisle_outbox_oldest_pending_seconds",
                      "Age of the oldest outbox message still waiting (0: none)")
HELD_UNITS = Gauge("aisle_stock_held_units", "Units held by open payment links")
HOLDS = Gauge("aisle_stock_holds", "Active stock holds (one per variant and payment link)")
WEBHOOKS = Counter("aisle_payment_webhooks_total", "Payment webhook deliveries by outcome "
                   "(order, accepted, duplicate, refused)", ["outcome"])
DB_UNAVAILABLE = Counter("aisle_database_unavailable_total",
                         "Requests answered 503 because the database was unreachable")


def count_webhook(outcome: str) -> None:
    WEBHOOKS.labels(outcome).inc()


# --- the database being away -----------------------------------------------------------------

def database_unavailable(error: BaseException) -> bool:
    """A connection-level failure of the database (not a bad query)."""
    import sqlalchemy.exc
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        return error.connection_invalidated or isinstance(
            error, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError))
    if isinstance(error, sqlalchemy.exc.TimeoutError):  # the pool waited for a connection
        return True
    try:
        import asyncpg
        if isinstance(error, (asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
                              asyncpg.InterfaceError)):
            return True
    except ImportError:
        pass
    return isinstance(error, (ConnectionError, TimeoutError))


def service_unavailable() -> Problem:
    problem = Problem(503, "Service unavailable",
                      "The shop's database cannot be reached at the moment. Nothing was "
                      "changed; please try again in a moment.", type="database-unavailable")
    problem.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return problem


_last_warning = [0.0]


def _warn_unavailable(error: BaseException) -> None:
    DB_UNAVAILABLE.inc()
    now = time.monotonic()
    if now - _last_warning[0] >= 10:  # one line every 10 s, not one per request
        _last_warning[0] = now
        log.warning("database unreachable (%s: %s): answering 503 with Retry-After",
                    type(error).__name__, str(error).splitlines()[0] if str(error) else "")


# --- the middleware ----------------------------------------------------------------------------

def _route(request: web.Request) -> str:
    info = request.match_info
    if getattr(info, "http_exception", None) is not None:  # no route: aiohttp's 404/405
        return "unmatched"
    resource = info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def unavailable_problem(error: BaseException) -> Problem | None:
    """The 503 for an error that is the database being away (problems.py asks), else
    None."""
    if not database_unavailable(error):
        return None
    _warn_unavailable(error)
    return service_unavailable()


@web.middleware
async def observe(request: web.Request, handler):
    """Outermost: times and counts every request (by its final status, problem documents
    included) and carries the conversation into the logs."""
    from .auth import is_service_call
    started = time.perf_counter()
    status = 500
    # set at every request (a connection's requests share one task): also read by the
    # access log line, written after this returns
    CONVERSATION.set(request.headers["X-Conversation-Id"][:128]
                     if "X-Conversation-Id" in request.headers and is_service_call(request)
                     else None)
    try:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            status = exc.status
            raise
        status = response.status
        return response
    finally:
        if request.path not in OPERATOR_PATHS:
            route, method = _route(request), request.method
            REQUESTS.labels(route, method, str(status)).inc()
            LATENCY.labels(route, method).observe(time.perf_counter() - started)


# --- the operator's routes -------------------------------------------------------------------

async def livez(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 when the database answers, else 503 with Retry-After."""
    try:
        async with request.app[DB].read() as session:
            await session.execute(text("SELECT 1"))
    except Exception as error:  # the check's whole point is to report it
        log.warning("readiness: database unreachable (%s)", type(error).__name__)
        return web.json_response({"status": "unavailable", "database": "unreachable"},
                                 status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return web.json_response({"status": "ok", "database": "ok"})


async def metrics(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if settings.metrics_token and not same_secret(bearer_token(request),
                                                  settings.metrics_token):
        raise web.HTTPUnauthorized(text="metrics need Authorization: Bearer <METRICS_TOKEN>",
                                   headers={"WWW-Authenticate": "Bearer"})
    try:
        await _measure_shop(request.app)
    except Exception as error:  # noqa: BLE001 - the request counters are still worth having
        log.warning("metrics: the shop's gauges could not be read (%s)", type(error).__name__)
    return web.Response(body=generate_latest(_registry()),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


def _registry():
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    from prometheus_client import multiprocess
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


async def _measure_shop(app: web.Application) -> None:
    from .catalog.models import StockReservation
    from .db import utcnow
    from .outbox.models import OutboxMessage
    now = utcnow()
    async with app[DB].read() as session:
        counts = dict((await session.execute(
            select(OutboxMessage.status, func.count()).where(
                OutboxMessage.status.in_(("pending", "failed")))
            .group_by(OutboxMessage.status))).all())
        oldest = await session.scalar(select(func.min(OutboxMessage.created_at))
                                      .where(OutboxMessage.status == "pending"))
        holds, units = (await session.execute(
            select(func.count(), func.coalesce(func.sum(StockReservation.quantity), 0))
            .where(StockReservation.status == "active",
                   StockReservation.expires_at > now))).one()
    for status in ("pending", "failed"):
        OUTBOX_MESSAGES.labels(status).set(counts.get(status, 0))
    OUTBOX_OLDEST.set((now - oldest).total_seconds() if oldest else 0)
    HOLDS.set(holds)
    HELD_UNITS.set(units)


def register(app: web.Application) -> None:
    """/livez, /readyz and (unless production left METRICS_TOKEN unset) /metrics."""
    settings = app[SETTINGS]
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    if settings.metrics_token or not settings.is_production:
        app.router.add_get("/metrics", metrics)
    else:
        log.warning("METRICS_TOKEN is not set: /metrics is off (production serves it only "
                    "with a token)")
