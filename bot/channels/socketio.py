"""The web chat's socket.io channel: Rasa's own, except that the conversation comes from a
token storefront_api signed, never from what the browser says.

Rasa 3.6's ``SocketIOInput`` can check a token when the socket connects, but then lets the
client name any ``session_id`` in ``session_request`` and ``user_uttered``: a conversation id
alone would read and steer that conversation. Here:

- ``connect`` needs ``{"token": JWT}`` in the Socket.IO connect packet: signed with
  ``jwt_key`` (CHAT_JWT_SECRET, HS256), audience ``aisle-chat``, issuer
  ``aisle-storefront``, not expired (storefront_api's ``POST /api/chat/sessions`` issues it,
  storefront_api/chat/tokens.py). Its ``sub`` is the conversation. Without a valid token the
  connection is refused.
- The socket joins the room of that conversation (as Rasa's ``session_persistence`` does:
  the shop's pushes and the agent's replies reach every open tab of it), and
  ``session_request`` confirms that conversation only.
- ``user_uttered`` reaches Rasa as that conversation, its metadata carrying the token's
  ``cli`` (an opaque key of the browser that asked for the token) as ``aisle_client`` and
  the page's ``message_id``, when it sends one, as ``aisle_message_id`` (a message sent
  again with the same id is answered once: bot/message_retries.py). A ``session_id`` naming another one is
  refused, logged and the socket disconnected: nothing reaches that conversation's tracker.
  Once the token has expired the socket is disconnected; the page renews it and reconnects.
- ``allowed_origins`` (CHAT_ALLOWED_ORIGINS): the pages that may open the socket, e.g. the
  shop's own origin; empty means the socket's own origin only (python-engineio's default).
  A script that sends no Origin is not a browser page and still needs the token.

- With several Rasa replicas, each holds its own sockets, while a push (a payment
  confirmation, an agent's reply, a cart reminder: storefront_api's ``trigger_intent`` or
  ``execute``) reaches whichever replica the proxy picked. ``message_queue``
  (CHAT_MESSAGE_QUEUE_URL, a Redis URL) makes every replica's socket.io server share one
  python-socketio message queue: each emit to a conversation's room is published there and
  every replica sends it to the sockets of that room it holds. Without it a replica reaches
  only its own sockets (enough with one Rasa process).
- The queue carries JSON (``JSONRedisManager``), never pickle: python-socketio's own Redis
  manager unpickles whatever arrives on the channel, so anyone able to publish on the Redis
  server would run code in every Rasa replica.

The channel's name stays ``socketio``: trackers record it as the input channel, the actions
render cards and buttons for it, and Rasa's ``output_channel=latest`` finds it by that name.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
import time
from typing import Any, Awaitable, Callable, Dict, Optional, Text

import jwt
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from redis.exceptions import RedisError
from socketio import AsyncRedisManager, AsyncServer
from socketio.exceptions import ConnectionRefusedError

logger = logging.getLogger(__name__)

AUDIENCE = "aisle-chat"  # the claims storefront_api/chat/tokens.py signs
ISSUER = "aisle-storefront"
ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})  # a shared secret, never "none"
CONVERSATION = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
MAX_TOKEN_LENGTH = 2048
MAX_MESSAGE_LENGTH = 5000  # the widget allows 1000 characters
REFUSED = "invalid or expired chat token"  # the connect error the page sees
CLIENT_KEY = "aisle_client"  # the message metadata the actions read (bot/actions/common.py)
CLIENT = re.compile(r"^c_[0-9a-f]{32}$")  # storefront_api/chat/tokens.py client_of()
MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")  # a client's id for one message (retries)
MESSAGE_ID_KEY = "aisle_message_id"  # bot/message_retries.py reads it from the metadata
CHANNEL_KEY = "aisle_channel"  # the channel a shopper wrote on (bot/actions/session.py)
QUEUE_CHANNEL = "aisle-chat"  # the Redis pub/sub channel the replicas share


class JSONRedisManager(AsyncRedisManager):
    """python-socketio's Redis manager, its messages JSON instead of pickle.

    python-socketio 5.8.0 pickles what it publishes and unpickles what it receives; a
    message that is not JSON (a pickle, garbage) is logged and dropped here, never loaded."""

    name = "aisle-redis"

    async def _publish(self, data: Any) -> Any:
        payload = json.dumps(data)
        for attempt in range(2):  # as the parent: once more on a new connection
            try:
                if attempt:
                    self._redis_connect()
                return await self.redis.publish(self.channel, payload)
            except (RedisError, OSError) as error:
                logger.error("socket queue: cannot publish to Redis (%s)%s",
                             type(error).__name__, "" if attempt else ", retrying")
        return None

    async def _listen(self):  # type: ignore[override]
        async for message in super()._listen():
            try:
                data = json.loads(message)
            except (TypeError, ValueError):
                logger.warning("socket queue: dropped a message that is not JSON (%d bytes)",
                               len(message) if isinstance(message, (bytes, str)) else 0)
                continue
            if isinstance(data, dict):
                yield data


def queue_url(url: Optional[str]) -> Optional[str]:
    """A message queue's URL checked (redis:// or rediss://); None for no queue."""
    if not url:
        return None
    if not url.startswith(("redis://", "rediss://")):
        raise ValueError("message_queue (CHAT_MESSAGE_QUEUE_URL) must be a redis:// or "
                         "rediss:// URL")
    return url


