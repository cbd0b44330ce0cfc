"""Staff passwords: argon2id through argon2-cffi's PasswordHasher (RFC 9106's low-memory
profile: 64 MiB, 3 passes, 4 lanes; about 150 ms on a small server).

Hashing and checking run in a worker thread, so the event loop keeps serving while a sign-in
is checked. A hash made with other parameters than today's is replaced at the next sign-in
that proves the password. An account that does not exist (or has no password yet) is checked
against a dummy hash, so its answer takes as long as a wrong password's.
"""

from __future__ import annotations

import asyncio
import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # characters; argon2 takes any length, a bound keeps requests small

_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters


def weakness(password: str) -> str | None:
    """Why ``password`` cannot be used, or None."""
    if len(password) < MIN_LENGTH:
        return f"the password must be at least {MIN_LENGTH} characters long"
    if len(password) > MAX_LENGTH:
        return f"the password must be at most {MAX_LENGTH} characters long"
    if not password.strip():
        return "the password cannot be only spaces"
    return None


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_urlsafe(16))


def _check(password: str, stored: str) -> tuple[bool, str | None]:
    try:
        _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False, None
    return True, (_HASHER.hash(password) if _HASHER.check_needs_rehash(stored) else None)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


async def check_password(password: str, stored: str | None) -> tuple[bool, str | None]:
    """(does ``password`` match ``stored``, a fresh hash to store when the parameters have
    changed). ``stored=None`` spends the same time and never matches."""
    if stored is None:
        await asyncio.to_thread(_check, password, _dummy_hash())
        return False, None
    return await asyncio.to_thread(_check, password, stored)
