"""Staff sessions: who a request comes from, and what a browser must add to change anything.

A session is a random token (``secrets.token_urlsafe(32)``) that only its holder knows: the
database keeps its SHA-256. Browsers carry it in the ``aisle_staff`` cookie (HttpOnly,
SameSite=Strict, Secure where the shop is on HTTPS); scripts send it as
``Authorization: Bearer ast_...`` and never get a cookie. A session lasts
``STAFF_SESSION_HOURS`` since it was last used (``last_seen_at``, written at most once a
minute), and never longer than 7 days (cookie) or 90 days (bearer) after sign-in. It is
checked in the database at every request: a revoked session or a disabled user stops
working at once.

A browser is driven by pages of other sites too, so a request made with the cookie that can
change something (POST, PUT, PATCH, DELETE) must also carry the session's CSRF token in
``X-CSRF-Token`` (an HMAC of the session token, under a key derived from SECRET_KEY: a page
can learn it only from GET /api/staff/me, which other origins cannot read) and must not come
from another origin. ``auth.require_staff`` applies this to every staff route. A bearer
token is sent by a script on purpose, never by a browser on its own: it needs neither.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..app_keys import DB, SETTINGS
from ..auth import StaffMember, bearer_token, forbidden, same_secret
from ..db import utcnow
from ..settings import Settings
from .models import StaffSession, StaffUser

COOKIE = "aisle_staff"
BEARER_PREFIX = "ast_"
CSRF_HEADER = "X-CSRF-Token"
LIFETIME_CAP = {"cookie": timedelta(days=7), "bearer": timedelta(days=90)}
TOUCH_EVERY = timedelta(minutes=1)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_TOKEN_LENGTH = 100  # ours are 43 characters (47 with the prefix)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token(kind: str) -> str:
    token = secrets.token_urlsafe(32)
    return BEARER_PREFIX + token if kind == "bearer" else token


# --- starting, checking and ending sessions ------------------------------------------------

async def start(session: AsyncSession, user: StaffUser, kind: str, *, address: str | None,
                user_agent: str | None) -> tuple[str, StaffSession]:
    """A new session of ``user``; returns (the token to hand out once, the row)."""
    now = utcnow()
    token = new_token(kind)
    row = StaffSession(token_hash=token_hash(token), user_id=user.id, kind=kind,
                       created_at=now, last_seen_at=now, expires_at=now + LIFETIME_CAP[kind],
                       address=(address or "")[:64] or None,
                       user_agent=(user_agent or "")[:200] or None)
    session.add(row)
    await session.flush()
    return token, row


def idle_deadline(row: StaffSession, settings: Settings) -> datetime:
    return row.last_seen_at + timedelta(hours=settings.staff_session_hours)


def ends_at(row: StaffSession, settings: Settings) -> datetime:
    """When the session stops working if it is not used again."""
    return min(row.expires_at, idle_deadline(row, settings))


def is_live(row: StaffSession, user: StaffUser, settings: Settings, now: datetime) -> bool:
    return (row.revoked_at is None and user.disabled_at is None and now < row.expires_at
            and now < idle_deadline(row, settings))


def live_sessions(settings: Settings, now: datetime):
    """A WHERE clause: sessions still working (their user's state is checked apart)."""
    idle = now - timedelta(hours=settings.staff_session_hours)
    return (StaffSession.revoked_at.is_(None), StaffSession.expires_at > now,
            StaffSession.last_seen_at > idle)


async def revoke(session: AsyncSession, *where) -> int:
    """Revoke the sessions matching ``where`` that are not revoked yet; how many."""
    result = await session.execute(
        update(StaffSession).where(StaffSession.revoked_at.is_(None), *where)
        .values(revoked_at=utcnow()))
    return result.rowcount or 0


async def sessions_of(session: AsyncSession, user_id: int, settings: Settings
                      ) -> list[StaffSession]:
    now = utcnow()
    return list((await session.scalars(
        select(StaffSession).where(StaffSession.user_id == user_id, *live_sessions(settings, now))
        .order_by(StaffSession.last_seen_at.desc(), StaffSession.id.desc()))).all())


async def count_live(session: AsyncSession, settings: Settings) -> dict[int, int]:
    """Live sessions per user id."""
    rows = await session.execute(
        select(StaffSession.user_id, func.count()).where(*live_sessions(settings, utcnow()))
        .group_by(StaffSession.user_id))
    return {user_id: count for user_id, count in rows.all()}


# --- who is calling ------------------------------------------------------------------------

def presented_token(request: web.Request) -> tuple[str, str] | None:
    """(kind, token): a staff bearer token if the request has one, else the cookie."""
    bearer = bearer_token(request)
    if bearer is not None and bearer.startswith(BEARER_PREFIX):
        return ("bearer", bearer) if len(bearer) <= MAX_TOKEN_LENGTH else None
    cookie = request.cookies.get(COOKIE)
    if cookie and len(cookie) <= MAX_TOKEN_LENGTH:
        return "cookie", cookie
    return None


async def identify(request: web.Request) -> StaffMember | None:
    """The staff member whose session or bearer token the request carries, or None."""
    presented = presented_token(request)
    if presented is None:
        return None
    kind, token = presented
    settings, now = request.app[SETTINGS], utcnow()
    async with request.app[DB].read() as session:
        found = (await session.execute(
            select(StaffSession, StaffUser).join(StaffUser, StaffUser.id == StaffSession.user_id)
            .where(StaffSession.token_hash == token_hash(token)))).first()
    if found is None:
        return None
    row, user = found
    if row.kind != kind or not is_live(row, user, settings, now):
        return None  # a bearer token in a cookie (or the reverse) is no session either
    if now - row.last_seen_at >= TOUCH_EVERY:
        await _touch(request, row.id, now)
    return StaffMember(id=user.id, email=user.email, name=user.name, role=user.role,
                       session_id=row.id, via="session" if kind == "cookie" else "bearer")


async def _touch(request: web.Request, session_id: int, now: datetime) -> None:
    """Slide the session's idle deadline (at most one write a minute per session)."""
    async with request.app[DB].write() as session:
        await session.execute(
            update(StaffSession).where(StaffSession.id == session_id,
                                       StaffSession.last_seen_at < now - TOUCH_EVERY)
            .values(last_seen_at=now))


# --- what a browser must add ---------------------------------------------------------------

def _csrf_key(secret_key: str) -> bytes:
    # A key of its own, so no other signature made with SECRET_KEY can pass as a CSRF token.
    return hmac.new(secret_key.encode(), b"aisle staff csrf", hashlib.sha256).digest()


def csrf_token(secret_key: str, session_token: str) -> str:
    digest = hmac.new(_csrf_key(secret_key), session_token.encode("utf-8", "surrogatepass"),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _origin(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower()


def foreign_origin(request: web.Request) -> bool:
    """Does the request say it comes from a page of another origin? (No Origin header is
    not foreign: browsers send one with every cross-origin POST and with fetch's unsafe
    methods; scripts and same-origin navigations may leave it out.)"""
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    origin = origin.strip().lower()
    try:
        if origin == _origin(request.app[SETTINGS].storefront_url):
            return False
        parts = urlsplit(origin)  # "null" (sandboxed frames, file:) has no scheme: foreign
    except ValueError:  # not even a URL ("http://[::1")
        return True
    return not (parts.scheme in ("http", "https") and parts.netloc == request.host.lower()
                and not parts.path)


def check_origin(request: web.Request) -> None:
    if foreign_origin(request):
        raise forbidden("This request comes from a page of another site (its Origin is "
                        "not this shop's), so it is refused.")


def check_browser_request(request: web.Request) -> None:
    """For a request authenticated by the cookie: an unsafe method needs this shop's origin
    and the session's CSRF token (403 otherwise)."""
    if request.method not in UNSAFE_METHODS:
        return
    check_origin(request)
    expected = csrf_token(request.app[SETTINGS].secret_key, request.cookies.get(COOKIE, ""))
    if not same_secret(request.headers.get(CSRF_HEADER), expected):
        raise forbidden(f"A signed-in browser must send its CSRF token in {CSRF_HEADER} "
                        "(GET /api/staff/me returns it) to change anything.")


# --- the cookie ----------------------------------------------------------------------------

def secure_cookie(settings: Settings) -> bool:
    return settings.is_production or settings.storefront_url.lower().startswith("https://")


def set_cookie(response: web.StreamResponse, token: str, settings: Settings) -> None:
    """A browser-session cookie: the server decides when it stops working, and the
    browser forgets it when it closes."""
    response.set_cookie(COOKIE, token, path="/", httponly=True, samesite="Strict",
                        secure=secure_cookie(settings))


def clear_cookie(response: web.StreamResponse, settings: Settings) -> None:
    response.del_cookie(COOKIE, path="/", httponly=True, samesite="Strict",
                        secure=secure_cookie(settings))


# --- documents -----------------------------------------------------------------------------

def iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") + "Z" if moment else None


def session_document(row: StaffSession, settings: Settings,
                     current_id: int | None = None) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "current": row.id == current_id,
            "created_at": iso(row.created_at), "last_seen_at": iso(row.last_seen_at),
            "ends_at": iso(ends_at(row, settings)), "expires_at": iso(row.expires_at),
            "address": row.address, "user_agent": row.user_agent}
