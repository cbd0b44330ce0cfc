"""Each boundary the inbox adds, crossed and refused: the page and its stream for a merchant
or a stranger, a browser session's changes without the CSRF token or from another site,
forged chat tokens on the typing route and the chat stream, the bot's routes without the
service credential, an agent typing or ending someone else's conversation."""

from __future__ import annotations

import time

import jwt
import pytest
from aftersales_factories import ADMIN
from assistant_calls import SERVICE
from cart_helpers import assert_problem
from inbox_helpers import BASE, INBOX, ask_for_human, chat_token, claim, conversation, \
    open_stream
from staff_accounts import agent, browser, make_staff

from storefront_api.chat import tokens
from storefront_api.inbox.hub import INBOX as INBOX_TOPIC
from storefront_api.inbox import INBOX_APP_KEY


async def test_attack_a_merchant_gets_no_inbox(client, db, settings):
    merchant = await browser(db, await make_staff(db, "merchant", name="Mo"), settings)
    resp = await client.get("/inbox", headers=merchant, allow_redirects=False)
    assert resp.status == 403 and "agent role" in await resp.text()
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")
    resp = await client.get("/inbox/events", headers=merchant)
    assert_problem(resp.status, resp.content_type, await resp.json(), 403)
    handoff = await ask_for_human(client, conversation())
    for method, path, body in [("GET", INBOX, None), ("GET", f"{INBOX}/{handoff['id']}", None),
                               ("POST", f"{BASE}/{handoff['id']}/claim", {}),
                               ("POST", f"{BASE}/{handoff['id']}/notes", {"text": "x"}),
                               ("POST", f"{BASE}/{handoff['id']}/resolve", {}),
                               ("GET", "/api/admin/support/canned-replies", None)]:
        resp = await client.request(method, path, json=body, headers=merchant)
        assert_problem(resp.status, resp.content_type, await resp.json(), 403)


async def test_attack_a_stranger_is_sent_to_sign_in(client):
    resp = await client.get("/inbox", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/staff/sign-in?next=/inbox"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Cookie": "aisle_staff=forged"}):
        resp = await client.get("/inbox/events", headers=headers)
        assert_problem(resp.status, resp.content_type, await resp.json(), 401)


async def test_the_page_is_served_to_a_signed_in_agent_with_a_strict_policy(client, db,
                                                                            settings):
    ana = await browser(db, await make_staff(db, "agent", name="Ana"), settings)
    resp = await client.get("/inbox", headers=ana)
    assert resp.status == 200 and "/static/inbox/inbox.js" in await resp.text()
    policy = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy


async def test_attack_a_browser_session_changes_nothing_without_csrf_or_from_another_site(
        client, db, settings):
    handoff = await ask_for_human(client, conversation())
    ana = await browser(db, await make_staff(db, "agent", name="Ana"), settings)
    cookie_only = {"Cookie": ana["Cookie"]}
    forged_site = {**ana, "Origin": "https://evil.example"}
    for headers in (cookie_only, forged_site):
        for path, body in [("/claim", {}), ("/notes", {"text": "x"}),
                           ("/typing", {"typing": True}), ("/unclaim", {}), ("/resolve", {})]:
            resp = await client.post(f"{BASE}/{handoff['id']}{path}", json=body,
                                     headers=headers)
            assert_problem(resp.status, resp.content_type, await resp.json(), 403)
    row = await (await client.get(f"{INBOX}/{handoff['id']}", headers=ADMIN)).json()
    assert row["status"] == "waiting" and not [
        item for item in row["transcript"] if item["sender"] == "note"]
    # with its token, from this shop, the same session works
    await claim(client, handoff["id"], ana)


def _forged(settings, conversation_id: str) -> list[str]:
    now = int(time.time())
    claims = {"sub": conversation_id, "aud": tokens.AUDIENCE, "iss": tokens.ISSUER,
              "iat": now, "exp": now + 3600}
    return [
        jwt.encode(claims, "not-the-shops-secret-" + "q" * 20, algorithm="HS256"),
        jwt.encode({**claims, "exp": now - 10}, settings.chat_token_secret, algorithm="HS256"),
        jwt.encode({**claims, "aud": "someone-else"}, settings.chat_token_secret,
                   algorithm="HS256"),
        jwt.encode({**claims, "sub": "not-an-id-we-make"}, settings.chat_token_secret,
                   algorithm="HS256"),
        jwt.encode(claims, None, algorithm="none"),
        chat_token(settings, conversation_id)[:-3] + "abc",
        "", "x" * 3000,
    ]


async def test_attack_forged_chat_tokens_neither_type_nor_listen(client, db, settings):
    conversation_id = conversation()
    await ask_for_human(client, conversation_id)
    listener = client.app[INBOX_APP_KEY].hub.listen(INBOX_TOPIC)
    for token in _forged(settings, conversation_id):
        resp = await client.post("/api/chat/typing", json={"token": token, "typing": True})
        assert resp.status in (401, 422), await resp.text()
        assert_problem(resp.status, resp.content_type, await resp.json(), resp.status)
        resp = await client.get("/chat/events", params={"token": token})
        assert_problem(resp.status, resp.content_type, await resp.json(), 401)
    resp = await client.get("/chat/events")
    assert_problem(resp.status, resp.content_type, await resp.json(), 401)
    assert listener.queue.empty()  # no typing reached any inbox
    client.app[INBOX_APP_KEY].hub.forget(listener)


async def test_typing_tells_nothing_about_whether_anyone_holds_the_conversation(client,
                                                                               settings):
    for conversation_id in (conversation(), conversation()):
        resp = await client.post("/api/chat/typing", json={
            "token": chat_token(settings, conversation_id), "typing": True})
        assert resp.status == 204 and await resp.read() == b""


async def test_attack_an_agent_cannot_type_or_end_someone_elses_conversation(client, db,
                                                                             settings, rasa):
    conversation_id = conversation()
    handoff = await ask_for_human(client, conversation_id)
    ana, mallory = await agent(db, "Ana"), await agent(db, "Mallory")
    await claim(client, handoff["id"], ana)
    page = await open_stream(client, f"/chat/events?token={chat_token(settings, conversation_id)}")
    resp = await client.post(f"{BASE}/{handoff['id']}/typing", json={"typing": True},
                             headers=mallory)
    assert_problem(resp.status, resp.content_type, await resp.json(), 409)
    await page.nothing("typing", 0.4)
    for path in ("/resolve", "/release", "/unclaim"):
        resp = await client.post(f"{BASE}/{handoff['id']}{path}", json={}, headers=mallory)
        assert_problem(resp.status, resp.content_type, await resp.json(), 409)
    assert rasa.calls_to("/execute") == []
    page.response.close()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer test-admin"},
                                     {"Authorization": "Bearer nope"}])
async def test_attack_the_bots_routes_need_the_service_credential(client, headers):
    resp = await client.get("/api/support/availability", headers=headers)
    assert_problem(resp.status, resp.content_type, await resp.json(), 401)
    resp = await client.post("/api/support/handoffs/rating",
                             json={"conversation_id": conversation(), "csat": 1},
                             headers=headers)
    assert_problem(resp.status, resp.content_type, await resp.json(), 401)
    assert (await client.get("/api/support/availability", headers=SERVICE)).status == 200
