"""Who is calling: the merchant (bearer ADMIN_TOKEN) or a signed-in customer (signed token).

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


def require_admin(request: web.Request) -> None:
    """Raise a 401 problem unless the request carries the shop's ADMIN_TOKEN."""
    expected = request.app[SETTINGS].admin_token
    given = bearer_token(request)
    # An empty ADMIN_TOKEN disables the merchant routes rather than opening them.
    if not expected or given is None or not hmac.compare_digest(
            given.encode(), expected.encode()):
        raise unauthorized("This route needs the shop's admin token "
                           "(Authorization: Bearer <ADMIN_TOKEN>).", "admin")


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
    if not hmac.compare_digest(signature.encode(), _signature(secret_key, payload).encode()):
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
