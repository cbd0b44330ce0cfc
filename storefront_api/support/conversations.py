"""The handoff's side of Rasa's HTTP API (Rasa 3.6, server started with --enable-api and
--jwt-secret): every call carries storefront_api's short-lived JWT (chat/rasa_api.py).

An agent's reply and the hand-back are sent inline, while the agent waits, with a short
timeout: the agent must know at once whether the shopper got the message, and a reply
retried by the outbox minutes later, after newer ones, would read out of order. Chat notices
about orders (payment received, shipped) go through the outbox instead, because nobody is
waiting for them.

While a conversation is paused Rasa still records what the shopper writes but predicts
nothing. To say something:
- reply: one call appends the agent's message as a ``bot`` event with
  ``execute_side_effects=true&output_channel=latest``: Rasa stores it and sends it on the
  shopper's channel (socket or messaging app) as it sends any bot message. No action server
  round trip (which carried the whole tracker) and one lock and save instead of two: an
  agent's reply is the one message a shopper waits for;
- hand back: append ``{"event": "resume"}``, then execute ``action_handoff_ended``;
- resolve: the same resume, then ``action_ask_csat``: the bot is back and asks the shopper
  for a 1-5 rating (buttons sending ``/rate_support{"csat": N}``).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import aiohttp

from ..chat.rasa_api import rasa_credential

RASA_TIMEOUT = aiohttp.ClientTimeout(total=5, connect=2)
# Channels whose output renders the web chat's custom payloads (bot/actions/common.py's
# RICH_CHANNELS; tests/support/test_agent_reply_channels.py keeps the two the same): the
# message goes as ``{"data": {"text", "agent"}}`` and shows as the agent's. Elsewhere (SMS,
# Rasa's REST channel) as the text "Name: message".
RICH_CHANNELS = frozenset({"socketio", "telegram", "whatsapp", "facebook", "slack"})
# The mark on that text's event (metadata ``utter_action``) by which the inbox's transcript
# knows it is the agent's (inbox/tracker.py RELAY_UTTERANCE). No longer a response of the
# domain: only a name.
AGENT_UTTERANCE = "utter_agent_message"
HANDED_BACK_ACTION = "action_handoff_ended"
RESOLVED_ACTION = "action_ask_csat"


class RasaUnavailable(Exception):
    """Rasa did not answer, or answered with an error; ``status`` is the HTTP answer for the
    agent: 503 when it could not be reached, 502 when it answered badly."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


class RasaConversation:
    def __init__(self, rasa_url: str, conversation_id: str, jwt_secret: str = ""):
        self.base = (f"{rasa_url.rstrip('/')}/conversations/"
                     f"{quote(conversation_id, safe='')}")  # an id can never change the path
        self.credential = rasa_credential(jwt_secret)  # RASA_JWT_SECRET

    async def _call(self, method: str, path: str, *, params=None, body=None) -> Any:
        try:
            async with aiohttp.ClientSession(timeout=RASA_TIMEOUT) as http:
                async with http.request(method, self.base + path, params=params, json=body,
                                        headers=self.credential.headers()) as response:
                    if response.status >= 300:
                        text = (await response.text())[:200]
                        raise RasaUnavailable(
                            502, f"Rasa answered {response.status} to {method} {path}: {text}")
                    try:
                        return await response.json(content_type=None)
                    except ValueError:
                        raise RasaUnavailable(
                            502, f"Rasa answered {method} {path} with something not JSON."
                        ) from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise RasaUnavailable(503, f"Rasa could not be reached ({type(exc).__name__}"
                                       f"{': ' + str(exc) if str(exc) else ''}).") from None

    # include_events=NONE: Rasa would otherwise send the whole conversation back with every
    # call (the longer the conversation, the slower an agent's reply).
    async def append_events(self, events: list[dict[str, Any]]) -> None:
        await self._call("POST", "/tracker/events", params={"include_events": "NONE"},
                         body=events)

    async def execute(self, action: str) -> None:
        await self._call("POST", "/execute",
                         params={"output_channel": "latest", "include_events": "NONE"},
                         body={"name": action})

    async def deliver_agent_message(self, text: str, agent: str | None = None,
                                    channel: str | None = None) -> None:
        """The message as a bot message of the agent's (name shown with it), sent at once on
        the shopper's latest channel; ``channel`` is the handoff's, which says how to draw
        it. The slot ``agent_name`` keeps who is talking for the bot's later turns."""
        now, agent = _now(), agent or "Shop team"
        await self._call("POST", "/tracker/events",
                         params={"include_events": "NONE", "execute_side_effects": "true",
                                 "output_channel": "latest"},
                         body=[{"event": "slot", "name": "agent_name", "value": agent,
                                "timestamp": now},
                               agent_utterance(text, agent, channel, now)])

    async def hand_back(self) -> None:
        await self.append_events([{"event": "resume", "timestamp": _now()}])
        await self.execute(HANDED_BACK_ACTION)

    async def resolve(self) -> None:
        await self.append_events([{"event": "resume", "timestamp": _now()}])
        await self.execute(RESOLVED_ACTION)

    async def shopper_messages(self, since: datetime,
                               until: datetime | None) -> list[dict[str, Any]]:
        """What the shopper wrote between ``since`` and ``until`` (naive UTC), from the
        tracker: the bot is paused then, so these are the messages only an agent answers."""
        tracker = await self._call("GET", "/tracker")
        start = _timestamp(since)
        end = _timestamp(until) if until else float("inf")
        return [{"sender": "user", "text": event.get("text") or "",
                 "ts": _iso(event["timestamp"])}
                for event in (tracker or {}).get("events") or []
                if event.get("event") == "user"
                and isinstance(event.get("timestamp"), (int, float))
                and start < event["timestamp"] <= end]


def _now() -> float:
    return datetime.now(timezone.utc).timestamp()


def _timestamp(moment: datetime) -> float:
    return moment.replace(tzinfo=timezone.utc).timestamp()


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, timezone.utc).replace(tzinfo=None)
    return moment.isoformat() + "Z"


def agent_utterance(text: str, agent: str, channel: str | None, now: float) -> dict[str, Any]:
    """The ``bot`` event of an agent's reply: on the web chat and the messaging apps with
    Aisle's renderers, a custom payload drawn as the agent's message; elsewhere plain text
    "Name: message", marked with ``AGENT_UTTERANCE`` so the transcript knows it is the
    agent's. The agent's text goes as it is: no template fills it, every renderer draws it
    as text (the web chat builds DOM nodes, never HTML)."""
    if channel in RICH_CHANNELS:
        return {"event": "bot", "text": None, "timestamp": now,
                "data": {"custom": {"data": {"text": text, "agent": agent}}}}
    return {"event": "bot", "text": f"{agent}: {text}", "timestamp": now,
            "metadata": {"utter_action": AGENT_UTTERANCE}}
