"""Staff accounts from the command line to a working session: create-user, sign-in for
browsers (cookie) and scripts (bearer), throttling, sign-out, revocation, expiry."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from sqlalchemy import select, update
from staff_accounts import PASSWORD, bearer, browser, make_staff, problem, start_session

from storefront_api.__main__ import main
from storefront_api.db import utcnow
from storefront_api.outbox.models import OutboxMessage
from storefront_api.staff import sessions
from storefront_api.staff.models import StaffSession, StaffUser

ROOT = Path(__file__).resolve().parents[2]
SIGN_IN = "/api/staff/sessions"
ME = "/api/staff/me"


def new_email(what: str = "staff") -> str:
    return f"{what}-{uuid.uuid4().hex[:10]}@staff.example.com"


async def sign_in(client, email: str, password: str = PASSWORD, kind: str = "cookie",
                  headers: dict | None = None):
    resp = await client.post(SIGN_IN, json={"email": email, "password": password, "kind": kind},
                             headers=headers or {})
    return resp, await resp.json()


def cookie_of(resp) -> SimpleCookie:
    jar = SimpleCookie()
    for header in resp.headers.getall("Set-Cookie", []):
        jar.load(header)
    return jar


async def user_named(db, email: str) -> StaffUser:
    async with db.read() as session:
        return await session.scalar(select(StaffUser).where(StaffUser.email == email))


# --- create-user ---------------------------------------------------------------------------

def _cli(args: list[str], shop_url: str, tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": shop_url, "AISLE_VAR_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "storefront_api", *args], input=stdin,
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)


async def test_create_user_on_the_command_line_then_sign_in(make_client, shop_url, tmp_path):
    email = new_email("agent")
    result = await asyncio.to_thread(
        _cli, ["create-user", email.upper(), "--role", "agent", "--name", "Ana",
               "--password-stdin"], shop_url, tmp_path, stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert f"created agent {email}" in result.stdout and PASSWORD not in result.stdout
    client, _ = await make_client()
    resp, body = await sign_in(client, email, kind="bearer")
    assert resp.status == 201, body
    assert body["staff"] | {"id": None} == {"id": None, "email": email, "name": "Ana",
                                            "role": "agent", "via": "bearer"}
    me = await client.get(ME, headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status == 200 and (await me.json())["staff"]["email"] == email


class _Stdin:
    """A stdin that is no terminal, with one line on it."""

    def __init__(self, text: str):
        self.text = text

    def readline(self) -> str:
        text, self.text = self.text, ""
        return text

    def isatty(self) -> bool:
        return False


@pytest.fixture
def create_user(shop_url, tmp_path, monkeypatch, capsys):
    """``create_user(args, stdin)``: (exit status, stdout, stderr) of the command in-process."""
    monkeypatch.setenv("DATABASE_URL", shop_url)
    monkeypatch.setenv("AISLE_VAR_DIR", str(tmp_path))

    def run(args: list[str], stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", _Stdin(stdin))
        status = main(["create-user", *args])
        out, err = capsys.readouterr()
        return status, out, err
    return run


@pytest.mark.parametrize("args, stdin, message", [
    (["--role", "owner", "--password-stdin"], PASSWORD,
     "role must be one of admin, merchant, agent"),
    (["--role", "agent", "--password-stdin"], "too short", "at least 12 characters"),
    (["--role", "agent", "--password-stdin"], "  " * 10, "only spaces"),
    (["--role", "agent"], PASSWORD, "no terminal to ask for the password"),
], ids=["bad-role", "short-password", "blank-password", "no-terminal"])
def test_create_user_refuses_bad_input_in_one_line(args, stdin, message, create_user):
    email = new_email()
    status, out, err = create_user([email, *args], stdin + "\n")
    assert status == 2 and out == "", out
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    status, out, _ = create_user([email, "--role", "agent", "--password-stdin"], PASSWORD)
    assert status == 0, "the refused command wrote nothing"


def test_create_user_refuses_a_bad_email_and_an_existing_user(create_user):
    status, _, err = create_user(["not-an-email", "--role", "agent", "--password-stdin"],
                                 PASSWORD)
    assert status == 2 and err == "error: 'not-an-email' is not a valid e-mail address.\n"
    email = new_email()
    assert create_user([email, "--role", "merchant", "--password-stdin"], PASSWORD)[0] == 0
    status, _, err = create_user([email.upper(), "--role", "admin", "--password-stdin"],
                                 PASSWORD)
    assert status == 2 and err == f"error: There is already a staff user {email}.\n"


def test_staff_commands_list_end_sessions_and_disable(create_user, shop_url, capsys):
    email = new_email("merchant")
    assert create_user([email, "--role", "merchant", "--name", "Mo", "--password-stdin"],
                       PASSWORD)[0] == 0

    async def sign_in_twice():
        from storefront_api.db import Database
        db = Database(shop_url)
        try:
            async with db.read() as session:
                user = await session.scalar(select(StaffUser).where(StaffUser.email == email))
            return [await start_session(db, user, "bearer") for _ in range(2)]
        finally:
            await db.dispose()
    asyncio.run(sign_in_twice())

    def staff(*args: str) -> tuple[int, str, str]:
        status = main(["staff", *args])
        out, err = capsys.readouterr()
        return status, out, err

    status, out, _ = staff("list")
    [line] = [line for line in out.splitlines() if line.endswith(f"{email} (Mo)")]
    assert status == 0 and line.split()[1:4] == ["merchant", "active", "2"]
    assert staff("revoke-sessions", email.upper())[:2] == (0, f"ended 2 session(s) of {email}\n")
    status, out, _ = staff("password-link", email)
    assert status == 0 and "/staff/set-password?token=" in out
    assert staff("disable", email)[:2] == (0, f"disabled {email}; their sessions have ended\n")
    [line] = [line for line in staff("list")[1].splitlines() if email in line]
    assert line.split()[1:4] == ["merchant", "disabled", "0"]
    assert staff("password-link", email) == (2, "", f"error: {email} is disabled\n")
    assert staff("disable", "nobody@staff.example.com") == (
        2, "", "error: there is no staff user nobody@staff.example.com\n")


async def test_create_user_with_a_link_sets_the_password_once(db, make_client, shop_url,
                                                              tmp_path):
    email = new_email("admin")
    result = await asyncio.to_thread(
        _cli, ["create-user", email, "--role", "admin", "--link"], shop_url, tmp_path)
    assert result.returncode == 0, result.stderr
    link = result.stdout.strip().splitlines()[-1]
    assert link.startswith("http://127.0.0.1:8080/staff/set-password?token=")
    token = link.split("token=")[1]
    async with db.read() as session:
        mails = (await session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "email"))).all()
    [mail] = [m for m in mails if m.payload["to"] == email]
    assert link in mail.payload["text"] and mail.payload["tag"] == "staff-password-link"
    user = await user_named(db, email)
    assert user.password_hash is None
    async with db.read() as session:  # only the link's hash is kept
        from storefront_api.staff.models import StaffPasswordToken
        stored = (await session.scalars(select(StaffPasswordToken.token_hash).where(
            StaffPasswordToken.user_id == user.id))).all()
    assert stored == [sessions.token_hash(token)]

    client, _ = await make_client()
    resp, body = await sign_in(client, email, kind="bearer")  # no password yet
    problem(resp, body, 401)
    resp = await client.post("/api/staff/password", json={"token": token, "password": "short"})
    problem(resp, await resp.json(), 422)
    resp = await client.post("/api/staff/password", json={"token": token, "password": PASSWORD})
    assert resp.status == 200 and (await resp.json())["email"] == email
    again = await client.post("/api/staff/password",
                              json={"token": token, "password": "another long password"})
    problem(again, await again.json(), 400)
    resp, body = await sign_in(client, email, kind="bearer")
    assert resp.status == 201 and body["staff"]["role"] == "admin"
    resp, body = await sign_in(client, email, "another long password", kind="bearer")
    problem(resp, body, 401)


# --- signing in ----------------------------------------------------------------------------

async def test_wrong_password_unknown_email_and_disabled_user_answer_alike(db, make_client):
    client, _ = await make_client()
    user = await make_staff(db, "merchant")
    disabled = await make_staff(db, "merchant")
    async with db.write() as session:
        await session.execute(update(StaffUser).where(StaffUser.id == disabled.id)
                              .values(disabled_at=utcnow()))
    answers = []
    for email, password in [(user.email, "wrong password, long"), (new_email(), PASSWORD),
                            (disabled.email, PASSWORD), (user.email.upper(), "nope")]:
        resp, body = await sign_in(client, email, password)
        problem(resp, body, 401)
        answers.append((body, resp.headers.get("WWW-Authenticate"),
                        "Set-Cookie" in resp.headers))
    assert all(answer == answers[0] for answer in answers), answers
    assert answers[0][2] is False
    resp, body = await sign_in(client, " " + user.email.upper() + " ")
    assert resp.status == 201, body


async def test_unknown_accounts_are_checked_against_a_dummy_hash(db, make_client,
                                                                  monkeypatch):
    """So that an unknown e-mail takes as long to refuse as a wrong password."""
    from storefront_api.staff import passwords
    checked: list[str] = []
    real_check = passwords._check
    monkeypatch.setattr(passwords, "_check",
                        lambda password, stored: checked.append(stored) or real_check(
                            password, stored))
    client, _ = await make_client()
    invited = await make_staff(db, "agent", with_password=False)
    for email in (new_email(), invited.email):
        resp, body = await sign_in(client, email)
        problem(resp, body, 401)
    assert len(checked) == 2 and all(h.startswith("$argon2id$") for h in checked)


async def test_an_old_hash_is_replaced_at_sign_in(db, make_client):
    from argon2 import PasswordHasher
    client, _ = await make_client()
    user = await make_staff(db, "merchant")
    weaker = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    async with db.write() as session:
        await session.execute(update(StaffUser).where(StaffUser.id == user.id)
                              .values(password_hash=weaker))
    resp, body = await sign_in(client, user.email, kind="bearer")
    assert resp.status == 201, body
    stored = (await user_named(db, user.email)).password_hash
    assert stored != weaker and "$m=65536,t=3,p=4$" in stored
    resp, body = await sign_in(client, user.email, kind="bearer")  # the new hash works
    assert resp.status == 201


async def test_cookie_sign_in_sets_a_strict_httponly_cookie(db, make_client):
    client, settings = await make_client()
    user = await make_staff(db, "merchant", name="Mia")
    resp, body = await sign_in(client, user.email)
    assert resp.status == 201, body
    cookie = cookie_of(resp)[sessions.COOKIE]
    assert cookie["httponly"] is True and cookie["samesite"] == "Strict"
    assert cookie["path"] == "/" and not cookie["secure"]  # demo on http://127.0.0.1
    assert not cookie["max-age"] and not cookie["expires"]  # gone when the browser closes
    assert "token" not in body and body["csrf_token"] == sessions.csrf_token(
        settings.secret_key, cookie.value)
    async with db.read() as session:  # the database keeps only the token's hash
        row = await session.get(StaffSession, body["session"]["id"])
    assert row.token_hash == sessions.token_hash(cookie.value) and row.kind == "cookie"
    assert row.expires_at - row.created_at == timedelta(days=7)
    me = await client.get(ME, headers={"Cookie": f"{sessions.COOKIE}={cookie.value}"})
    document = await me.json()
    assert document["staff"]["name"] == "Mia" and document["staff"]["via"] == "session"
    assert document["csrf_token"] == body["csrf_token"]
    # signing in again in the same browser ends its earlier session
    resp, _ = await sign_in(client, user.email,
                            headers={"Cookie": f"{sessions.COOKIE}={cookie.value}"})
    assert resp.status == 201 and cookie_of(resp)[sessions.COOKIE].value != cookie.value
    resp = await client.get(ME, headers={"Cookie": f"{sessions.COOKIE}={cookie.value}"})
    problem(resp, await resp.json(), 401)


async def test_bearer_sign_in_gives_a_token_and_no_cookie(db, make_client):
    client, _ = await make_client()
    user = await make_staff(db, "agent")
    resp, body = await sign_in(client, user.email, kind="bearer")
    assert resp.status == 201 and "Set-Cookie" not in resp.headers
    assert body["token"].startswith("ast_") and "csrf_token" not in body
    async with db.read() as session:
        row = await session.get(StaffSession, body["session"]["id"])
    assert row.expires_at - row.created_at == timedelta(days=90)
    # a bearer token is no cookie, and a cookie's token is no bearer token
    for headers in ({"Cookie": f"{sessions.COOKIE}={body['token']}"},
                    {"Authorization": f"Bearer ast_{body['token'][4:]}x"}):
        resp = await client.get(ME, headers=headers)
        problem(resp, await resp.json(), 401)
    cookie_token, _ = await start_session(db, user, "cookie")
    resp = await client.get(ME, headers={"Authorization": f"Bearer {cookie_token}"})
    problem(resp, await resp.json(), 401)


async def guesses_until_refused(attempt, most: int, window: int = 60) -> int:
    """How many ``attempt()`` answer 401 before one answers 429 (at most ``most``); the
    429's Retry-After is within the limit's ``window`` (seconds)."""
    for guesses in range(most + 1):
        resp, body = await attempt(guesses)
        if resp.status == 429:
            problem(resp, body, 429)
            assert 1 <= int(resp.headers["Retry-After"]) <= window
            return guesses
        problem(resp, body, 401)
    raise AssertionError(f"still no 429 after {most} wrong passwords")


# The counters are sliding windows: a burst that straddles a minute boundary may get one
# guess more than the limit (the last minute's count is weighed by what is left of it).

async def test_attack_sign_in_is_throttled_per_address(db, make_client):
    client, _ = await make_client()
    user = await make_staff(db, "admin")

    async def guess(_):
        return await sign_in(client, new_email(), "guessing-password")
    assert await guesses_until_refused(guess, 12) in (10, 11)  # "sign-in": 10 a minute
    resp, body = await sign_in(client, user.email)  # even the right password now
    problem(resp, body, 429)
    assert "Set-Cookie" not in resp.headers


async def test_attack_sign_in_is_throttled_per_account_across_addresses(db, make_client):
    # the account's own ceiling, whatever the address (100 an hour by default: lowered here)
    client, _ = await make_client(trust_proxy=True,
                                  rate_limit_overrides={"sign-in-account-all": "6/hour"})
    user, other = await make_staff(db, "admin"), await make_staff(db, "admin")

    async def guess(n):  # each guess from another address
        return await sign_in(client, user.email, "guessing-password",
                             headers={"X-Forwarded-For": f"203.0.113.{n + 1}"})
    assert await guesses_until_refused(guess, 8, window=3600) in (6, 7)
    resp, body = await sign_in(client, user.email.upper(),
                               headers={"X-Forwarded-For": "198.51.100.77"})
    problem(resp, body, 429)
    assert "sign-in attempts for this account" in body["detail"]
    resp, body = await sign_in(client, other.email,  # another account is not locked
                               headers={"X-Forwarded-For": "198.51.100.77"})
    assert resp.status == 201, body


async def test_attack_guessing_from_one_address_does_not_lock_the_owner_out(db, make_client):
    """Five wrong passwords for an account from one address stop that address; the owner,
    elsewhere, still signs in (a stranger who knows the e-mail cannot lock it)."""
    client, _ = await make_client(trust_proxy=True)
    user = await make_staff(db, "admin")
    attacker = {"X-Forwarded-For": "203.0.113.66"}

    async def guess(_):
        return await sign_in(client, user.email, "guessing-password", headers=attacker)
    assert await guesses_until_refused(guess, 7) in (5, 6)  # 5 a minute, per account+client
    resp, body = await sign_in(client, user.email, headers=attacker)  # even the right one
    problem(resp, body, 429)
    resp, body = await sign_in(client, user.email, headers={"X-Forwarded-For": "198.51.100.8"})
    assert resp.status == 201, body


# --- sessions ending -----------------------------------------------------------------------

async def test_sign_out_ends_the_session_and_clears_the_cookie(db, make_client):
    client, settings = await make_client()
    user = await make_staff(db, "merchant")
    headers = await browser(db, user, settings)
    resp = await client.delete("/api/staff/sessions/current", headers=headers)
    assert resp.status == 204
    cleared = cookie_of(resp)[sessions.COOKIE]
    assert cleared.value == "" and cleared["max-age"] == "0"
    resp = await client.get(ME, headers=headers)
    problem(resp, await resp.json(), 401)
    script = await bearer(db, user)
    resp = await client.delete("/api/staff/sessions/current", headers=script)
    assert resp.status == 204 and "Set-Cookie" not in resp.headers
    resp = await client.get("/api/admin/orders", headers=script)
    problem(resp, await resp.json(), 401)


async def test_attack_revoked_sessions_and_disabled_users_stop_at_once(db, make_client):
    client, settings = await make_client()
    admin = await bearer(db, await make_staff(db, "admin"))
    user = await make_staff(db, "merchant")
    first, second = await bearer(db, user), await browser(db, user, settings)
    for headers in (first, second):
        assert (await client.get(ME, headers=headers)).status == 200
    resp = await client.delete(f"/api/admin/staff/{user.id}/sessions", headers=admin)
    assert resp.status == 200 and (await resp.json())["revoked"] == 2
    for headers in (first, second):
        resp = await client.get(ME, headers=headers)
        problem(resp, await resp.json(), 401)

    third = await bearer(db, user)
    assert (await client.get("/api/admin/orders", headers=third)).status == 200
    resp = await client.patch(f"/api/admin/staff/{user.id}", json={"disabled": True},
                              headers=admin)
    assert resp.status == 200 and (await resp.json())["disabled"] is True
    resp = await client.get("/api/admin/orders", headers=third)
    problem(resp, await resp.json(), 401)
    resp, body = await sign_in(client, user.email)
    problem(resp, body, 401)
    # enabled again: old sessions stay ended, a new sign-in works
    resp = await client.patch(f"/api/admin/staff/{user.id}", json={"disabled": False},
                              headers=admin)
    assert resp.status == 200
    problem(resp := await client.get(ME, headers=third), await resp.json(), 401)
    resp, body = await sign_in(client, user.email, kind="bearer")
    assert resp.status == 201, body


async def test_sessions_expire_when_idle_and_at_their_cap(db, make_client):
    client, settings = await make_client()
    user = await make_staff(db, "agent")
    idle, capped, fresh = [await start_session(db, user, "bearer") for _ in range(3)]
    now = utcnow()
    async with db.write() as session:
        await session.execute(update(StaffSession).where(StaffSession.id == idle[1]).values(
            last_seen_at=now - timedelta(hours=settings.staff_session_hours, minutes=1)))
        await session.execute(update(StaffSession).where(StaffSession.id == capped[1]).values(
            expires_at=now - timedelta(seconds=1)))
        await session.execute(update(StaffSession).where(StaffSession.id == fresh[1]).values(
            last_seen_at=now - timedelta(hours=settings.staff_session_hours - 1)))
    for token, _ in (idle, capped):
        resp = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
        problem(resp, await resp.json(), 401)
    # used: the idle deadline slides (last_seen_at written, at most once a minute)
    resp = await client.get(ME, headers={"Authorization": f"Bearer {fresh[0]}"})
    assert resp.status == 200
    async with db.read() as session:
        seen = (await session.get(StaffSession, fresh[1])).last_seen_at
    assert utcnow() - seen < timedelta(minutes=1)
    await client.get(ME, headers={"Authorization": f"Bearer {fresh[0]}"})
    async with db.read() as session:
        assert (await session.get(StaffSession, fresh[1])).last_seen_at == seen


async def test_my_sessions_and_ending_one_of_them(db, make_client):
    client, settings = await make_client()
    user, stranger = await make_staff(db, "agent"), await make_staff(db, "agent")
    laptop, script = await browser(db, user, settings), await bearer(db, user)
    theirs = await bearer(db, stranger)
    resp = await client.get("/api/staff/sessions", headers=laptop)
    listed = (await resp.json())["sessions"]
    assert len(listed) == 2 and sum(s["current"] for s in listed) == 1
    assert {s["kind"] for s in listed} == {"cookie", "bearer"}
    script_id = next(s["id"] for s in listed if s["kind"] == "bearer")
    their_id = (await (await client.get(ME, headers=theirs)).json())["session"]["id"]
    resp = await client.delete(f"/api/staff/sessions/{their_id}", headers=laptop)
    problem(resp, await resp.json(), 404)  # not mine: as if unknown
    assert (await client.get(ME, headers=theirs)).status == 200
    resp = await client.delete(f"/api/staff/sessions/{script_id}", headers=laptop)
    assert resp.status == 204
    problem(resp := await client.get(ME, headers=script), await resp.json(), 401)
    assert (await client.get(ME, headers=laptop)).status == 200
