"""A cart change sent again with the same ``Idempotency-Key`` is applied once.

The assistant's calls can be cut off after the shop committed them (a storefront_api replica
killed, the action server restarted, a Rasa replica that dies mid-turn and the turn run
again on the other one); the caller cannot tell whether the change happened, so it sends the
same request again with the same key (bot/actions/storefront.py derives it from the point of
the conversation and the request). The key is recorded in the change's own transaction,
under the cart's row lock, so there is no moment where the change is committed and the key
is not: the repeat finds it and answers with the cart as it is now, changing nothing.

- Scope: a key counts per cart (whoever holds a cart's token can only replay that cart's
  changes). Creating a cart takes a key only from the assistant (the service credential):
  anyone else's key is ignored there, so a key can never hand out another shopper's cart.
- The same key with another request (method, path or body) is a 422: the client reused a
  key by mistake, and neither answer would be right.
- Keys are kept a day (repeats come within seconds); older ones of a cart go when it
  changes again, all of them with the cart.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from aiohttp import web
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import utcnow
from ..problems import bad_request, unprocessable
from .models import CartRequest

HEADER = "Idempotency-Key"
KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,120}$")
KEPT = timedelta(days=1)


def client_key(request: web.Request) -> str | None:
    """The request's Idempotency-Key, or None; a malformed one is a 400."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    if not KEY.match(raw):
        raise bad_request(f"{HEADER} must be 8 to 120 characters: letters, digits, "
                          "'_', '.', ':' or '-'.", type="bad-idempotency-key")
    return raw


def scoped(key: str, scope: str) -> str:
    return hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()


async def fingerprint(request: web.Request) -> str:
    body = await request.read()  # the bytes routing.py already read and checked
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


async def applied(session: AsyncSession, key: str, request_hash: str) -> int | None:
    """The cart a request with this (scoped) key changed, or None if none did yet."""
    done = await session.get(CartRequest, key)
    if done is None:
        return None
    if done.request_hash != request_hash:
        raise unprocessable(f"This {HEADER} was used for another request; use a new key for "
                            "a new change.", type="idempotency-key-reused")
    return done.cart_id


async def remember(session: AsyncSession, key: str, cart_id: int, request_hash: str) -> None:
    """Record the change in the caller's transaction, and forget the cart's old keys."""
    now = utcnow()
    await session.execute(delete(CartRequest).where(CartRequest.cart_id == cart_id,
                                                    CartRequest.created_at < now - KEPT))
    session.add(CartRequest(key=key, cart_id=cart_id, request_hash=request_hash,
                            created_at=now))
