"""The staff boundaries, each crossed and refused: roles, CSRF and other sites' pages against
a browser session, the break-glass token in production, and what admins may change."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import select
from staff_accounts import PASSWORD, bearer, browser, make_staff, problem

from storefront_api.outbox.models import OutboxMessage
from storefront_api.production import problems
from storefront_api.staff import sessions
from storefront_api.staff.models import StaffSession, StaffUser

HANDOFFS = "/api/admin/support/handoffs"
ORDERS = "/api/admin/orders"
TAX_RATE = "/api/admin/tax-rates/ZZ"


async def staff_row(db, user_id: int) -> StaffUser:
    async with db.read() as session:
        return await session.get(StaffUser, user_id)


# --- roles ---------------------------------------------------------------------------------

async def test_attack_agent_route_with_merchant_session(db, make_client):
    client, settings = await make_client()
    merchant = await make_staff(db, "merchant")
    for headers in (await browser(db, merchant, settings), await bearer(db, merchant)):
        for method, path, body in [("GET", HANDOFFS, None), ("GET", f"{HANDOFFS}/1", None),
                                   ("POST", f"{HANDOFFS}/1/claim", {}),
                                   ("GET", "/api/admin/support/tickets", None)]:
            resp = await client.request(method, path, json=body, headers=headers)
            body = await resp.json()
            problem(resp, body, 403)
            assert "agent role" in body["detail"]
        assert (await client.get(ORDERS, headers=headers)).status == 200


async def test_attack_merchant_route_with_agent_session(db, make_client):
    client, settings = await make_client()
    agent = await make_staff(db, "agent")
    for headers in (await browser(db, agent, settings), await bearer(db, agent)):
        for method, path, body in [("GET", ORDERS, None), ("GET", "/api/admin/refunds", None),
                                   ("PUT", TAX_RATE, {"rate_bp": 0})]:
            resp = await client.request(method, path, json=body, headers=headers)
            body = await resp.json()
            problem(resp, body, 403)
            assert "merchant role" in body["detail"]
        assert (await client.get(HANDOFFS, headers=headers)).status == 200


async def test_attack_admin_routes_with_merchant_or_agent_sessions(db, make_client):
    client, _ = await make_client()
    target = await make_staff(db, "agent", name="Target")
    for role in ("merchant", "agent"):
        headers = await bearer(db, await make_staff(db, role))
        for method, path, body in [
                ("GET", "/api/admin/staff", None),
                ("POST", "/api/admin/staff", {"email": f"x-{uuid.uuid4().hex}@e.com",
                                              "role": "admin"}),
                ("PATCH", f"/api/admin/staff/{target.id}", {"role": "admin"}),
                ("DELETE", f"/api/admin/staff/{target.id}/sessions", None),
                ("POST", f"/api/admin/staff/{target.id}/password-link", None)]:
            resp = await client.request(method, path, json=body, headers=headers)
            problem(resp, await resp.json(), 403)
    row = await staff_row(db, target.id)
    assert (row.role, row.name) == ("agent", "Target")


async def test_attack_staff_routes_without_a_session(make_client):
    client, _ = await make_client()
    for method, path in [("GET", "/api/staff/me"), ("GET", "/api/staff/sessions"),
                         ("DELETE", "/api/staff/sessions/current"),
                         ("DELETE", "/api/staff/sessions/1"), ("GET", "/api/admin/staff")]:
        for headers in ({}, {"Cookie": f"{sessions.COOKIE}=forged"},
                        {"Authorization": "Bearer ast_forged"},
                        {"Authorization": "Bearer " + "é" * 40}):
            resp = await client.request(method, path, headers=headers)
            problem(resp, await resp.json(), 401)


# --- a browser session: CSRF and other sites --------------------------------------------------

async def test_attack_csrf_without_token(db, make_client):
    client, settings = await make_client()
    admin = await make_staff(db, "admin")
    target = await make_staff(db, "merchant", name="Before")
    signed_in = await browser(db, admin, settings)
    cookie_only = {"Cookie": signed_in["Cookie"]}
    another_session = await browser(db, admin, settings)  # its token, not this one's
    for headers in (cookie_only, {**cookie_only, sessions.CSRF_HEADER: ""},
                    {**cookie_only, sessions.CSRF_HEADER: another_session[sessions.CSRF_HEADER]}):
        resp = await client.patch(f"/api/admin/staff/{target.id}",
                                  json={"name": "After", "role": "admin"}, headers=headers)
        body = await resp.json()
        problem(resp, body, 403)
        assert sessions.CSRF_HEADER in body["detail"]
        resp = await client.delete("/api/staff/sessions/current", headers=headers)
        problem(resp, await resp.json(), 403)
    row = await staff_row(db, target.id)
    assert (row.name, row.role) == ("Before", "merchant")  # nothing changed
    assert (await client.get("/api/staff/me", headers=cookie_only)).status == 200  # reads: fine
    resp = await client.patch(f"/api/admin/staff/{target.id}", json={"name": "After"},
                              headers=signed_in)
    assert resp.status == 200 and (await resp.json())["name"] == "After"
    # a script's bearer token needs no CSRF token: no browser sends it on its own
    resp = await client.patch(f"/api/admin/staff/{target.id}", json={"name": "Script"},
                              headers=await bearer(db, admin))
    assert resp.status == 200


async def test_attack_cross_origin_requests_with_the_cookie(db, make_client):
    client, settings = await make_client(storefront_url="https://shop.example.com")
    admin = await make_staff(db, "admin")
    target = await make_staff(db, "merchant", name="Before")
    signed_in = await browser(db, admin, settings)
    for origin in ("https://evil.example", "null", "https://shop.example.com.evil.example",
                   "http://shop.example.com", "http://[::1", f"http://{client.host}:1"):
        resp = await client.patch(f"/api/admin/staff/{target.id}", json={"name": "After"},
                                  headers={**signed_in, "Origin": origin})
        body = await resp.json()
        problem(resp, body, 403)
        assert "another site" in body["detail"]
    assert (await staff_row(db, target.id)).name == "Before"
    for origin in ("https://shop.example.com", f"http://{client.host}:{client.port}"):
        resp = await client.patch(f"/api/admin/staff/{target.id}", json={"name": origin},
                                  headers={**signed_in, "Origin": origin})
        assert resp.status == 200, await resp.text()


async def test_attack_cross_origin_sign_in(db, make_client):
    client, _ = await make_client()
    user = await make_staff(db, "merchant")
    async with db.read() as session:
        before = len((await session.scalars(select(StaffSession.id).where(
            StaffSession.user_id == user.id))).all())
    credentials = {"email": user.email, "password": PASSWORD}
    resp = await client.post("/api/staff/sessions", json=credentials,
                             headers={"Origin": "https://evil.example"})
    problem(resp, await resp.json(), 403)
    assert "Set-Cookie" not in resp.headers
    async with db.read() as session:
        after = len((await session.scalars(select(StaffSession.id).where(
            StaffSession.user_id == user.id))).all())
    assert after == before
    resp = await client.post("/api/staff/sessions", json=credentials,
                             headers={"Origin": f"http://{client.host}:{client.port}"})
    assert resp.status == 201


# --- production ----------------------------------------------------------------------------

def production_settings(admin_token: str, **changes) -> dict:
    """Every setting production mode checks, valid; Stripe is never called here."""
    values = dict(
        environment="production", admin_token_enabled=False, admin_token=admin_token,
        payment_gateway="stripe", stripe_api_key="sk_live_" + secrets.token_hex(16),
        stripe_webhook_secret="whsec_" + secrets.token_hex(16),
        stripe_api_base="http://127.0.0.1:9", secret_key=secrets.token_urlsafe(32),
        service_token=secrets.token_urlsafe(32), rasa_jwt_secret=secrets.token_urlsafe(32),
        chat_token_secret=secrets.token_urlsafe(32),
        smtp_url="smtps://shop:mail-password@127.0.0.1:465",
        redis_url="redis://127.0.0.1:6379/5",
        # the shared Redis keeps counts across test runs: room for many runs a minute
        rate_limit_overrides={"sign-in": "1000/minute", "sign-in-account": "1000/minute"},
        outbox_poll_seconds=0, storefront_url="https://shop.example.com")
    return {**values, **changes}


async def test_attack_break_glass_off_in_production(db, make_client):
    admin_token = secrets.token_urlsafe(32)
    client, settings = await make_client(**production_settings(admin_token))
    assert settings.is_production and problems(settings) == []
    for path in (ORDERS, "/api/admin/staff", HANDOFFS):
        resp = await client.get(path, headers={"Authorization": f"Bearer {admin_token}"})
        problem(resp, await resp.json(), 401)
    # the same token works once ADMIN_TOKEN_BREAK_GLASS=1 asks for it by name
    client, settings = await make_client(**production_settings(admin_token,
                                                               admin_token_enabled=True))
    assert problems(settings) == []
    resp = await client.get(ORDERS, headers={"Authorization": f"Bearer {admin_token}"})
    assert resp.status == 200


async def test_production_cookie_is_secure(db, make_client):
    client, _ = await make_client(**production_settings(secrets.token_urlsafe(32)))
    user = await make_staff(db, "merchant")
    resp = await client.post("/api/staff/sessions",
                             json={"email": user.email, "password": PASSWORD})
    assert resp.status == 201, await resp.text()
    [header] = resp.headers.getall("Set-Cookie")
    flags = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"secure", "httponly", "samesite", "path"} <= flags
    assert "SameSite=Strict" in header and "Path=/" in header


# --- admins manage staff ---------------------------------------------------------------------

async def test_admin_invites_changes_and_lists_staff(db, make_client):
    client, _ = await make_client()
    admin = await bearer(db, await make_staff(db, "admin"))
    email = f"new-agent-{uuid.uuid4().hex[:8]}@staff.example.com"
    resp = await client.post("/api/admin/staff", json={"email": email.upper(), "role": "agent",
                                                       "name": " Sam "}, headers=admin)
    invited = await resp.json()
    assert resp.status == 201, invited
    assert (invited["email"], invited["name"], invited["role"], invited["password_set"]) == (
        email, "Sam", "agent", False)
    async with db.read() as session:
        mails = (await session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "email"))).all()
    [mail] = [m for m in mails if m.payload["to"] == email]
    token = mail.payload["text"].split("/staff/set-password?token=")[1].split()[0]
    resp = await client.post("/api/staff/password", json={"token": token, "password": PASSWORD})
    assert resp.status == 200
    again = await client.post("/api/admin/staff", json={"email": email, "role": "merchant"},
                              headers=admin)
    problem(again, await again.json(), 409)
    for body in ({"email": "nope", "role": "agent"}, {"email": email, "role": "owner"},
                 {"email": email, "role": "agent", "name": "bad\nname"},
                 {"email": email, "role": "agent", "extra": 1}):
        resp = await client.post("/api/admin/staff", json=body, headers=admin)
        problem(resp, await resp.json(), 422)
    resp = await client.patch(f"/api/admin/staff/{invited['id']}", json={"role": "merchant"},
                              headers=admin)
    assert resp.status == 200 and (await resp.json())["role"] == "merchant"
    resp = await client.patch(f"/api/admin/staff/{invited['id']}", json={}, headers=admin)
    problem(resp, await resp.json(), 422)
    resp = await client.patch("/api/admin/staff/999999999", json={"name": "x"}, headers=admin)
    problem(resp, await resp.json(), 404)
    listed = (await (await client.get("/api/admin/staff", headers=admin)).json())["staff"]
    mine = next(row for row in listed if row["id"] == invited["id"])
    assert (mine["role"], mine["password_set"], mine["sessions"]) == ("merchant", True, 0)
    assert all("password_hash" not in row for row in listed)


async def test_the_last_admin_stays(empty_url, aiohttp_client, tmp_path):
    from storefront_api.app import create_app
    from storefront_api.db import Database
    from storefront_api.settings import Settings
    settings = Settings.from_env(database_url=empty_url, var_dir=tmp_path, admin_token="x",
                                 rasa_url="http://127.0.0.1:9")
    client = await aiohttp_client(create_app(settings, migrate=False))
    own = Database(empty_url)
    try:
        only = await make_staff(own, "admin")
        headers = await bearer(own, only)
        for change in ({"disabled": True}, {"role": "merchant"}):
            resp = await client.patch(f"/api/admin/staff/{only.id}", json=change,
                                      headers=headers)
            problem(resp, await resp.json(), 409)
        second = await make_staff(own, "admin")
        resp = await client.patch(f"/api/admin/staff/{only.id}", json={"role": "merchant"},
                                  headers=headers)
        assert resp.status == 200
        resp = await client.patch(f"/api/admin/staff/{second.id}", json={"disabled": True},
                                  headers=await bearer(own, second))
        problem(resp, await resp.json(), 409)
    finally:
        await own.dispose()


async def test_attack_a_dead_link_costs_no_password_hashing(db, make_client, monkeypatch):
    """An unknown link is refused before argon2 runs (64 MiB and ~0.2 s a hash): guessing
    links cannot burn the server's memory and CPU."""
    from storefront_api.staff import passwords
    hashed = []

    async def counting(password):
        hashed.append(password)
        return "not-a-hash"
    monkeypatch.setattr(passwords, "hash_password", counting)
    client, _ = await make_client()
    for _ in range(3):
        resp = await client.post("/api/staff/password",
                                 json={"token": secrets.token_urlsafe(32), "password": "y" * 64})
        problem(resp, await resp.json(), 400)
    assert hashed == []


