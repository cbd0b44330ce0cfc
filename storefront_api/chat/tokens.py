"""The web chat's socket tokens: which conversation a browser may talk in.

storefront_api mints the conversation id itself (128 random bits from ``secrets``) and signs
a JWT for it with CHAT_JWT_SECRET: HS256, ``sub`` = the conversation id, ``aud`` =
``aisle-chat``, ``iss`` = ``aisle-storefront``, ``exp`` = CHAT_TOKEN_HOURS from now, ``cli`` = an opaque key of the client that asked
(``client_of``): the socket passes it with each message and the shop counts its limits and
stock holds per client, however many conversations it starts. Rasa's
socketio channel (bot/channels/socketio.py) checks the same claims with the same secret and
lets the socket speak only in that conversation, so knowing a conversation id is not enough
to read or steer it.

A token whose signature still holds can be renewed for its conversation up to
``RENEWAL_DAYS`` after it expired: a returning shopper keeps their conversation and cart.
An id the client chose is never signed; a token that fails any check gives nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"
AUDIENCE = "aisle-chat"
ISSUER = "aisle-storefront"
RENEWAL_DAYS = 30
CONVERSATION_ID = re.compile(r"^[0-9a-f]{32}$")  # what new_conversation_id() makes
MAX_TOKEN_LENGTH = 2048


@dataclass(frozen=True)
class ChatToken:
    conversation_id: str
    token: str
    expires_at: int  # unix seconds


def new_conversation_id() -> str:
    return secrets.token_hex(16)


def client_of(secret_key: str, client_key: str) -> str:
    """An opaque, stable key of the browser's client (its address as the rate limits see
    it), keyed with SECRET_KEY so that Rasa's trackers never hold the address itself."""
    key = hmac.new(secret_key.encode(), b"aisle chat client", hashlib.sha256).digest()
    return "c_" + hmac.new(key, client_key.encode("utf-8", "surrogatepass"),
                           hashlib.sha256).hexdigest()[:32]


def issue(secret: str, conversation_id: str, hours: int, now: float,
          client: str | None = None) -> ChatToken:
    issued = int(now)
    expires = issued + hours * 3600
    claims = {"sub": conversation_id, "aud": AUDIENCE, "iss": ISSUER, "iat": issued,
              "exp": expires}
    if client:
        claims["cli"] = client
    token = jwt.encode(claims, secret, algorithm=ALGORITHM)
    return ChatToken(conversation_id, token, expires)


def renewable_conversation(secret: str, token: str, now: float) -> str | None:
    """The conversation of a token we signed that expired at most RENEWAL_DAYS ago; None
    for anything else (another key, another audience, tampered, too old, not our id)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], audience=AUDIENCE,
                            issuer=ISSUER, leeway=RENEWAL_DAYS * 86400,
                            options={"require": ["sub", "exp", "iat", "aud", "iss"]})
    except jwt.PyJWTError:
        return None
    conversation_id = claims.get("sub")
    if not isinstance(conversation_id, str) or not CONVERSATION_ID.match(conversation_id):
        return None
    if claims["iat"] > now + 60:  # issued in the future: not a token we made
        return None
    return conversation_id
