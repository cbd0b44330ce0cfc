"""Staff users and their one-time set-password links. Every function runs in the caller's
transaction; password hashing (slow on purpose) is done by the caller before it opens one.

A user with no password yet (invited, the link not used) cannot sign in. A set-password link
works once, for 24 hours; only its SHA-256 is kept. Setting a password through a link, or
disabling a user, ends every session of theirs. The shop always keeps one enabled admin: the
last one can be neither disabled nor given another role.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth import ROLES, unauthorized
from ..values import is_valid_email, normalise_email
from ..db import Database, utcnow
from ..outbox.service import enqueue_email
from ..problems import Problem, conflict, unprocessable
from ..settings import Settings
from . import passwords, sessions
from .models import StaffPasswordToken, StaffSession, StaffUser

LINK_LIFETIME = timedelta(hours=24)
MAX_NAME_LENGTH = 80


def wrong_credentials() -> Problem:
    """One answer for an unknown e-mail, a wrong password and a disabled account."""
    return unauthorized("E-mail or password is incorrect.", "staff")


def checked_email(raw: str) -> str:
    email = normalise_email(raw)
    if not is_valid_email(email):
        raise unprocessable(f"{raw!r} is not a valid e-mail address.", type="invalid-email")
    return email


def checked_role(role: str) -> str:
    if role not in ROLES:
        raise unprocessable(f"The role must be one of {', '.join(ROLES)}, not {role!r}.",
                            type="invalid-role")
    return role


async def find_by_email(session: AsyncSession, email: str) -> StaffUser | None:
    return await session.scalar(select(StaffUser).where(StaffUser.email == normalise_email(email)))


async def find_user(session: AsyncSession, user_id: int, *, for_update: bool = False
                    ) -> StaffUser:
    query = select(StaffUser).where(StaffUser.id == user_id)
    user = await session.scalar(query.with_for_update() if for_update else query)
    if user is None:
        raise Problem(404, "Not found", f"No staff user with id {user_id}.",
                      type="staff-not-found")
    return user


async def create_user(session: AsyncSession, *, email: str, role: str, name: str = "",
                      password_hash: str | None = None) -> StaffUser:
    email, role = checked_email(email), checked_role(role)
    if await find_by_email(session, email) is not None:
        raise conflict(f"There is already a staff user {email}.", type="staff-exists")
    user = StaffUser(email=email, role=role, name=name.strip()[:MAX_NAME_LENGTH],
                     password_hash=password_hash, created_at=utcnow())
    session.add(user)
    await session.flush()  # the unique e-mail refuses a concurrent twin here
    return user


# --- signing in ----------------------------------------------------------------------------

async def authenticate(db: Database, email: str, password: str) -> StaffUser:
    """The user these credentials prove, or the one 401 for every kind of failure. The
    password is checked even for an unknown or disabled account, so that timing tells
    nothing either."""
    async with db.read() as session:
        user = await find_by_email(session, email)
    matches, new_hash = await passwords.check_password(
        password, user.password_hash if user is not None else None)
    if not matches or user.disabled_at is not None:
        raise wrong_credentials()
    if new_hash is not None:  # hashed with older parameters: keep today's
        async with db.write() as session:
            await session.execute(update(StaffUser).where(StaffUser.id == user.id)
                                  .values(password_hash=new_hash))
    return user


# --- set-password links --------------------------------------------------------------------

def password_link(settings: Settings, token: str) -> str:
    return f"{settings.storefront_url.rstrip('/')}/staff/set-password?token={token}"


async def issue_password_link(session: AsyncSession, user: StaffUser,
                              settings: Settings) -> tuple[str, datetime]:
    """A new one-time link for ``user``, put in the outbox as an e-mail; (link, expiry)."""
    token, now = secrets.token_urlsafe(32), utcnow()
    expires_at = now + LINK_LIFETIME
    session.add(StaffPasswordToken(token_hash=sessions.token_hash(token), user_id=user.id,
                                   created_at=now, expires_at=expires_at))
    link = password_link(settings, token)
    greeting = f"Hello {user.name}," if user.name else "Hello,"
    await enqueue_email(
        session, to=user.email, tag="staff-password-link",
        subject=f"Set your password for {settings.shop_name}",
        text=(f"{greeting}\n\nYou have a staff account ({user.role}) at {settings.shop_name}. "
              f"Choose your password here within 24 hours:\n\n{link}\n\n"
              "The link works once. If you did not expect this e-mail, you can ignore it."))
    return link, expires_at


def invalid_link() -> Problem:
    return Problem(400, "Bad request", "This set-password link is unknown, already used or "
                   "expired: ask an admin for a new one.", type="password-link-invalid")


async def password_link_is_live(session: AsyncSession, token: str) -> bool:
    """Could this link still set a password? (Checked again, under lock, when it is used.)"""
    link = await session.scalar(select(StaffPasswordToken).where(
        StaffPasswordToken.token_hash == sessions.token_hash(token)))
    return link is not None and link.used_at is None and link.expires_at > utcnow()


async def use_password_link(session: AsyncSession, token: str, password_hash: str) -> StaffUser:
    """Set the password of the link's user; the link (and any other of theirs) is used up
    and their sessions end."""
    now = utcnow()
    link = await session.scalar(
        select(StaffPasswordToken).where(StaffPasswordToken.token_hash == sessions.token_hash(token))
        .with_for_update())
    if link is None or link.used_at is not None or link.expires_at <= now:
        raise invalid_link()
    user = await find_user(session, link.user_id, for_update=True)
    if user.disabled_at is not None:
        raise invalid_link()
    # used only if still unused: of two requests with one link, one changes the password
    used = await session.execute(
        update(StaffPasswordToken).where(StaffPasswordToken.user_id == user.id,
                                         StaffPasswordToken.used_at.is_(None))
        .values(used_at=now))
    if not used.rowcount:
        raise invalid_link()
    user.password_hash = password_hash
    await sessions.revoke(session, StaffSession.user_id == user.id)
    return user


# --- what admins change --------------------------------------------------------------------

async def _other_enabled_admins(session: AsyncSession, user: StaffUser) -> int:
    return await session.scalar(select(func.count()).select_from(StaffUser).where(
        StaffUser.role == "admin", StaffUser.disabled_at.is_(None), StaffUser.id != user.id))


async def change_user(session: AsyncSession, user: StaffUser, *, role: str | None = None,
                      name: str | None = None, disabled: bool | None = None) -> None:
    stops_being_admin = user.role == "admin" and user.disabled_at is None and (
        (role is not None and role != "admin") or disabled)
    if stops_being_admin and not await _other_enabled_admins(session, user):
        raise conflict(f"{user.email} is the last enabled admin: make another admin first.",
                       type="last-admin")
    if role is not None:
        user.role = checked_role(role)
    if name is not None:
        user.name = name.strip()[:MAX_NAME_LENGTH]
    if disabled is True and user.disabled_at is None:
        user.disabled_at = utcnow()
        await sessions.revoke(session, StaffSession.user_id == user.id)
    elif disabled is False:
        user.disabled_at = None


async def all_users(session: AsyncSession) -> list[StaffUser]:
    return list((await session.scalars(select(StaffUser).order_by(StaffUser.id))).all())


def user_document(user: StaffUser, live_sessions: int | None = None) -> dict[str, Any]:
    document = {"id": user.id, "email": user.email, "name": user.name, "role": user.role,
                "password_set": user.password_hash is not None,
                "disabled": user.disabled_at is not None,
                "created_at": sessions.iso(user.created_at),
                "disabled_at": sessions.iso(user.disabled_at)}
    if live_sessions is not None:
        document["sessions"] = live_sessions
    return document