def shared_queue(url: Optional[str]) -> Optional[JSONRedisManager]:
    """The replicas' shared queue at ``url``, or None (each replica on its own)."""
    if not url:
        return None
    return JSONRedisManager(url, channel=QUEUE_CHANNEL,
                            redis_options={"health_check_interval": 30,
                                           "socket_keepalive": True})


def _origins(raw: Any) -> list[str]:
    """``"https://shop.example.com http://127.0.0.1:8080"`` (spaces or commas) as a list."""
    if isinstance(raw, (list, tuple)):
        raw = " ".join(str(item) for item in raw)
    return [origin.rstrip("/") for origin in re.split(r"[\s,]+", str(raw or "")) if origin]


class AisleSocketIOInput(SocketIOInput):
    """Rasa's socket.io channel, each socket held to the conversation its token names."""

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        return cls(
            credentials.get("user_message_evt", "user_uttered"),
            credentials.get("bot_message_evt", "bot_uttered"),
            credentials.get("namespace"),
            credentials.get("session_persistence", True),
            credentials.get("socketio_path", "/socket.io"),
            credentials.get("jwt_key"),
            credentials.get("jwt_method", "HS256"),
            credentials.get("metadata_key", "metadata"),
            allowed_origins=_origins(credentials.get("allowed_origins")),
            message_queue=(credentials.get("message_queue")
                           or os.environ.get("CHAT_MESSAGE_QUEUE_URL") or None),
        )

    def __init__(self, user_message_evt: Text = "user_uttered",
                 bot_message_evt: Text = "bot_uttered", namespace: Optional[Text] = None,
                 session_persistence: bool = True, socketio_path: Optional[Text] = "/socket.io",
                 jwt_key: Optional[Text] = None, jwt_method: Optional[Text] = "HS256",
                 metadata_key: Optional[Text] = "metadata", *,
                 allowed_origins: Optional[list[str]] = None,
                 message_queue: Optional[str] = None):
        if not jwt_key:
            raise ValueError("The web chat's socketio channel needs jwt_key (CHAT_JWT_SECRET, "
                             "the secret storefront_api signs chat tokens with).")
        if jwt_method not in ALGORITHMS:
            raise ValueError(f"jwt_method must be one of {sorted(ALGORITHMS)}, "
                             f"not {jwt_method!r}")
        super().__init__(user_message_evt, bot_message_evt, namespace, session_persistence,
                         socketio_path, jwt_key, jwt_method, metadata_key)
        self.allowed_origins = list(allowed_origins or [])
        self.message_queue = queue_url(message_queue)  # a bad URL fails now, not at a push

    # --- who is on the socket ---------------------------------------------------------------

    def conversation_of(self, auth: Any) -> tuple[str, float, str | None] | None:
        """(conversation id, expiry, client) of a valid token in the connect packet, else
        None. The client is the opaque key storefront_api put in the token for the browser
        that asked for it (``cli``), so that the shop can count every conversation one
        browser starts as one shopper."""
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
            return None
        try:
            claims = jwt.decode(token, self.jwt_key, algorithms=[self.jwt_algorithm],
                                audience=AUDIENCE, issuer=ISSUER,
                                options={"require": ["exp", "sub", "aud", "iss"]})
        except jwt.PyJWTError as error:
            logger.info("chat token refused: %s", type(error).__name__)
            return None
        conversation = claims.get("sub")
        if not isinstance(conversation, str) or not CONVERSATION.match(conversation):
            return None
        client = claims.get("cli")
        client = client if isinstance(client, str) and CLIENT.match(client) else None
        return conversation, float(claims["exp"]), client

    def _cors_allowed_origins(self) -> Any:
        if "*" in self.allowed_origins:
            return "*"
        return self.allowed_origins or None  # None: python-engineio's same-origin default

    # --- the socket.io server ---------------------------------------------------------------

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=self._cors_allowed_origins(),
                          client_manager=shared_queue(self.message_queue))
        socketio_webhook = SocketBlueprint(sio, self.socketio_path, "socketio_webhook",
                                           __name__)
        self.sio = sio  # get_output_channel: pushes and output_channel=latest
        namespace = self.namespace

        async def conversation(sid: Text) -> Optional[Text]:
            """The socket's conversation, or None after disconnecting a socket whose token
            has expired."""
            session = await sio.get_session(sid, namespace=namespace)
            if not session.get("conversation_id"):
                return None
            if time.time() >= session["expires"]:
                logger.info("socket %s: chat token expired, disconnecting", sid)
                await sio.disconnect(sid, namespace=namespace)
                return None
            return session["conversation_id"]

        async def refuse(sid: Text, own: Text, data: Any, event: Text) -> None:
            asked = data.get("session_id") if isinstance(data, dict) else data
            logger.warning("socket %s of conversation %s asked for conversation %.64r in %s: "
                           "refused and disconnected", sid, own, asked, event)
            await sio.disconnect(sid, namespace=namespace)

        def names_another(data: Any, own: Text) -> bool:
            asked = data.get("session_id") if isinstance(data, dict) else None
            return asked not in (None, "", own)

        @socketio_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=namespace)
        async def connect(sid: Text, environ: Dict, auth: Optional[Dict] = None) -> bool:
            found = self.conversation_of(auth)
            if found is None:
                logger.warning("socket %s refused: no valid chat token (from %s)", sid,
                               environ.get("HTTP_X_FORWARDED_FOR") or environ.get("REMOTE_ADDR"))
                raise ConnectionRefusedError(REFUSED)
            conversation_id, expires, client = found
            await sio.save_session(sid, {"conversation_id": conversation_id,
                                         "expires": expires, "client": client},
                                   namespace=namespace)
            entered = sio.enter_room(sid, conversation_id, namespace=namespace)
            if inspect.isawaitable(entered):  # a coroutine from python-socketio 5.10 on
                await entered
            logger.debug("socket %s connected to conversation %s", sid, conversation_id)
            return True

        @sio.on("disconnect", namespace=namespace)
        async def disconnect(sid: Text) -> None:
            logger.debug("socket %s disconnected", sid)

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: Text, data: Optional[Dict] = None) -> None:
            own = await conversation(sid)
            if own is None:
                return
            if names_another(data, own):
                await refuse(sid, own, data, "session_request")
                return
            await sio.emit("session_confirm", own, room=sid, namespace=namespace)

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: Text, data: Any) -> None:
            own = await conversation(sid)
            if own is None or not isinstance(data, dict):
                return
            if names_another(data, own):
                await refuse(sid, own, data, self.user_message_evt)
                return
            text = data.get("message", "")
            if not isinstance(text, str) or len(text) > MAX_MESSAGE_LENGTH:
                logger.warning("socket %s: message of conversation %s is not text or longer "
                               "than %d characters: dropped", sid, own, MAX_MESSAGE_LENGTH)
                return
            metadata = _metadata(data.get(self.metadata_key))
            # the token's client, never the page's say: the actions pass it to the shop
            metadata.pop(CLIENT_KEY, None)
            session = await sio.get_session(sid, namespace=namespace)
            if session.get("client"):
                metadata[CLIENT_KEY] = session["client"]
            # the page's id for this message: a resend of it is answered once (retries)
            metadata.pop(MESSAGE_ID_KEY, None)
            if isinstance(data.get("message_id"), str) and MESSAGE_ID.match(data["message_id"]):
                metadata[MESSAGE_ID_KEY] = data["message_id"]
            # which channel: Rasa starts a new session before it logs the message, so the
            # session start reads it here (a page cannot say otherwise)
            metadata[CHANNEL_KEY] = self.name()
            await on_new_message(UserMessage(
                text, SocketIOOutput(sio, self.bot_message_evt), own,
                input_channel=self.name(), metadata=metadata))

        return socketio_webhook


def _metadata(raw: Any) -> Dict[Text, Any]:
    """The page's metadata for the message, if it is a JSON object (as Rasa accepts it)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    return raw if isinstance(raw, dict) else {}
