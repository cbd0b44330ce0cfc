"""The internal hops of the real assistant, started as `make run` starts it (tests/
assistant_stack.py: Rasa on 127.0.0.1 with --jwt-secret, the chat channel of
bot/channels/socketio.py): Rasa's HTTP API answers only storefront_api's token, and the chat
socket only a token storefront_api signed, for its own conversation. Each attack is tried
against a real conversation, which is then read back to show nothing was written."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest

from assistant_stack import CHAT_JWT_SECRET, RASA_JWT_SECRET, http_json
from socketio_client import RawSocket
from storefront_api.chat import tokens

pytestmark = pytest.mark.slow


def rasa_token(secret: str = RASA_JWT_SECRET, *, expires_in: int = 300, role: str = "admin",
               username: str = "storefront_api") -> dict[str, str]:
    now = int(time.time())
    token = jwt.encode({"user": {"username": username, "role": role}, "iat": now - 5,
                        "exp": now + expires_in}, secret, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


def chat_session(assistant, token: str | None = None) -> dict:
    status, session = assistant.api("POST", "/api/chat/sessions",
                                    {"token": token} if token else {})
    assert status == 201, session
    return session


def events_of(assistant, conversation_id: str) -> list[dict]:
    return assistant.tracker(conversation_id)["events"]


async def talk(assistant, session: dict, text: str) -> list[tuple[str, object]]:
    """One message over the chat socket as the page sends it; the events that came back."""
    socket = await RawSocket.open(assistant.rasa_url, origin=assistant.storefront_url)
    try:
        assert (await socket.connect({"token": session["token"]})).startswith("40{")
        await socket.emit("session_request", {"session_id": session["conversation_id"]})
        await socket.emit("user_uttered", {"message": text,
                                           "session_id": session["conversation_id"]})
        return await socket.events(8.0)
    finally:
        await socket.close()


@pytest.fixture(scope="module")
def victim(assistant) -> dict:
    """A shopper's real conversation on the web chat, with something in its tracker."""
    session = chat_session(assistant)
    events = asyncio.run(talk(assistant, session, "hi"))
    assert ("session_confirm", session["conversation_id"]) in events
    assert any(name == "bot_uttered" for name, _ in events), events
    return session


def test_attack_rasas_http_api_refuses_every_other_credential(assistant, victim):
    conversation = victim["conversation_id"]
    before = events_of(assistant, conversation)
    calls = [("GET", f"/conversations/{conversation}/tracker", None),
             ("POST", f"/conversations/{conversation}/tracker/events",
              [{"event": "slot", "name": "customer_email", "value": "thief@example.com"}]),
             ("POST", f"/conversations/{conversation}/trigger_intent?output_channel=latest",
              {"name": "EXTERNAL_payment_received", "entities": {}}),
             ("PUT", "/model", {"model_file": "/tmp/attacker-model.tar.gz"})]
    chat_token = jwt.encode({"sub": conversation, "aud": tokens.AUDIENCE,
                             "iss": tokens.ISSUER, "exp": int(time.time()) + 600,
                             "user": {"username": conversation, "role": "admin"}},
                            CHAT_JWT_SECRET, algorithm="HS256")
    refused = {
        "no credential": ({}, "", 401),
        "another secret": (rasa_token("not-the-secret-rasa-runs-with-0123456789"), "", 401),
        # sanic-jwt allows 3 minutes of clock skew: a token expired for longer
        "expired": (rasa_token(expires_in=-600), "", 401),
        "the chat's token": ({"Authorization": f"Bearer {chat_token}"}, "", 401),
        "the secret as ?token=": ({}, f"token={RASA_JWT_SECRET}", 401),
        "a user's role": (rasa_token(role="user", username="someone-else"), "", 403),
    }
    for what, (headers, query, status) in refused.items():
        for method, path, body in calls:
            url = assistant.rasa_url + path + (("&" if "?" in path else "?") + query
                                               if query else "")
            answer, document = http_json(method, url, body, headers)
            assert answer == status, (what, method, path, answer, document)
    after = events_of(assistant, conversation)
    assert after == before  # nothing appended, no notice triggered, same model
    assert all(e.get("value") != "thief@example.com" for e in after)


