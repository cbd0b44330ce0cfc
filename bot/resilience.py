"""What a chat turn survives: a message sent twice, an action server that restarts, a
database or lock store that stops answering. Installed into Rasa by bot/rasa_server.py (the
way Aisle starts Rasa everywhere), before the server starts.

- A message is answered once. A client that did not get its answer (a Rasa replica killed
  mid-turn, a dropped connection) sends the message again with the same id
  (``aisle_message_id`` in the message's metadata: the REST channel passes the body's
  ``metadata`` as is, the web chat's socket the page's ``message_id``). Under the
  conversation's lock, if the conversation already holds a user message with that id, its
  recorded answers are sent again and nothing runs: no second turn, no action twice. A turn
  that was never saved (the replica died before) runs as new, and so does one whose answer
  included "try again in a moment" (the shopper was asked to send it again).
- A custom action whose server cannot be reached (refused, reset, 502/503/504) is called
  again, with the same request, for up to ACTION_RETRY_SECONDS (default 15): an action
  server that restarts in that time answers the turn as if nothing happened. The actions
  make their changes to the shop idempotent (bot/actions/storefront.py: the same call at
  the same point of the conversation is the same change), so a call that did reach the shop
  before the crash is not applied twice. After that time the shopper is told to try again
  in a moment, rather than getting no answer at all.
- When the tracker store (PostgreSQL) or the lock store (Redis) fails, the turn ends with
  the same "try again in a moment" instead of an error the channel swallows (Rasa's REST
  channel answers 200 with no message; the socket says nothing). Nothing of the turn was
  saved, so sending the message again runs it. Rasa's own wrapper of every tracker store
  (FailSafeTrackerStore) would instead carry on with an empty conversation and keep it in
  memory: a shopper half-way through checkout would be greeted as a stranger, and whatever
  was said during the outage lost when the database came back. Its failures are raised. A read
  that meets a connection the database dropped is made again on a new one (bot/tracker_store.py),
  so Rasa recovers by itself once the database is back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from typing import Any, Dict, List, Optional, Text

import aiohttp

from bot.logs import CONVERSATION

logger = logging.getLogger(__name__)

MESSAGE_ID_KEY = "aisle_message_id"  # also bot/channels/socketio.py
MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
RETRIED_STATUSES = frozenset({502, 503, 504})
TRY_AGAIN = "Sorry, I can't reach the shop right now. Please try again in a moment."
APOLOGY_RESPONSE = "utter_shop_unavailable"  # the domain's wording of TRY_AGAIN


def action_retry_seconds() -> float:
    raw = os.environ.get("ACTION_RETRY_SECONDS", "15")
    try:
        return max(0.0, min(float(raw), 120.0))
    except ValueError:
        raise SystemExit(f"ACTION_RETRY_SECONDS must be a number of seconds, not {raw!r}")


def apology(domain: Any) -> Text:
    """The domain's "try again in a moment" (utter_shop_unavailable), else TRY_AGAIN."""
    variants = getattr(domain, "responses", {}).get(APOLOGY_RESPONSE) or []
    text = variants[0].get("text") if variants and isinstance(variants[0], dict) else None
    return text or TRY_AGAIN


# --- a message answered once ----------------------------------------------------------------

def client_message_id(message: Any) -> Optional[Text]:
    """The id the client gave the message, when it gave a well-formed one."""
    metadata = getattr(message, "metadata", None) or {}
    value = metadata.get(MESSAGE_ID_KEY) if isinstance(metadata, dict) else None
    return value if isinstance(value, str) and MESSAGE_ID.match(value) else None


def recorded_answers(tracker: Any, message_id: Text) -> Optional[List[Dict[Text, Any]]]:
    """The bot's messages after the user message ``message_id`` (up to the next user
    message), or None when the conversation has no such user message."""
    from rasa.shared.core.events import BotUttered, UserUttered

    answers: Optional[List[Dict[Text, Any]]] = None
    for event in tracker.events:
        if isinstance(event, UserUttered):
            if answers is not None:
                break
            if event.message_id == message_id:
                answers = []
        elif answers is not None and isinstance(event, BotUttered):
            answers.append(event.message())
    return answers


def is_apology(answer: Dict[Text, Any], domain: Any) -> bool:
    """True for a recorded answer that is the "try again in a moment" apology."""
    text = answer.get("text") if isinstance(answer, dict) else None
    return text in (apology(domain), TRY_AGAIN)


