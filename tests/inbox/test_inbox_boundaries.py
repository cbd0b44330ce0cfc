"""Every route the inbox uses, crossed at each boundary: a stranger (no session, a forged
cookie, a wrong bearer) gets 401 (the page: sent to sign in), a merchant 403, an agent's
browser session without its CSRF token or from a page of another site 403 on every change,
an agent 403 on the admins' canned-reply changes; the live stream refuses a page of another
site; and after all of that the conversation and the canned replies are as they were."""

from __future__ import annotations

import pytest
from aftersales_factories import ADMIN
from cart_helpers import assert_problem
from inbox_helpers import BASE, INBOX, ask_for_human, conversation, open_stream, unique
from sqlalchemy import select
from staff_accounts import bearer, browser, make_staff

from storefront_api.inbox import INBOX_APP_KEY
from storefront_api.inbox.hub import INBOX as INBOX_TOPIC
from storefront_api.staff.sessions import CSRF_HEADER
from storefront_api.support.models import AgentPresence

CANNED = "/api/admin/support/canned-replies"
FOREIGN = "https://evil.example"


def routes(handoff_id: int, canned_id: int, agent_id: int) -> list[tuple[str, str, dict | None]]:
    """(method, path, a valid body) of every staff route the inbox page calls."""
    one = f"{BASE}/{handoff_id}"
    return [
        ("GET", INBOX, None), ("GET", f"{INBOX}/{handoff_id}", None),
        ("GET", "/api/admin/support/handoffs", None), ("GET", one, None),
        ("GET", "/api/admin/support/agents", None), ("GET", CANNED, None),
        ("GET", "/api/admin/support/tickets", None),
        ("POST", f"{one}/claim", {}), ("POST", f"{one}/messages", {"text": "hello"}),
        ("POST", f"{one}/transfer", {"agent_id": agent_id}), ("POST", f"{one}/unclaim", {}),
        ("POST", f"{one}/release", {}), ("POST", f"{one}/resolve", {}),
        ("POST", f"{one}/notes", {"text": "a note"}), ("POST", f"{one}/typing", {"typing": True}),
        ("POST", "/api/admin/support/presence", {}), ("DELETE", "/api/admin/support/presence", None),
        ("POST", CANNED, {"shortcut": unique("x"), "title": "T", "text": "Hi"}),
        ("PUT", f"{CANNED}/{canned_id}", {"shortcut": unique("y"), "title": "T", "text": "Bye"}),
        ("DELETE", f"{CANNED}/{canned_id}", None),
    ]


def admin_only(method: str, path: str) -> bool:
    return path.startswith(CANNED) and method != "GET"


@pytest.fixture
async def scene(client, db, settings):
    handoff = await ask_for_human(client, conversation())
    resp = await client.post(CANNED, json={"shortcut": unique("c"), "title": "Kept",
                                           "text": "Hi {first_name|there}"}, headers=ADMIN)
    assert resp.status == 201
    canned = await resp.json()
    ana = await make_staff(db, "agent", name="Ana")
    return {"handoff": handoff, "canned": canned, "ana": ana,
            "routes": routes(handoff["id"], canned["id"], ana.id)}


async def _unchanged(client, scene) -> None:
    row = await (await client.get(f"{INBOX}/{scene['handoff']['id']}", headers=ADMIN)).json()
    assert row["status"] == "waiting" and row["agent"] is None
    assert [item for item in row["transcript"] if item["sender"] in ("agent", "note")] == []
    listed = (await (await client.get(CANNED, headers=ADMIN)).json())["canned_replies"]
    assert scene["canned"] in listed


