"""POST /api/chat/sessions: the web chat's socket token. The shop chooses the conversation id
and signs it; a token it signed renews for the same conversation; anything else gives
nothing. The socket side of the same token is in test_chat_page.py (Rasa's channel) and
tests/e2e/test_internal_hops.py (the real Rasa)."""

from __future__ import annotations

import json
import re
import time

import jwt
import pytest

from storefront_api.app import create_app
from storefront_api.chat import tokens
from storefront_api.settings import Settings

SECRET = "chat-secret-for-the-session-route-tests-0123456789"
ROUTE = "/api/chat/sessions"
HEX_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def settings(shop_url, tmp_path) -> Settings:
    return Settings.from_env(database_url=shop_url, var_dir=tmp_path, admin_token="test-admin",
                             rasa_url="http://127.0.0.1:9", chat_token_secret=SECRET,
                             chat_token_hours=24)


def assert_problem(status: int, content_type: str, body: dict, expected: int) -> None:
    assert status == expected, body
    assert content_type == "application/problem+json", content_type
    assert body["status"] == expected and body["title"] and body["detail"], body


def claims(token: str, secret: str = SECRET) -> dict:
    return jwt.decode(token, secret, algorithms=["HS256"], audience=tokens.AUDIENCE,
                      issuer=tokens.ISSUER)


def signed(payload: dict, secret: str = SECRET, algorithm: str = "HS256") -> str:
    base = {"aud": tokens.AUDIENCE, "iss": tokens.ISSUER, "iat": int(time.time()),
            "exp": int(time.time()) + 3600}
    return jwt.encode({**base, **payload}, secret, algorithm=algorithm)


async def new_session(client) -> dict:
    resp = await client.post(ROUTE)
    body = await resp.json()
    assert resp.status == 201, body
    assert resp.headers["Cache-Control"] == "no-store"
    return body


async def test_a_new_session_is_a_conversation_the_shop_chose_and_signed(client):
    before = int(time.time())
    first, second = await new_session(client), await new_session(client)
    assert HEX_ID.match(first["conversation_id"]) and HEX_ID.match(second["conversation_id"])
    assert first["conversation_id"] != second["conversation_id"]
    signed_claims = claims(first["token"])
    assert signed_claims["sub"] == first["conversation_id"]
    assert signed_claims["exp"] == first["expires_at"]
    assert before + 24 * 3600 <= first["expires_at"] <= int(time.time()) + 24 * 3600


async def test_every_conversation_of_one_browser_carries_the_same_client(aiohttp_client,
                                                                        settings):
    """The token's ``cli`` is an opaque key of the client that asked (its address, as the
    limits count it, keyed with SECRET_KEY: Rasa's trackers never see the address)."""
    from dataclasses import replace
    app_client = await aiohttp_client(create_app(replace(settings, trust_proxy=True),
                                                 migrate=False))

    async def client_of(address: str) -> str:
        resp = await app_client.post(ROUTE, headers={"X-Forwarded-For": address})
        return claims((await resp.json())["token"])["cli"]
    first, second = await client_of("203.0.113.7"), await client_of("203.0.113.7")
    other = await client_of("198.51.100.3")
    assert first == second != other
    assert re.fullmatch(r"c_[0-9a-f]{32}", first) and "203.0.113" not in first


async def test_a_token_the_shop_signed_renews_for_the_same_conversation(client):
    session = await new_session(client)
    resp = await client.post(ROUTE, json={"token": session["token"]})
    renewed = await resp.json()
    assert resp.status == 201, renewed
    assert renewed["conversation_id"] == session["conversation_id"]
    assert claims(renewed["token"])["sub"] == session["conversation_id"]
    # a shopper back after ten days: their token expired, the conversation (and cart) stays
    old = signed({"sub": session["conversation_id"], "iat": int(time.time()) - 11 * 86400,
                  "exp": int(time.time()) - 10 * 86400})
    resp = await client.post(ROUTE, json={"token": old})
    back = await resp.json()
    assert resp.status == 201 and back["conversation_id"] == session["conversation_id"]
    assert back["expires_at"] > time.time()


def _attack_tokens() -> dict[str, str]:
    now = int(time.time())
    chosen = "a" * 32
    return {
        "signed with another key": signed({"sub": chosen},
                                          "not-the-shops-secret-0123456789-abcdef"),
        "expired more than 30 days ago": signed({"sub": chosen, "iat": now - 40 * 86400,
                                                  "exp": now - 31 * 86400}),
        "another audience": signed({"sub": chosen, "aud": "rasa"}),
        "another issuer": signed({"sub": chosen, "iss": "someone"}),
        "an id the shop never makes": signed({"sub": "victim-conversation"}),
        "no subject": signed({}),
        "issued in the future": signed({"sub": chosen, "iat": now + 3 * 86400,
                                        "exp": now + 4 * 86400}),
        "unsigned (alg none)": jwt.encode({"sub": chosen, "aud": tokens.AUDIENCE,
                                           "iss": tokens.ISSUER, "iat": now, "exp": now + 60},
                                          None, algorithm="none"),
        "not a token": "hello",
    }


@pytest.mark.parametrize("what", list(_attack_tokens()))
async def test_attack_a_token_the_shop_did_not_sign_renews_nothing(client, what):
    resp = await client.post(ROUTE, json={"token": _attack_tokens()[what]})
    problem = await resp.json()
    assert_problem(resp.status, resp.content_type, problem, 401)
    assert "token" not in problem and "conversation_id" not in problem


async def test_attack_a_tampered_token_cannot_change_its_conversation(client):
    session = await new_session(client)
    header, payload, signature = session["token"].split(".")
    claims_ = json.loads(jwt.utils.base64url_decode(payload))
    claims_["sub"] = "b" * 32  # the victim's conversation
    forged_payload = jwt.utils.base64url_encode(json.dumps(claims_).encode()).decode()
    resp = await client.post(ROUTE, json={"token": f"{header}.{forged_payload}.{signature}"})
    assert_problem(resp.status, resp.content_type, await resp.json(), 401)


@pytest.mark.parametrize("body, status", [
    (b'{"token": ', 400), (b'["token"]', 400),
    (json.dumps({"conversation_id": "a" * 32}).encode(), 422),  # an id the client chose
    (json.dumps({"token": "x" * 5000}).encode(), 422), (json.dumps({"token": 12}).encode(), 422),
])
async def test_bad_bodies_are_refused(client, body, status):
    resp = await client.post(ROUTE, data=body, headers={"Content-Type": "application/json"})
    assert_problem(resp.status, resp.content_type, await resp.json(), status)


async def test_attack_sessions_are_rate_limited(aiohttp_client, shop_url, tmp_path):
    settings = Settings.from_env(database_url=shop_url, var_dir=tmp_path,
                                 chat_token_secret=SECRET,
                                 rate_limit_overrides={"chat-token": "3/minute"})
    client = await aiohttp_client(create_app(settings, migrate=False))
    statuses = [(await client.post(ROUTE)).status for _ in range(5)]
    assert statuses == [201, 201, 201, 429, 429]


async def test_without_a_chat_secret_the_route_says_what_to_set(aiohttp_client, shop_url,
                                                                tmp_path):
    settings = Settings.from_env(database_url=shop_url, var_dir=tmp_path, chat_token_secret="")
    client = await aiohttp_client(create_app(settings, migrate=False))
    resp = await client.post(ROUTE)
    problem = await resp.json()
    assert_problem(resp.status, resp.content_type, problem, 503)
    assert "CHAT_JWT_SECRET" in problem["detail"]