def _answer_once(original):
    from bot.tracker_store import TURN

    async def handle_message(self, message):
        turn = TURN.set(object())  # under the conversation's lock, until the turn ends
        try:
            return await _once(self, message)
        finally:
            TURN.reset(turn)

    async def _once(self, message):
        message_id = client_message_id(message)
        if message_id is None:
            return await original(self, message)
        message.message_id = message_id  # the user event carries the client's id
        tracker = await self.tracker_store.retrieve(message.sender_id)
        answers = recorded_answers(tracker, message_id) if tracker is not None else None
        if answers is None:
            return await original(self, message)
        if any(is_apology(answer, self.domain) for answer in answers):
            # the turn ended in "try again in a moment" (the action server stayed away):
            # trying again is what the shopper was asked to do, so the message runs again
            logger.info("conversation %s: message %s was answered with the apology; it "
                        "runs again", message.sender_id, message_id)
            return await original(self, message)
        logger.info("conversation %s: message %s was answered already; its %d answers are "
                    "sent again", message.sender_id, message_id, len(answers))
        for answer in answers:
            await message.output_channel.send_response(message.sender_id, answer)
        return getattr(message.output_channel, "messages", None)

    handle_message._aisle = True  # type: ignore[attr-defined]
    return handle_message


# --- the action server restarting ------------------------------------------------------------

def unreachable(error: BaseException) -> bool:
    """True when an action call failed without an answer from the action server (or with
    a proxy's 502/503/504): worth the same call again."""
    for cause in (error, error.__cause__, error.__context__):
        if isinstance(cause, aiohttp.ClientConnectionError):
            return True
        # rasa.utils.endpoints.ClientResponseError: an aiohttp.ClientError with a status
        if isinstance(cause, aiohttp.ClientError) and getattr(cause, "status", None):
            return cause.status in RETRIED_STATUSES  # type: ignore[attr-defined]
    return False


def _retried_action(original):
    async def run(self, output_channel, nlg, tracker, domain):
        deadline = time.monotonic() + action_retry_seconds()
        pause = 0.2
        while True:
            try:
                return await original(self, output_channel, nlg, tracker, domain)
            except Exception as error:  # noqa: BLE001 - Rasa wraps every failure alike
                if not unreachable(error):
                    raise
                if time.monotonic() + pause > deadline:
                    return _gave_up(self.name(), tracker, domain)
                logger.warning("action %s of conversation %s: the action server did not "
                               "answer (%s); calling again in %.1f s", self.name(),
                               tracker.sender_id, error, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)

    run._aisle = True  # type: ignore[attr-defined]
    return run


def _gave_up(action: Text, tracker: Any, domain: Any) -> List[Any]:
    from rasa.shared.core.events import BotUttered
    logger.error("action %s of conversation %s: the action server stayed unreachable for "
                 "%.0f s; the shopper is asked to try again", action, tracker.sender_id,
                 action_retry_seconds())
    return [BotUttered(text=apology(domain))]


# --- the stores failing ----------------------------------------------------------------------

def store_unavailable(error: BaseException) -> bool:
    """A failure of the tracker store's database or the lock store's Redis."""
    import redis
    import sqlalchemy.exc
    from rasa.core.lock_store import LockError
    return isinstance(error, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
                              sqlalchemy.exc.TimeoutError, redis.exceptions.ConnectionError,
                              redis.exceptions.TimeoutError, LockError))


def _apologising(original):
    async def handle_message(self, message):
        CONVERSATION.set(message.sender_id)  # every line this turn logs names it
        try:
            return await original(self, message)
        except Exception as error:  # noqa: BLE001 - only the stores' failures are answered
            if not store_unavailable(error):
                raise
            logger.error("conversation %s: the turn failed, the tracker or lock store is "
                         "unavailable (%s: %s); the shopper is asked to try again",
                         message.sender_id, type(error).__name__, str(error).splitlines()[0]
                         if str(error) else "")
            await message.output_channel.send_response(
                message.sender_id, {"text": apology(self.domain)})
            return getattr(message.output_channel, "messages", None)

    handle_message._aisle = True  # type: ignore[attr-defined]
    return handle_message


def _raise(error: Exception) -> None:
    raise error


def _failing_loudly(original):
    def create_tracker_store(store, domain):
        failsafe = original(store, domain)
        # FailSafeTrackerStore calls this on every failure of the real store, before it
        # falls back to an empty tracker in memory: raising keeps the failure the turn's.
        failsafe._on_tracker_store_error = _raise
        return failsafe

    create_tracker_store._aisle = True  # type: ignore[attr-defined]
    return staticmethod(create_tracker_store)


def install() -> None:
    """Wrap Rasa's message handling, remote actions and tracker store (once)."""
    from rasa.core.actions.action import RemoteAction
    from rasa.core.agent import Agent
    from rasa.core.processor import MessageProcessor

    if getattr(Agent.handle_message, "_aisle", False):
        return
    Agent.handle_message = _apologising(Agent.handle_message)
    Agent._create_tracker_store = _failing_loudly(Agent._create_tracker_store)
    MessageProcessor.handle_message = _answer_once(MessageProcessor.handle_message)
    RemoteAction.run = _retried_action(RemoteAction.run)
