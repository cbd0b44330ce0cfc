"""What every messaging channel of Aisle's shares (Telegram, WhatsApp, Messenger, Slack,
Twilio): checking the platform's signature, answering the platform at once and handling the
message after, answering a delivery the platform sends again only once, and sending through
the platform's HTTP API.

- Signatures are compared in constant time (``hmac.compare_digest`` on bytes). A request
  that fails the check is answered 403 and nothing of it reaches Rasa.
- ``Deliveries`` remembers each platform message id for a day: a retried or replayed
  delivery is answered 200 (so the platform stops retrying) and dropped. With
  ``CHANNEL_DELIVERIES_URL`` (or CHAT_MESSAGE_QUEUE_URL), a redis:// URL, the Rasa replicas
  share what they have seen (``SET NX EX``); without it each process remembers on its own.
  The same store keeps, per conversation, when the shopper last wrote (WhatsApp's 24-hour
  window) and the long button payloads a platform cannot carry itself.
- ``Conversations`` runs each conversation's messages one after the other in the background:
  the webhook answers at once (the platforms retry a slow answer), and a shopper's two quick
  messages still reach Rasa in the order they were sent.
- ``PlatformAPI`` is one aiohttp session per process, opened in the running loop on first
  use (never at import, never in another loop), every call bounded by a timeout; an answer
  that is not a success raises ``SendFailed``, so a push (``trigger_intent``) answers 500 and
  storefront_api's outbox tries again.

The webhook's routes and answers (health, 404, 403, 400, Meta's handshake) are webhook.py's.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import time
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Dict, Optional

import aiohttp

logger = logging.getLogger(__name__)

DELIVERY_MEMORY = 24 * 3600  # seconds a platform message id is remembered
SEND_TIMEOUT = 10.0  # seconds for one call to a platform's API
MAX_BODY = 1024 * 1024  # a webhook body larger than this is refused before parsing
LOCAL_ENTRIES = 100_000  # the in-memory store's bound
# the answer to a message the bot cannot read (a photo, a sticker, a voice note alone)
TEXT_ONLY = "I can only read text for now: please type what you are looking for."


class SendFailed(RuntimeError):
    """The platform did not accept a message (its status and answer in the text)."""


# --- signatures -----------------------------------------------------------------------------

def same(expected: str | bytes, given: str | bytes | None) -> bool:
    """Constant-time equality of two secrets or signatures."""
    if given is None:
        return False
    expected = expected.encode() if isinstance(expected, str) else expected
    given = given.encode() if isinstance(given, str) else given
    return hmac.compare_digest(expected, given)


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def meta_signature_ok(app_secret: str, body: bytes, header: Optional[str]) -> bool:
    """Meta's X-Hub-Signature-256: ``sha256=`` and the HMAC-SHA256 of the raw body."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    return same("sha256=" + hmac_sha256_hex(app_secret, body), header)


