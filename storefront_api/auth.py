"""Who is calling: staff (a session, or the break-glass ADMIN_TOKEN), Aisle's own action
server (the service credential), or a signed-in customer (a signed token).

Staff roles: ``admin`` may do everything; ``merchant`` runs the shop (orders, stock,
pricing, returns, refunds, recovery); ``agent`` works the support inbox. A route declares
the role it needs (``auth="merchant"``); admin passes every such check, and ``auth="staff"``
is any signed-in staff member. No credential is a 401, the wrong role a 403. Staff sign in
with their own account (``staff/sessions.py``: a cookie for browsers, whose unsafe requests
also need the session's CSRF token and this shop's origin, or a bearer token for scripts).

The service credential (SERVICE_TOKEN, sent as a bearer token) is what makes a call
conversation-scoped: only with it are X-Conversation-Id and X-Channel believed.

Customer tokens are stateless: ``v1.<customer id>.<expiry, unix seconds>.<signature>``, the
signature an HMAC-SHA256 over the first three parts with a key derived from SECRET_KEY. There
is no session table to look up, and changing SECRET_KEY signs everybody out. Passwords are
hashed with scrypt and a random salt per customer; hashing runs in a worker thread because it
deliberately takes tens of milliseconds.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from aiohttp import web

from .app_keys import SETTINGS
from .problems import Problem

CUSTOMER_TOKEN_TTL = 14 * 24 * 3600  # seconds: two weeks, then sign in again
_TOKEN_VERSION = "v1"

# scrypt cost: n=2**14, r=8 needs 16 MiB and ~50 ms per hash, OWASP's minimum for scrypt.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _SCRYPT_LEN = 2**14, 8, 1, 32


# --- bearer tokens -------------------------------------------------------------------------

def bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def unauthorized(detail: str, realm: str) -> Problem:
    problem = Problem(401, "Unauthorized", detail, type="unauthorized")
    problem.headers["WWW-Authenticate"] = f'Bearer realm="{realm}"'
    return problem


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented secret, any characters (compared as UTF-8
    bytes: a non-ASCII string is just a wrong secret). An empty ``expected`` matches nothing."""
    if not expected or given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                               expected.encode("utf-8", "surrogatepass"))


def forbidden(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail, type="forbidden")


# --- the action server ---------------------------------------------------------------------

_SERVICE = web.RequestKey("aisle_service_call", bool)


def is_service_call(request: web.Request) -> bool:
    """Does the request carry the service credential (Authorization: Bearer SERVICE_TOKEN)?"""
    if _SERVICE not in request:
        request[_SERVICE] = same_secret(bearer_token(request),
                                        request.app[SETTINGS].service_token)
    return request[_SERVICE]


def require_service(request: web.Request) -> None:
    if not is_service_call(request):
        raise unauthorized("This route is for Aisle's own assistant: it needs the service "
                           "credential (Authorization: Bearer <SERVICE_TOKEN>).", "service")


# --- staff ---------------------------------------------------------------------------------

ROLES = ("admin", "merchant", "agent")
# who passes a route that declares a role
ROLE_GRANTS = {"admin": frozenset({"admin"}), "merchant": frozenset({"merchant", "admin"}),
               "agent": frozenset({"agent", "admin"}),
               "staff": frozenset(ROLES)}  # any signed-in staff member (sign-out, "me")


@dataclass(frozen=True)
class StaffMember:
    """Who is signed in. ``id`` is None for the break-glass ADMIN_TOKEN."""

    id: int | None
    email: str
    name: str
    role: str
    session_id: int | None = None
    via: str = "session"  # "session" (cookie), "bearer" (a script's token), "break-glass"

    @property
    def shown_name(self) -> str:
        """The name put on what this member does (an agent's reply, a claim)."""
        if self.via == "break-glass":
            return "Admin"
        return self.name or self.email


BREAK_GLASS = StaffMember(id=None, email="", name="Admin (break-glass token)", role="admin",
                          via="break-glass")
_STAFF: web.RequestKey["StaffMember | None"] = web.RequestKey("aisle_staff")


