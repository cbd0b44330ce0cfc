"""The body of Rasa's calls to the action server, made from each event's JSON, kept.

Rasa 3.6 sends the action server, for every custom action, the conversation's tracker with
every event of its session: each event made into a dict (``Event.as_dict``) and the whole
encoded again (``json.dumps``) at every call. A shopper's message carries its parse data
(the intent ranking, the answer and ranking of each retrieval intent), about 5 KB of JSON;
60 turns into a conversation a call is about 430 KB, most of it floats, encoded again for
each custom action of each turn.

Here an event is encoded once, the first time a call sends it, and its JSON is kept on the
event object (the conversation's tracker, kept by bot/tracker_store.py between turns, and
the processor's copy of it for the action share the event objects). A call's body is the
JSON of the rest of the request with the events' kept JSON put in: the same content as
Rasa's (only the order of the tracker's keys differs: ``events`` comes last). This holds
because the tracker's state is replayed from its events and Rasa changes an event on a
tracker in three ways only, all checked before a kept JSON is used: logging it again sets a
new timestamp, a tracker with a model id replaces its metadata with a copy that names it (a
policy's events are applied to the action's copy of the tracker, then logged), and an
``EntitiesAdded`` (TED's end-to-end predictions) appends to the latest user message's
entities. bot/tests/test_action_call_json.py checks every call's body against Rasa's in
real conversations, and every event against its JSON at the end.

``install()`` (bot/rasa_server.py, with bot/http_sessions.py's kept sessions, which encode
request bodies with ``dumps`` below) makes ``RemoteAction._action_call_format`` return an
``ActionCall``: the dict Rasa built, which also holds the tracker's event objects. Anything
else, or a call whose events no longer match its dict, is encoded by ``json.dumps`` as
before. ``AISLE_ACTION_CALL_JSON=rasa`` keeps Rasa's encoding.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from bot.choices import chosen, rasas_own, replace

_KEPT = "_aisle_json"  # the attribute an event's JSON is kept under
enabled = True  # bench/rasa_turn_cpu.py switches it between rounds


class ActionCall(dict):
    """The request body Rasa built for a custom action, with the tracker's events."""

    __slots__ = ("events",)

    def __init__(self, body: Dict[str, Any], events: Optional[List[Any]]) -> None:
        super().__init__(body)
        self.events = events


def _entity_count(event: Any) -> int:
    entities = event.__dict__.get("entities")
    return len(entities) if isinstance(entities, list) else -1


def event_json(event: Any) -> str:
    """The event's JSON (of ``as_dict``), made on first use and kept on the event, with what
    Rasa may still change on an event it has logged: its timestamp and its metadata (a new
    dict with the model's id, when it logs a policy's event again) and, for a user message,
    the number of its entities (an ``EntitiesAdded`` appends to them)."""
    kept = event.__dict__.get(_KEPT)
    if kept is None or kept[0] is not event.metadata or kept[1] != event.timestamp \
            or kept[2] != _entity_count(event):
        kept = (event.metadata, event.timestamp, _entity_count(event),
                json.dumps(event.as_dict()))
        event.__dict__[_KEPT] = kept
    return kept[3]


def _body(call: ActionCall) -> Optional[str]:
    tracker = call.get("tracker")
    events = call.events
    if not isinstance(tracker, dict) or events is None:
        return None
    sent = tracker.get("events")
    if not isinstance(sent, list) or len(sent) != len(events):
        return None  # changed since Rasa built it (a plugin's hook): encode what is there
    rest = {key: value for key, value in tracker.items() if key != "events"}
    head = {key: value for key, value in call.items() if key != "tracker"}
    events_json = '"events": [' + ", ".join(event_json(e) for e in events) + "]"
    tracker_json = json.dumps(rest)
    tracker_json = (tracker_json[:-1] + (", " if rest else "") + events_json + "}")
    head_json = json.dumps(head)
    return head_json[:-1] + (", " if head else "") + '"tracker": ' + tracker_json + "}"


def dumps(obj: Any) -> str:
    """``json.dumps``, with an ``ActionCall``'s events taken from their kept JSON."""
    if enabled and isinstance(obj, ActionCall):
        body = _body(obj)
        if body is not None:
            return body
    return json.dumps(obj)


def install() -> bool:
    """Makes Rasa's action calls carry their events (unless AISLE_ACTION_CALL_JSON=rasa);
    True if installed. Call before Rasa starts."""
    from rasa.core.actions.action import RemoteAction

    if chosen("AISLE_ACTION_CALL_JSON", "kept", "rasa") == "rasa":
        return False
    original = rasas_own(RemoteAction, "_action_call_format")

    def _action_call_format(self: Any, tracker: Any, domain: Any) -> Dict[str, Any]:
        body = original(self, tracker, domain)
        return ActionCall(body, list(tracker.events)) if enabled else body

    replace(RemoteAction, "_action_call_format", _action_call_format, original)
    return True