def twilio_signature(auth_token: str, url: str, params: Dict[str, str]) -> str:
    """Twilio's X-Twilio-Signature: base64 HMAC-SHA1 of the URL followed by each POST
    parameter's name and value, sorted by name."""
    signed = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def slack_signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    """Slack's X-Slack-Signature: ``v0=`` and the HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


# --- what has been seen -----------------------------------------------------------------------

class Deliveries:
    """Platform message ids already handled, and small per-conversation notes, shared by the
    replicas through Redis when ``url`` is given."""

    def __init__(self, url: Optional[str] = None, prefix: str = "aisle:channel"):
        self.url = url
        self.prefix = prefix
        self._redis = None
        self._local: "OrderedDict[str, tuple[float, str]]" = OrderedDict()

    @classmethod
    def from_environment(cls, channel: str) -> "Deliveries":
        url = os.environ.get("CHANNEL_DELIVERIES_URL") or os.environ.get(
            "CHAT_MESSAGE_QUEUE_URL") or None
        if url and not url.startswith(("redis://", "rediss://")):
            raise ValueError("CHANNEL_DELIVERIES_URL must be a redis:// or rediss:// URL")
        return cls(url, prefix=f"aisle:channel:{channel}")

    def _client(self):
        if self._redis is None:
            import redis.asyncio as aioredis
            self._redis = aioredis.from_url(self.url, socket_timeout=5,
                                            socket_connect_timeout=5)
        return self._redis

    def _local_get(self, key: str) -> Optional[str]:
        found = self._local.get(key)
        if found is None:
            return None
        if found[0] < time.monotonic():
            del self._local[key]
            return None
        return found[1]

    def _local_set(self, key: str, value: str, ttl: float) -> None:
        self._local[key] = (time.monotonic() + ttl, value)
        self._local.move_to_end(key)
        while len(self._local) > LOCAL_ENTRIES:
            self._local.popitem(last=False)

    async def first_time(self, message_id: str, ttl: float = DELIVERY_MEMORY) -> bool:
        """True the first time ``message_id`` is seen (and remembers it), False after."""
        key = f"{self.prefix}:seen:{message_id}"
        if self.url:
            return bool(await self._client().set(key, "1", nx=True, ex=int(ttl)))
        if self._local_get(key) is not None:
            return False
        self._local_set(key, "1", ttl)
        return True

    async def put(self, name: str, value: str, ttl: float) -> None:
        key = f"{self.prefix}:{name}"
        if self.url:
            await self._client().set(key, value, ex=max(1, int(ttl)))
        else:
            self._local_set(key, value, ttl)

    async def get(self, name: str) -> Optional[str]:
        key = f"{self.prefix}:{name}"
        if self.url:
            value = await self._client().get(key)
            return value.decode() if isinstance(value, bytes) else value
        return self._local_get(key)


async def short_payload(deliveries: Deliveries, payload: str, limit: int) -> str:
    """``payload`` if it fits the platform's ``limit`` (bytes), else a short key the store
    maps back to it for 30 days (``long_payload``)."""
    if len(payload.encode()) <= limit:
        return payload
    key = "~" + hashlib.sha256(payload.encode()).hexdigest()[:24]
    await deliveries.put(f"payload:{key}", payload, 30 * 24 * 3600)
    return key


async def long_payload(deliveries: Deliveries, value: str) -> Optional[str]:
    """The payload a button carried: itself, or the one a ``short_payload`` key stands for
    (None for a key that is unknown or expired)."""
    if value.startswith("~") and len(value) == 25:
        return await deliveries.get(f"payload:{value}")
    return value


# --- handling in the background ----------------------------------------------------------------

class Conversations:
    """Each conversation's messages handled in order, off the webhook's request."""

    def __init__(self) -> None:
        self._last: Dict[str, asyncio.Task] = {}

    def handle(self, sender: str, work: Callable[[], Awaitable[Any]]) -> asyncio.Task:
        before = self._last.get(sender)

        async def run() -> None:
            if before is not None and not before.done():
                try:
                    await asyncio.shield(before)
                except BaseException:  # noqa: BLE001 - its own failure is logged by it
                    pass
            try:
                await work()
            except Exception:  # noqa: BLE001 - the platform was answered already
                logger.exception("channel: handling a message of %s failed", sender)
            finally:
                if self._last.get(sender) is task:
                    del self._last[sender]

        task = asyncio.get_running_loop().create_task(run())
        self._last[sender] = task
        return task

    async def drain(self) -> None:
        """Wait for every message being handled (tests, shutdown)."""
        while self._last:
            await asyncio.gather(*list(self._last.values()), return_exceptions=True)


# --- the platform's API -------------------------------------------------------------------------

class PlatformAPI:
    """JSON calls to one platform's API with a timeout; ``SendFailed`` unless it succeeded."""

    def __init__(self, base_url: str, headers: Optional[Dict[str, str]] = None,
                 timeout: float = SEND_TIMEOUT):
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout = timeout
        self._session: Optional[aiohttp.ClientSession] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    def _http(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout), headers=self.headers)
            self._loop = loop
        return self._session

    async def call(self, method: str, path: str, *, json_body: Any = None,
                   form: Optional[Dict[str, str]] = None,
                   headers: Optional[Dict[str, str]] = None,
                   auth: Optional[aiohttp.BasicAuth] = None) -> Any:
        url = f"{self.base_url}/{path.lstrip('/')}"
        try:
            async with self._http().request(method, url, json=json_body, data=form,
                                            headers=headers, auth=auth) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise SendFailed(f"{method} {path}: {type(error).__name__} {error}") from error
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            answer = {"raw": text[:200]}
        if not 200 <= status < 300:
            raise SendFailed(f"{method} {path} answered {status}: {text[:300]}")
        return answer

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def setting(credentials: Optional[Dict[str, Any]], key: str, variable: str,
            default: Optional[str] = None) -> Optional[str]:
    """A channel setting from credentials.yml, else from the environment variable."""
    value = (credentials or {}).get(key)
    if value in (None, ""):
        value = os.environ.get(variable, "")
    value = str(value).strip() if value is not None else ""
    return value or default


def json_body(body: Optional[bytes]) -> Optional[Dict[str, Any]]:
    """A webhook's JSON object, or None (too large, not JSON, not an object)."""
    if not body or len(body) > MAX_BODY:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