async def test_attack_a_stranger_gets_401_everywhere(client, scene):
    for headers in ({}, {"Authorization": "Bearer not-a-session"},
                    {"Cookie": "aisle_staff=forged", CSRF_HEADER: "forged"}):
        for method, path, body in scene["routes"]:
            resp = await client.request(method, path, json=body, headers=headers)
            assert resp.status == 401, (method, path, headers, await resp.text())
            assert_problem(resp.status, resp.content_type, await resp.json(), 401)
        resp = await client.get("/inbox/events", headers=headers)
        assert_problem(resp.status, resp.content_type, await resp.json(), 401)
        resp = await client.get("/inbox", headers=headers, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"].startswith("/staff/sign-in")
    await _unchanged(client, scene)


@pytest.mark.parametrize("how", ["cookie", "bearer"])
async def test_attack_a_merchant_gets_403_everywhere(client, db, settings, scene, how):
    user = await make_staff(db, "merchant", name="Mo")
    headers = await browser(db, user, settings) if how == "cookie" else await bearer(db, user)
    for method, path, body in scene["routes"]:
        resp = await client.request(method, path, json=body, headers=headers)
        assert resp.status == 403, (method, path, await resp.text())
        assert_problem(resp.status, resp.content_type, await resp.json(), 403)
    resp = await client.get("/inbox/events", headers=headers)
    assert_problem(resp.status, resp.content_type, await resp.json(), 403)
    await _unchanged(client, scene)


async def test_attack_an_agents_browser_changes_nothing_without_csrf_or_from_another_site(
        client, db, settings, scene):
    signed = await browser(db, scene["ana"], settings)
    without_token = {"Cookie": signed["Cookie"]}
    wrong_token = {**signed, CSRF_HEADER: "0" * len(signed[CSRF_HEADER])}
    other_site = {**signed, "Origin": FOREIGN}
    null_origin = {**signed, "Origin": "null"}
    changes = [(m, p, b) for m, p, b in scene["routes"] if m != "GET"]
    for headers in (without_token, wrong_token, other_site, null_origin):
        for method, path, body in changes:
            resp = await client.request(method, path, json=body, headers=headers)
            assert resp.status == 403, (method, path, headers, await resp.text())
            assert_problem(resp.status, resp.content_type, await resp.json(), 403)
    await _unchanged(client, scene)
    # the same session, with its token and from this shop, may read and claim
    for method, path, body in scene["routes"]:
        if method == "GET":
            resp = await client.get(path, headers=signed)
            assert resp.status == 200, (path, await resp.text())
    resp = await client.post(f"{BASE}/{scene['handoff']['id']}/claim", json={}, headers=signed)
    assert resp.status == 200, await resp.text()


async def test_attack_an_agent_cannot_change_the_canned_replies(client, db, settings, scene):
    for headers in (await browser(db, scene["ana"], settings), await bearer(db, scene["ana"])):
        for method, path, body in scene["routes"]:
            if admin_only(method, path):
                resp = await client.request(method, path, json=body, headers=headers)
                assert_problem(resp.status, resp.content_type, await resp.json(), 403)
    await _unchanged(client, scene)


async def test_attack_a_page_of_another_site_cannot_open_the_live_stream(client, db, settings,
                                                                          scene):
    user = await make_staff(db, "agent", name="Cross")
    signed = await browser(db, user, settings)
    hub = client.app[INBOX_APP_KEY].hub
    before = hub.listening(INBOX_TOPIC)
    for origin in (FOREIGN, "null", "http://127.0.0.1.evil.example"):
        resp = await client.get("/inbox/events", headers={**signed, "Origin": origin})
        assert_problem(resp.status, resp.content_type, await resp.json(), 403)
    assert hub.listening(INBOX_TOPIC) == before  # nothing listens for that page
    async with db.read() as session:
        seen = (await session.scalars(select(AgentPresence).where(
            AgentPresence.agent_id == user.id))).all()
    assert seen == []  # and it did not count the agent online
    # the shop's own page, with the same cookie, is let in
    base = str(client.make_url("")).rstrip("/")
    stream = await open_stream(client, "/inbox/events", {**signed, "Origin": base})
    _, hello, _ = await stream.next("hello")
    assert hello["agent"] == "Cross"
    stream.response.close()
