"""One HTTP session per endpoint, kept, for Rasa's calls to the action server.

Rasa 3.6's ``EndpointConfig.request`` opens a new aiohttp session for every request
(``async with self.session()``) and closes it after: every custom action of every turn pays
for a new connection pool, a name lookup, a TCP connection that the action server accepts
and tears down again, and its own cleanup. Measured on this machine, a request with a
150-event tracker cost 1.7 ms of CPU (client and server in one process) that way, 0.9 ms on
a kept connection.

``install()`` (called by bot/rasa_server.py before Rasa starts) makes
``EndpointConfig.session`` hand out one session per endpoint (its URL, headers and basic
auth) and event loop, kept open: ``async with endpoint.session()`` then enters it without
closing it at the end, so Rasa's own ``request`` (and its model-server pull) reuses its
connections. What changes nothing:

- headers, basic auth and the total timeout are the ones Rasa's own session gets; TLS
  (``cafile``) is still given per request by Rasa; no cookie is kept (a cookie set on one
  conversation's call is not sent with the next), and calls at once are not capped;
- a kept connection is closed by this side after ``KEEPALIVE_SECONDS`` (2 s) idle, before
  the action server's own keep-alive limit (Sanic's, 5 s): the server never closes one just
  as it is reused. A connection that broke anyway (the action server was restarted) fails
  the request as a refused one would (``aiohttp.ClientConnectionError``), which
  bot/resilience.py calls again on a new connection;
- a session whose event loop has closed is not reused; the sessions are closed when Rasa's
  server stops.

``AISLE_HTTP_SESSIONS=new`` keeps Rasa's way (a session per request).
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, Tuple

import aiohttp

from bot import action_call_json
from bot.choices import chosen, rasas_own, replace

KEEPALIVE_SECONDS = 2.0
# (loop id, URL, headers, auth) -> (the loop, its session)
_SESSIONS: Dict[Tuple[Any, ...], Tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession]] = {}
enabled = True  # bench/rasa_turn_cpu.py switches it between rounds


class _Entered:
    """What ``async with`` enters: the kept session, left open on the way out."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self.session

    async def __aexit__(self, *exc_info: Any) -> None:
        return None


def _key(endpoint: Any, loop: asyncio.AbstractEventLoop) -> Tuple[Any, ...]:
    headers = tuple(sorted((str(k), str(v)) for k, v in (endpoint.headers or {}).items()))
    auth = tuple(sorted((endpoint.basic_auth or {}).items()))
    return (id(loop), endpoint.url, headers, auth)


def kept_session(endpoint: Any) -> aiohttp.ClientSession:
    """The endpoint's kept session on the running loop (made on first use)."""
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT

    loop = asyncio.get_running_loop()
    key = _key(endpoint, loop)
    owner, session = _SESSIONS.get(key, (None, None))
    if session is None or session.closed or owner is not loop:
        for stale in [k for k, (o, _) in _SESSIONS.items() if o.is_closed()]:
            del _SESSIONS[stale]  # their loops are gone, and their connections with them
        auth = None
        if endpoint.basic_auth:
            auth = aiohttp.BasicAuth(endpoint.basic_auth["username"],
                                     endpoint.basic_auth["password"])
        session = aiohttp.ClientSession(
            headers=endpoint.headers, auth=auth,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            # no cookie jar: a cookie one conversation's answer set must not go out with
            # another's call (Rasa's session a request kept none either); no cap on the
            # connections at once (Rasa's had a connection pool a request)
            cookie_jar=aiohttp.DummyCookieJar(),
            # an action call's events from their kept JSON (bot/action_call_json.py)
            json_serialize=action_call_json.dumps,
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS, limit=0))
        _SESSIONS[key] = (loop, session)
    return session


async def close_all() -> None:
    """Close the kept sessions of the running loop (the server is stopping)."""
    loop = asyncio.get_running_loop()
    for key, (owner, session) in list(_SESSIONS.items()):
        if owner is loop:
            del _SESSIONS[key]
            await session.close()


def install() -> bool:
    """Makes Rasa's endpoints reuse their sessions (unless AISLE_HTTP_SESSIONS=new); True if
    installed. Call before Rasa starts."""
    from rasa.core import run
    from rasa.utils.endpoints import EndpointConfig

    if chosen("AISLE_HTTP_SESSIONS", "kept", "new") == "new":
        return False
    original = rasas_own(EndpointConfig, "session")

    def session(self: EndpointConfig) -> Any:
        return _Entered(kept_session(self)) if enabled else original(self)

    replace(EndpointConfig, "session", session, original)
    original_configure = rasas_own(run, "configure_app")

    def configure_app(*args: Any, **kwargs: Any) -> Any:
        app = original_configure(*args, **kwargs)

        async def close_sessions(*_: Any) -> None:
            await close_all()

        app.register_listener(close_sessions, "after_server_stop")
        return app

    replace(run, "configure_app", configure_app, original_configure)
    return True
