"""storefront_api's calls to Rasa's HTTP API carry its short-lived JWT: the handoff's calls
(support/conversations.py) and the chat notices of the outbox (outbox/delivery.py). A stand-in
Rasa checks each call the way Rasa 3.6's server does with --jwt-secret (sanic-jwt: HS256
signature and expiry, then role admin); the real server is checked in
tests/e2e/test_internal_hops.py."""

from __future__ import annotations

import time
from datetime import datetime

import jwt
import pytest
from aiohttp import web

from storefront_api.chat.rasa_api import (RENEW_BEFORE_SECONDS, TOKEN_SECONDS,
                                          RasaApiCredential, rasa_credential)
from storefront_api.outbox.delivery import ConversationNotices
from storefront_api.settings import Settings
from storefront_api.support.conversations import RasaConversation, RasaUnavailable

SECRET = "rasa-jwt-secret-for-the-credential-tests-012345"


class CheckingRasa:
    """Answers 200 to a call with a valid admin JWT, 401 otherwise; keeps what it saw."""

    def __init__(self, secret: str):
        self.secret, self.seen = secret, []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        self.seen.append({"path": request.path, "query": dict(request.query),
                          "scheme": scheme, "token": token})
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            return web.json_response({"reason": "NotAuthenticated"}, status=401)
        if scheme != "Bearer" or claims.get("user", {}).get("role") != "admin":
            return web.json_response({"reason": "NotAuthorized"}, status=403)
        return web.json_response({"events": [], "sender_id": "x"})


@pytest.fixture
async def rasa(aiohttp_server):
    checking = CheckingRasa(SECRET)
    server = await aiohttp_server(checking.app())
    checking.url = str(server.make_url("")).rstrip("/")
    return checking


def test_the_token_is_short_lived_admin_and_reused_until_near_expiry():
    credential = RasaApiCredential(SECRET)
    now = time.time()
    token = credential.token(now)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["user"] == {"username": "storefront_api", "role": "admin"}
    assert claims["exp"] - claims["iat"] == TOKEN_SECONDS <= 300
    assert credential.token(now + TOKEN_SECONDS - RENEW_BEFORE_SECONDS - 1) == token
    later = credential.token(now + TOKEN_SECONDS - RENEW_BEFORE_SECONDS + 1)
    assert later != token and jwt.decode(later, SECRET, algorithms=["HS256"],
                                         options={"verify_exp": False, "verify_iat": False}
                                         )["exp"] > claims["exp"]
    assert credential.headers(now)["Authorization"].startswith("Bearer ey")
    assert RasaApiCredential("").headers() == {}  # no secret: Rasa without auth (tests)
    assert rasa_credential(SECRET) is rasa_credential(SECRET)


async def test_the_handoffs_calls_carry_the_token(rasa):
    conversation = RasaConversation(rasa.url, "conv/../model?x=1", SECRET)
    await conversation.deliver_agent_message("Hello from Ana", "Ana")
    await conversation.hand_back()
    assert await conversation.shopper_messages(datetime(2020, 1, 1), None) == []
    assert len(rasa.seen) == 4 and all(call["scheme"] == "Bearer" for call in rasa.seen)
    assert {call["path"] for call in rasa.seen} == {
        "/conversations/conv/../model?x=1/tracker/events",
        "/conversations/conv/../model?x=1/execute",
        "/conversations/conv/../model?x=1/tracker"}


async def test_attack_without_the_right_secret_rasa_refuses_the_handoffs_calls(rasa):
    for secret in ("", "another-secret-of-at-least-thirty-two-chars"):
        with pytest.raises(RasaUnavailable) as refused:
            await RasaConversation(rasa.url, "conv-1", secret).hand_back()
        assert refused.value.status == 502 and "401" in refused.value.detail


async def test_chat_notices_carry_the_token(rasa, tmp_path):
    settings = Settings.from_env(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
                                 var_dir=tmp_path, rasa_url=rasa.url, rasa_jwt_secret=SECRET)
    notices = ConversationNotices(settings)
    try:
        await notices.send({"conversation_id": "conv-2", "intent": "EXTERNAL_payment_received",
                            "entities": {"order_number": "KX-12345"}})
    finally:
        await notices.close()
    [call] = rasa.seen
    assert call["path"] == "/conversations/conv-2/trigger_intent"
    assert call["query"] == {"output_channel": "latest"} and "token" not in call["query"]
    assert jwt.decode(call["token"], SECRET, algorithms=["HS256"])["user"]["role"] == "admin"


async def test_attack_a_notice_refused_by_rasa_is_retried_later(rasa, tmp_path):
    settings = Settings.from_env(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
                                 var_dir=tmp_path, rasa_url=rasa.url,
                                 rasa_jwt_secret="not-the-secret-rasa-was-started-with")
    notices = ConversationNotices(settings)
    try:
        with pytest.raises(RuntimeError, match="401"):
            await notices.send({"conversation_id": "conv-3", "intent": "EXTERNAL_x"})
    finally:
        await notices.close()
