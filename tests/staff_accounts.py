"""Staff accounts for tests: users made in the database as ``create-user`` makes them, and
sessions started by the real session code (the same tokens a sign-in hands out)."""

from __future__ import annotations

import functools
import uuid

from argon2 import PasswordHasher

from storefront_api.settings import Settings
from storefront_api.staff import service, sessions
from storefront_api.staff.models import StaffUser

PASSWORD = "correct horse battery staple"


@functools.cache
def _password_hash() -> str:
    """One argon2id hash of PASSWORD (today's parameters, as the shop makes them) for every
    test user: each hash costs ~150 ms."""
    return PasswordHasher().hash(PASSWORD)


async def make_staff(db, role: str, *, name: str = "", email: str | None = None,
                     with_password: bool = True) -> StaffUser:
    email = email or f"{role}-{uuid.uuid4().hex[:10]}@staff.example.com"
    async with db.write() as session:
        return await service.create_user(session, email=email, role=role, name=name,
                                         password_hash=_password_hash() if with_password else None)


async def start_session(db, user: StaffUser, kind: str) -> tuple[str, int]:
    """(token, session id) of a new session of ``user``."""
    async with db.write() as session:
        token, row = await sessions.start(session, user, kind, address="127.0.0.1",
                                          user_agent="tests")
        return token, row.id


async def bearer(db, user: StaffUser) -> dict[str, str]:
    """Headers of a script signed in as ``user``."""
    token, _ = await start_session(db, user, "bearer")
    return {"Authorization": f"Bearer {token}"}


async def browser(db, user: StaffUser, settings: Settings) -> dict[str, str]:
    """Headers of a browser signed in as ``user``: its cookie and its CSRF token."""
    token, _ = await start_session(db, user, "cookie")
    return {"Cookie": f"{sessions.COOKIE}={token}",
            sessions.CSRF_HEADER: sessions.csrf_token(settings.secret_key, token)}


async def agent(db, name: str) -> dict[str, str]:
    """Bearer headers of a new agent called ``name``."""
    return await bearer(db, await make_staff(db, "agent", name=name))


def problem(resp, body: dict, status: int) -> None:
    """``resp`` answered an RFC 7807 problem of ``status``."""
    assert resp.status == status, body
    assert resp.content_type == "application/problem+json", resp.content_type
    assert body["status"] == status and body["detail"], body
