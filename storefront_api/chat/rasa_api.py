"""storefront_api's credential for Rasa's HTTP API: a short-lived JWT, sent as
``Authorization: Bearer <token>`` on every call (tracker reads, appended events, execute,
trigger_intent).

Rasa runs with ``--jwt-secret $RASA_JWT_SECRET --jwt-method HS256``; its server (sanic-jwt)
checks the HS256 signature and the expiry (with 3 minutes' leeway for clock skew), and lets
``{"user": {"role": "admin"}}`` act on every conversation. A token lives ``TOKEN_SECONDS``
and is minted again shortly before that, so a leaked one (a log line, a proxy) is worth
minutes, and nothing secret travels in a URL
(Rasa's other option, ``--auth-token``, is a ``?token=`` query parameter compared with ``==``).

The secret is not the chat's (CHAT_JWT_SECRET): a shopper's socket token must never open
Rasa's API. With RASA_JWT_SECRET unset no header is sent (a Rasa without auth, in tests);
production mode refuses to start that way.
"""

from __future__ import annotations

import threading
import time

import jwt

TOKEN_SECONDS = 300  # five minutes
RENEW_BEFORE_SECONDS = 60  # minted again when less than this is left
ALGORITHM = "HS256"  # what Rasa is started with (--jwt-method HS256)
CALLER = "storefront_api"


class RasaApiCredential:
    """Mints and caches the bearer token for one secret (safe across threads)."""

    def __init__(self, secret: str, lifetime: int = TOKEN_SECONDS):
        self.secret, self.lifetime = secret, lifetime
        self._token, self._expires = "", 0.0
        self._lock = threading.Lock()

    def token(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        with self._lock:
            if self._expires - now < RENEW_BEFORE_SECONDS:
                self._token = mint(self.secret, now, self.lifetime)
                self._expires = now + self.lifetime
            return self._token

    def headers(self, now: float | None = None) -> dict[str, str]:
        """``{"Authorization": "Bearer ..."}``, or nothing when no secret is configured."""
        if not self.secret:
            return {}
        return {"Authorization": f"Bearer {self.token(now)}"}


def mint(secret: str, now: float, lifetime: int = TOKEN_SECONDS) -> str:
    """A token Rasa accepts for every conversation (role admin), valid ``lifetime`` s."""
    issued = int(now)
    return jwt.encode({"user": {"username": CALLER, "role": "admin"}, "iat": issued,
                       "exp": issued + lifetime}, secret, algorithm=ALGORITHM)


_credentials: dict[str, RasaApiCredential] = {}
_credentials_lock = threading.Lock()


def rasa_credential(secret: str) -> RasaApiCredential:
    """The process's credential for ``secret`` (one cached token per secret)."""
    with _credentials_lock:
        if secret not in _credentials:
            _credentials[secret] = RasaApiCredential(secret)
        return _credentials[secret]