def test_storefront_apis_token_opens_rasas_http_api(assistant):
    conversation = chat_session(assistant)["conversation_id"]
    headers = assistant.rasa_headers()
    status, _ = http_json("POST", f"{assistant.rasa_url}/conversations/{conversation}"
                                  "/tracker/events",
                          [{"event": "slot", "name": "customer_email",
                            "value": "owner@example.com"}], headers)
    assert status == 200
    assert assistant.slot(conversation, "customer_email") == "owner@example.com"
    # PUT /model passes authentication (then refuses a model file that does not exist)
    status, document = http_json("PUT", f"{assistant.rasa_url}/model",
                                 {"model_file": "/nonexistent/model.tar.gz"}, headers)
    assert status in (400, 500) and document["reason"] in ("BadRequest", "LoadingError")
    status, hello = http_json("GET", f"{assistant.rasa_url}/status", None, headers)
    assert status == 200 and hello["model_file"]  # the shop's model is still loaded


def invalid_socket_auths() -> dict[str, object]:
    now = int(time.time())
    claims = {"aud": tokens.AUDIENCE, "iss": tokens.ISSUER, "iat": now}
    return {
        "no token": None,
        "forged": {"token": jwt.encode({**claims, "sub": "a" * 32, "exp": now + 600},
                                       "forged-secret-of-an-attacker-0123456789ab",
                                       algorithm="HS256")},
        "expired": {"token": jwt.encode({**claims, "sub": "a" * 32, "exp": now - 60},
                                        CHAT_JWT_SECRET, algorithm="HS256")},
        "rasa's api token": {"token": rasa_token()["Authorization"].split()[1]},
    }


async def test_attack_the_chat_socket_without_a_valid_token_writes_nothing(assistant, victim):
    conversation = victim["conversation_id"]
    before = events_of(assistant, conversation)
    for what, auth in invalid_socket_auths().items():
        socket = await RawSocket.open(assistant.rasa_url, origin=assistant.storefront_url)
        try:
            reply = await socket.connect(auth)
            assert reply.startswith("44"), (what, reply)
            await socket.emit("session_request", {"session_id": conversation})
            await socket.emit("user_uttered", {"message": "what's in my cart?",
                                               "session_id": conversation})
            assert await socket.events(2.0) == [], what
        finally:
            await socket.close()
    assert events_of(assistant, conversation) == before


async def test_attack_a_valid_token_cannot_reach_another_conversation(assistant, victim):
    conversation = victim["conversation_id"]
    attacker = chat_session(assistant)
    before = events_of(assistant, conversation)
    for event, data in [("session_request", {"session_id": conversation}),
                        ("user_uttered", {"message": "add the first one to my cart",
                                          "session_id": conversation})]:
        socket = await RawSocket.open(assistant.rasa_url, origin=assistant.storefront_url)
        try:
            assert (await socket.connect({"token": attacker["token"]})).startswith("40{")
            await socket.emit(event, data)
            assert await socket.events(3.0) == [], event
            assert socket.disconnected_by_server, socket.packets
        finally:
            await socket.close()
    assert events_of(assistant, conversation) == before
    # the attacker's own conversation works, and it is theirs, not the victim's
    events = await talk(assistant, attacker, "hi")
    assert any(name == "bot_uttered" for name, _ in events), events
    assert events_of(assistant, conversation) == before
    assert any(e["event"] == "user" and e.get("input_channel") == "socketio"
               for e in events_of(assistant, attacker["conversation_id"]))


async def test_attack_a_page_of_another_origin_cannot_open_the_chat_socket(assistant):
    import aiohttp
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await RawSocket.open(assistant.rasa_url, origin="https://evil.example")
    assert refused.value.status == 400


def test_a_new_web_chat_starts_with_the_shops_own_session_start(assistant):
    """Rasa runs Aisle's action_session_start (it must be listed in the domain, or Rasa runs
    its built-in one): the shop records one chat_started for the conversation, with the web
    chat's channel and browser, before the first message is answered."""
    import sqlite3
    session = chat_session(assistant)
    events = asyncio.run(talk(assistant, session, "hi"))
    assert any(name == "bot_uttered" for name, _ in events), events
    path = assistant.database_url.split(":///", 1)[1]
    deadline, rows = time.monotonic() + 15, []
    while not rows and time.monotonic() < deadline:
        with sqlite3.connect(path) as shop:
            rows = shop.execute(
                "SELECT channel, properties FROM events WHERE name = 'chat_started'"
                " AND conversation_id = ?", (session["conversation_id"],)).fetchall()
        time.sleep(0.3)
    assert len(rows) == 1, rows
    channel, properties = rows[0]
    assert channel == "socketio" and '"returning": false' in properties, rows
    tracker = events_of(assistant, session["conversation_id"])
    # Rasa first sets session_started_metadata from the message, then runs the action
    started = [e.get("name") for e in tracker[:3] if e["event"] == "action"]
    assert started[:1] == ["action_session_start"], tracker[:3]
