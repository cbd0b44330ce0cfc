"""Kept HTTP sessions to the action server (bot/http_sessions.py): Rasa's RemoteAction calls
reuse one connection, send the endpoint's headers, survive an action server that drops the
connection, and Rasa's way stays one setting away."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from rasa.core import run
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot import http_sessions, resilience
from bot.tests.rasa_server_process import module_after_rasa_server
from bot.tests.test_resilience import free_port

DOMAIN = Domain.from_dict({"version": "3.1", "responses": {
    "utter_shop_unavailable": [{"text": "Sorry, try again in a moment."}]}})


@pytest.fixture
def installed(monkeypatch):
    """install() for one test; Rasa's endpoint and app set-up are put back after it (the
    resilience wrappers stay, installed once per process as in Rasa's server)."""
    monkeypatch.setattr(EndpointConfig, "session", EndpointConfig.session)
    monkeypatch.setattr(run, "configure_app", run.configure_app)
    monkeypatch.delenv("AISLE_HTTP_SESSIONS", raising=False)
    resilience.install()
    assert http_sessions.install() is True
    yield
    http_sessions._SESSIONS.clear()


class ActionServer:
    """An action server on a free port that records each call's connection and headers;
    ``drop`` calls are answered by closing the connection without a word."""

    def __init__(self, drop: set = frozenset(), delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: list[tuple] = []
        self.cookies: list = []
        self.drop = set(drop)

    async def start(self) -> str:
        async def webhook(request: web.Request) -> web.Response:
            body = await request.json()
            self.calls.append((request.transport.get_extra_info("peername"),
                               request.headers.get("X-Shop-Token")))
            self.cookies.append(request.headers.get("Cookie"))
            await asyncio.sleep(self.delay)
            if len(self.calls) in self.drop:
                request.transport.abort()
            answer = web.json_response({"events": [{"event": "slot", "name": "cart_id",
                                                    "value": f"cart-{body['sender_id']}"}],
                                        "responses": []})
            answer.set_cookie("sid", f"for-{body['sender_id']}")  # a proxy's, say
            return answer
        app = web.Application()
        app.router.add_post("/webhook", webhook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        return f"http://127.0.0.1:{port}/webhook"


async def call(url: str, sender: str, headers: dict | None = None) -> list:
    action = RemoteAction("action_add_to_cart", EndpointConfig(url=url, headers=headers))
    return await action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator({}),
                            DialogueStateTracker(sender, []), DOMAIN)


async def test_calls_reuse_one_connection_and_send_the_endpoints_headers(installed):
    server = ActionServer()
    url = await server.start()
    try:
        for n in range(5):
            assert await call(url, f"c{n}", {"X-Shop-Token": "t1"}) == \
                [SlotSet("cart_id", f"cart-c{n}")]
        await call(url, "other", {"X-Shop-Token": "t2"})  # another endpoint: its own session
    finally:
        await http_sessions.close_all()
        await server.runner.cleanup()
    peers = [peer for peer, _ in server.calls]
    assert len(set(peers[:5])) == 1, peers
    assert peers[5] != peers[0]
    assert [token for _, token in server.calls] == ["t1"] * 5 + ["t2"]
    assert server.cookies == [None] * 6  # c0's cookie never went out with c1's call
    assert not http_sessions._SESSIONS


async def test_calls_at_once_are_not_capped(installed):
    server = ActionServer(delay=0.5)  # all 120 in flight together
    url = await server.start()
    try:
        answers = await asyncio.gather(*(call(url, f"c{n}") for n in range(120)))
    finally:
        await http_sessions.close_all()
        await server.runner.cleanup()
    assert len(answers) == 120 and len({peer for peer, _ in server.calls}) == 120


async def test_rasas_way_is_a_new_connection_a_call(installed, monkeypatch):
    monkeypatch.setattr(http_sessions, "enabled", False)
    server = ActionServer()
    url = await server.start()
    try:
        for n in range(3):
            await call(url, f"c{n}")
    finally:
        await server.runner.cleanup()
    assert len({peer for peer, _ in server.calls}) == 3


async def test_a_dropped_connection_is_called_again_on_a_new_one(installed, monkeypatch):
    monkeypatch.setenv("ACTION_RETRY_SECONDS", "5")
    server = ActionServer(drop={2})
    url = await server.start()
    try:
        assert await call(url, "a") == [SlotSet("cart_id", "cart-a")]
        assert await call(url, "b") == [SlotSet("cart_id", "cart-b")]  # dropped, then again
    finally:
        await http_sessions.close_all()
        await server.runner.cleanup()
    peers = [peer for peer, _ in server.calls]
    assert len(peers) == 3 and peers[0] == peers[1] != peers[2]


async def test_an_idle_connection_is_closed_by_this_side_first(installed, monkeypatch):
    monkeypatch.setattr(http_sessions, "KEEPALIVE_SECONDS", 0.3)
    server = ActionServer()
    url = await server.start()
    try:
        await call(url, "a")
        await asyncio.sleep(0.8)  # longer than this side's keep-alive
        await call(url, "b")
    finally:
        await http_sessions.close_all()
        await server.runner.cleanup()
    assert server.calls[0][0] != server.calls[1][0]
    assert http_sessions.KEEPALIVE_SECONDS < 5  # under Sanic's (the action server's) 5 s


def test_a_new_event_loop_gets_a_new_session(installed):
    endpoint = EndpointConfig(url="http://127.0.0.1:9/webhook")

    async def session_of_this_loop():
        return http_sessions.kept_session(endpoint)

    first = asyncio.run(session_of_this_loop())
    second = asyncio.run(session_of_this_loop())
    assert first is not second
    assert len(http_sessions._SESSIONS) == 1  # the closed loop's session was let go


@pytest.mark.parametrize("choice,expected", [(None, "bot.http_sessions"),
                                             ("new", "rasa.utils.endpoints")])
def test_rasa_server_installs_the_kept_sessions_unless_told(choice, expected):
    found = module_after_rasa_server("from rasa.utils.endpoints import EndpointConfig",
                                     "EndpointConfig.session", "AISLE_HTTP_SESSIONS", choice)
    assert found == expected


def test_an_unknown_choice_stops_the_start(monkeypatch):
    monkeypatch.setenv("AISLE_HTTP_SESSIONS", "pooled")
    with pytest.raises(SystemExit, match="AISLE_HTTP_SESSIONS='pooled'"):
        http_sessions.install()