async def current_staff(request: web.Request) -> StaffMember | None:
    """The staff member behind this request, or None (cached on the request)."""
    if _STAFF not in request:
        settings = request.app[SETTINGS]
        member = None
        if settings.admin_token_enabled and same_secret(bearer_token(request),
                                                        settings.admin_token):
            member = BREAK_GLASS
        else:
            from .staff.sessions import identify
            member = await identify(request)
        request[_STAFF] = member
    return request[_STAFF]


async def require_staff(request: web.Request, role: str) -> StaffMember:
    """The signed-in staff member if their role grants ``role``; else 401 or 403."""
    member = await current_staff(request)
    if member is None:
        raise unauthorized("Sign in first: a staff session (POST /api/staff/sessions, or "
                           "the sign-in page /staff/sign-in), or a staff bearer token.",
                           "staff")
    if member.via == "session":  # the cookie: a browser, which other sites' pages drive too
        from .staff.sessions import check_browser_request
        check_browser_request(request)
    if member.role not in ROLE_GRANTS[role]:
        raise forbidden(f"This needs the {role} role; you are signed in as {member.role}.")
    return member


async def authorize(request: web.Request, auth: str) -> None:
    """The check a route declared with ``auth=``: a staff role, ``service`` or
    ``customer``."""
    if auth == "service":
        require_service(request)
    elif auth == "customer":
        require_customer(request)
    elif auth in ROLE_GRANTS:
        await require_staff(request, auth)
    else:
        raise ValueError(f"unknown auth requirement {auth!r}")


# --- customer tokens -----------------------------------------------------------------------

@dataclass(frozen=True)
class CustomerToken:
    token: str
    customer_id: int
    expires_at: int  # unix seconds


def _token_key(secret_key: str) -> bytes:
    # A key of its own, so a signature made for another purpose can never pass as a session.
    return hmac.new(secret_key.encode(), b"aisle customer token", hashlib.sha256).digest()


def _signature(secret_key: str, payload: str) -> str:
    digest = hmac.new(_token_key(secret_key), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_customer_token(secret_key: str, customer_id: int, *, ttl: int = CUSTOMER_TOKEN_TTL,
                        now: float | None = None) -> CustomerToken:
    expires_at = int(now if now is not None else time.time()) + ttl
    payload = f"{_TOKEN_VERSION}.{customer_id}.{expires_at}"
    return CustomerToken(f"{payload}.{_signature(secret_key, payload)}", customer_id, expires_at)


def verify_customer_token(secret_key: str, token: str, *, now: float | None = None) -> int | None:
    """The customer id the token was signed for, or None if forged, malformed or expired."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != _TOKEN_VERSION or len(token) > 200:
        return None
    payload, signature = ".".join(parts[:3]), parts[3]
    if not same_secret(signature, _signature(secret_key, payload)):
        return None
    customer_id, expires_at = int(parts[1]), int(parts[2])  # digits: they were signed by us
    if expires_at <= (now if now is not None else time.time()):
        return None
    return customer_id


def require_customer(request: web.Request) -> int:
    """The signed-in customer's id, or a 401 problem."""
    token = bearer_token(request)
    customer_id = (verify_customer_token(request.app[SETTINGS].secret_key, token)
                   if token else None)
    if customer_id is None:
        raise unauthorized("Sign in first: send the customer token from "
                           "POST /api/customers/sign-in as 'Authorization: Bearer <token>'. "
                           "Tokens expire after two weeks.", "customer")
    return customer_id


# --- passwords -----------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=length,
                          maxmem=256 * r * n + 1024 * 1024)


def hash_password_sync(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _SCRYPT_LEN)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def check_password_sync(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p), len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


# A real hash to check against when the e-mail is unknown, so that both failures take as long.
_DUMMY_HASH = hash_password_sync(secrets.token_urlsafe(16))


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(hash_password_sync, password)


async def check_password(password: str, stored: str | None) -> bool:
    """True if ``password`` matches ``stored``; with ``stored=None`` spends the same time."""
    ok = await asyncio.to_thread(check_password_sync, password, stored or _DUMMY_HASH)
    return ok and stored is not None
