"""Who may see the dashboard. With ``DASHBOARD_AUTH=staff`` (the default when
AISLE_ENV=production; ``off`` otherwise) only a merchant or an admin signed in to the shop.

The dashboard checks the shop's own staff session itself: the browser's ``aisle_staff``
cookie (cookies belong to a host, not a port, so the one the shop sets on 127.0.0.1:8080
reaches the dashboard on 127.0.0.1:8501; in production serve both under one host name) is
hashed with SHA-256 and looked up in the shop database (DATABASE_URL), read-only. The session
must be a browser's, not revoked, not past its cap, not idle for longer than
STAFF_SESSION_HOURS, and its user enabled with the merchant or admin role. Anyone else gets a
short page with the sign-in link and none of the shop's numbers. No SECRET_KEY or ADMIN_TOKEN
is needed here.

The check runs at every script run (each interaction), so a revoked session or a disabled
user is shut out at the next click. Using the dashboard does not extend the session (the
dashboard only reads the shop's tables): the shop's pages and API do.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote, urlsplit

import streamlit as st

log = logging.getLogger("dashboard.auth")

COOKIE = "aisle_staff"  # storefront_api.staff.sessions.COOKIE
ALLOWED_ROLES = frozenset({"merchant", "admin"})
MODES = ("staff", "off")
DEFAULT_SHOP_URL = "sqlite+aiosqlite:///var/shop.db"


class AuthSetting(ValueError):
    """A setting the dashboard cannot start with (one line, naming it)."""


@dataclass(frozen=True)
class Viewer:
    email: str
    name: str
    role: str


# --- settings ------------------------------------------------------------------------------

def mode(env=os.environ) -> str:
    """'staff' or 'off', from DASHBOARD_AUTH (default: staff in production, off in the demo)."""
    environment = env.get("AISLE_ENV", "demo").strip().lower() or "demo"
    if environment not in ("demo", "production"):
        raise AuthSetting(f"AISLE_ENV must be 'production' or 'demo', not {environment!r}")
    raw = env.get("DASHBOARD_AUTH", "")
    if not raw.strip():
        return "staff" if environment == "production" else "off"
    if raw.strip().lower() not in MODES:
        raise AuthSetting(f"DASHBOARD_AUTH must be 'staff' or 'off', not {raw!r}")
    if environment == "production" and raw.strip().lower() == "off":
        raise AuthSetting("DASHBOARD_AUTH=off is refused with AISLE_ENV=production: the "
                          "dashboard would show the shop's figures to anyone who reaches it")
    return raw.strip().lower()


def session_hours(env=os.environ) -> int:
    """STAFF_SESSION_HOURS, as storefront_api reads it (give both the same value)."""
    raw = env.get("STAFF_SESSION_HOURS", "12")
    try:
        hours = int(raw)
    except ValueError:
        hours = 0
    if not 1 <= hours <= 720:
        raise AuthSetting(f"STAFF_SESSION_HOURS must be a whole number from 1 to 720, not {raw!r}")
    return hours


def shop_database_url(env=os.environ) -> str:
    return env.get("DATABASE_URL") or DEFAULT_SHOP_URL


def sign_in_url(storefront_url: str, dashboard_url: str | None) -> str:
    """The shop's sign-in page; it comes back here only when the dashboard is served from
    the shop's own origin (the page follows ``next`` to its own paths only)."""
    base = storefront_url.rstrip("/") + "/staff/sign-in"
    if not dashboard_url:
        return base
    shop, here = urlsplit(storefront_url), urlsplit(dashboard_url)
    if (shop.scheme, shop.netloc) != (here.scheme, here.netloc):
        return base
    return f"{base}?next={quote(here.path or '/', safe='/')}"


# --- the session ---------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def _engine(url: str):
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from analytics.loaders import sync_url
    parsed = make_url(sync_url(url))
    if parsed.drivername.startswith("sqlite"):
        if not parsed.database or not Path(parsed.database).exists():
            raise FileNotFoundError(f"no shop database at {parsed.database}")
        return create_engine(parsed)
    return create_engine(parsed, pool_pre_ping=True, pool_size=2, max_overflow=2)


def find_viewer(url: str, token: str, hours: int, now: datetime | None = None) -> Viewer | None:
    """The merchant, admin or agent whose live browser session ``token`` is, or None."""
    from sqlalchemy import select

    from storefront_api.staff.models import StaffSession, StaffUser
    if not token or len(token) > 100:
        return None
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    token_hash = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    query = (select(StaffUser.email, StaffUser.name, StaffUser.role)
             .join(StaffSession, StaffSession.user_id == StaffUser.id)
             .where(StaffSession.token_hash == token_hash, StaffSession.kind == "cookie",
                    StaffSession.revoked_at.is_(None), StaffSession.expires_at > now,
                    StaffSession.last_seen_at > now - timedelta(hours=hours),
                    StaffUser.disabled_at.is_(None)))
    with _engine(url).connect() as connection:
        row = connection.execute(query).first()
    return Viewer(row.email, row.name, row.role) if row else None


# --- the gate ------------------------------------------------------------------------------

def require_sign_in() -> Viewer | None:
    """Stop the script run unless this visitor may see the dashboard; the signed-in
    merchant or admin (None when DASHBOARD_AUTH=off)."""
    try:
        if mode() == "off":
            return None
        hours = session_hours()
    except AuthSetting as problem:
        st.error(str(problem))
        st.stop()
    try:
        viewer = find_viewer(shop_database_url(), st.context.cookies.get(COOKIE, ""), hours)
    except Exception as exc:  # unreachable or missing database: fail closed, say so
        log.warning("could not check a dashboard sign-in: %s: %s", type(exc).__name__, exc)
        st.title("Merchant dashboard")
        st.error("The shop's database cannot be reached to check your sign-in; try again "
                 "in a moment.")
        st.stop()
    if viewer is None:
        _sign_in_page()
    if viewer.role not in ALLOWED_ROLES:
        _refused_page(viewer)
    st.sidebar.caption(f"Signed in as {viewer.name or viewer.email} ({viewer.role})")
    return viewer


def _storefront_url() -> str:
    return os.environ.get("STOREFRONT_URL", "http://127.0.0.1:8080")


def _sign_in_page() -> None:
    st.title("Merchant dashboard")
    st.info("Sign in with your shop staff account (merchant or admin) to see the dashboard.")
    st.link_button("Sign in", sign_in_url(_storefront_url(), st.context.url), type="primary")
    st.caption("Then come back to this page and reload it.")
    st.stop()


def _refused_page(viewer: Viewer) -> None:
    st.title("Merchant dashboard")
    st.error(f"You are signed in as {viewer.email} ({viewer.role}). The dashboard is for "
             "merchants and admins.")
    st.link_button("Sign in as someone else", sign_in_url(_storefront_url(), None))
    st.stop()
