"""A stand-in for the three routes of Rasa 3.6's HTTP API that the handoff uses, speaking
its wire format, recording what it receives.

- ``POST /conversations/{id}/tracker/events``: a JSON event or list of events, each an
  object with ``event`` (``slot`` needs ``name``); answers the tracker state; 400 otherwise.
- ``POST /conversations/{id}/execute?output_channel=...``: ``{"name": action}``; 404 for an
  unknown conversation (Rasa's ``ensure_conversation_exists``), 400 without a name.
- ``GET /conversations/{id}/tracker``: the tracker state with its events.

That the recorded bodies are what the real Rasa accepts is checked by
``test_handoffs.py::test_recorded_bodies_are_valid_for_rasa_3_6``, which parses them with
Rasa's own event schema and classes in .venv-bot. The real server is driven end to end by
the lead's suite.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

KNOWN_EVENTS = {"user", "bot", "slot", "action", "pause", "resume", "restart", "reset_slots",
                "followup", "session_started", "active_loop", "action_execution_rejected"}


@dataclass
class Conversation:
    events: list[dict[str, Any]] = field(default_factory=list)
    slots: dict[str, Any] = field(default_factory=dict)
    paused: bool = False

    def state(self, sender_id: str) -> dict[str, Any]:
        return {"sender_id": sender_id, "slots": self.slots, "paused": self.paused,
                "events": self.events, "latest_message": {}, "latest_event_time": time.time(),
                "latest_input_channel": "socketio", "active_loop": {}}


class RasaRecorder:
    def __init__(self) -> None:
        # each: method, path, raw_path, conversation_id, query, body
        self.calls: list[dict[str, Any]] = []
        self.conversations: dict[str, Conversation] = {}
        self.fail_with: int | None = None  # answer every call with this status
        # awaited with (conversation id, action) while an /execute is running, as the real
        # Rasa's action would be: what a shopper does while the bot is still asking
        self.during_execute = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/conversations/{id:.+}/tracker/events", self._append_events)
        app.router.add_post("/conversations/{id:.+}/execute", self._execute)
        app.router.add_get("/conversations/{id:.+}/tracker", self._tracker)
        return app

    # what a shopper did in the chat, as Rasa would have recorded it
    def shopper_wrote(self, conversation_id: str, text: str, ts: float | None = None) -> None:
        self._conversation(conversation_id).events.append(
            {"event": "user", "text": text, "timestamp": ts or time.time(),
             "input_channel": "socketio", "parse_data": {"intent": {"name": None}}})

    def _conversation(self, conversation_id: str) -> Conversation:
        return self.conversations.setdefault(conversation_id, Conversation())

    def calls_to(self, path_end: str) -> list[dict[str, Any]]:
        return [call for call in self.calls if call["path"].endswith(path_end)]

    async def _record(self, request: web.Request) -> Any:
        body = await request.json() if request.can_read_body else None
        self.calls.append({"method": request.method, "path": request.path,
                           "raw_path": request.rel_url.raw_path,
                           "conversation_id": request.match_info["id"],
                           "query": dict(request.query), "body": body})
        if self.fail_with:
            return _error(self.fail_with, "failing on purpose")
        return body

    async def _append_events(self, request: web.Request) -> web.Response:
        result = await self._record(request)
        if isinstance(result, web.Response):
            return result
        events = result if isinstance(result, list) else [result]
        if not events or not all(_valid_event(event) for event in events):
            return _error(400, "Couldn't extract a proper event from the request body.")
        conversation = self._conversation(request.match_info["id"])
        for event in events:
            conversation.events.append(event)
            if event["event"] == "slot":
                conversation.slots[event["name"]] = event.get("value")
            conversation.paused = {"pause": True, "resume": False}.get(
                event["event"], conversation.paused)
        return web.json_response(conversation.state(request.match_info["id"]))

    async def _execute(self, request: web.Request) -> web.Response:
        result = await self._record(request)
        if isinstance(result, web.Response):
            return result
        if request.match_info["id"] not in self.conversations:
            return _error(404, "Conversation ID not found.")
        if not isinstance(result, dict) or not result.get("name"):
            return _error(400, "Name of the action not provided in request body.")
        conversation = self._conversation(request.match_info["id"])
        conversation.events.append({"event": "action", "name": result["name"],
                                    "timestamp": time.time()})
        if self.during_execute is not None:
            await self.during_execute(request.match_info["id"], result["name"])
        return web.json_response({"tracker": conversation.state(request.match_info["id"])})

    async def _tracker(self, request: web.Request) -> web.Response:
        result = await self._record(request)
        if isinstance(result, web.Response):
            return result
        conversation = self._conversation(request.match_info["id"])
        return web.json_response(conversation.state(request.match_info["id"]))


def _valid_event(event: Any) -> bool:
    if not isinstance(event, dict) or event.get("event") not in KNOWN_EVENTS:
        return False
    return event["event"] != "slot" or isinstance(event.get("name"), str)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"version": "3.6.21", "status": "failure", "message": message,
                              "reason": {404: "NotFound", 400: "BadRequest"}.get(
                                  status, "ConversationError"),
                              "code": status}, status=status)