async def test_attack_set_password_links_are_single_use_and_expire(db, make_client):
    from datetime import timedelta

    from sqlalchemy import update

    from storefront_api.db import utcnow
    from storefront_api.staff import service
    from storefront_api.staff.models import StaffPasswordToken
    client, settings = await make_client()
    user = await make_staff(db, "agent")
    async with db.write() as session:
        first, _ = await service.issue_password_link(session, user, settings)
        expired, _ = await service.issue_password_link(session, user, settings)
        await session.execute(update(StaffPasswordToken).where(
            StaffPasswordToken.token_hash == sessions.token_hash(expired.split("token=")[1]))
            .values(expires_at=utcnow() - timedelta(seconds=1)))
    script = await bearer(db, user)
    for token in (expired.split("token=")[1], "x" * 43):
        resp = await client.post("/api/staff/password",
                                 json={"token": token, "password": "a new long password"})
        problem(resp, await resp.json(), 400)
    assert (await client.get("/api/staff/me", headers=script)).status == 200
    resp = await client.post("/api/staff/password", json={
        "token": first.split("token=")[1], "password": "a new long password"})
    assert resp.status == 200
    # the user's sessions ended with the new password; the link is used up
    problem(resp := await client.get("/api/staff/me", headers=script), await resp.json(), 401)
    resp = await client.post("/api/staff/password", json={
        "token": first.split("token=")[1], "password": "yet another long one"})
    problem(resp, await resp.json(), 400)
    resp = await client.post("/api/staff/password", json={
        "token": first.split("token=")[1], "password": "yet another long one"},
        headers={"Origin": "https://evil.example"})
    problem(resp, await resp.json(), 403)


async def test_openapi_documents_the_staff_routes(make_client):
    client, _ = await make_client()
    spec = await (await client.get("/api/openapi.json")).json()
    paths = spec["paths"]
    assert "security" not in paths["/api/staff/sessions"]["post"]
    assert paths["/api/staff/me"]["get"]["x-aisle-role"] == "staff"
    for path, method in [("/api/admin/staff", "get"), ("/api/admin/staff", "post"),
                         ("/api/admin/staff/{id}", "patch"),
                         ("/api/admin/staff/{id}/sessions", "delete")]:
        assert paths[path][method]["x-aisle-role"] == "admin"
        assert paths[path][method]["security"] == [{"staffSession": []}, {"staffBearer": []}]
    assert "429" in paths["/api/staff/sessions"]["post"]["responses"]
