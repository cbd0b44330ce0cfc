"""A tracker's copy made from its state, not by replaying every event.

Before each action of a turn, Rasa 3.6's processor runs the action on a copy of the
conversation's tracker (``DialogueStateTracker.copy``), so that a policy's events can be
thrown away if the action is rejected. Rasa makes the copy by replaying every event of the
tracker on a new one: its cost grows with the conversation (about 1.3 ms at 400 events here,
two or three times a turn).

A tracker's state is, by Rasa's own rule, what replaying its events gives (the tracker's
attributes "MUST be re-creatable by processing all the events"). So ``copy`` here builds the
same tracker from the state directly: a new tracker made as Rasa's copy starts it
(``init_copy``: the sender, the slots' definitions, the event history's limit, whether it is
a rule tracker; no model or assistant id), with the same events (the same objects, as
Rasa's replay appends them), each slot copied with its value, the latest action and active
loop as new objects (Rasa's replay makes new ones; the loop's is changed in place by a later
``LoopInterrupted``), the latest user and bot messages and the paused flag. The follow-up
action is the one the events give (the last follow-up, action, message, restart or new
session), not the tracker's: Rasa's processor clears the tracker's own, with no event, just
before it copies the tracker for an action, and Rasa's copy has it back. After an undo
(whose replay decides it), for a tracker of another class, with an event history limit
(whose oldest events are gone, so replaying the rest gives another state), or with the slot
dict of a tracker without a domain, the copy is Rasa's.

bot/tests/test_tracker_copy.py checks, at every event of every story, rule and test story
(and of a long conversation with undos, a restart and a new session), with and without the
follow-up action cleared as the processor does, that the copy has the same attributes as
Rasa's, and that changing one leaves the other as it was.

``install()`` (bot/rasa_server.py) replaces ``DialogueStateTracker.copy`` in the serving
process; ``AISLE_TRACKER_COPY=replay`` keeps Rasa's. Training (`rasa train`) is not changed.
"""

from __future__ import annotations

import copy as copying
from typing import Any

from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.events import (ActionExecuted, ActionReverted, FollowupAction,
                                     Restarted, SessionStarted, UserUttered,
                                     UserUtteranceReverted)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.choices import chosen, rasas_own, replace

enabled = True  # bench/rasa_turn_cpu.py switches it between rounds


def replayed_copy(tracker: DialogueStateTracker) -> DialogueStateTracker:
    """Rasa's copy: every event replayed on a new tracker."""
    return rasas_own(DialogueStateTracker, "copy")(tracker)


_REPLAY = object()  # the follow-up action only a replay can tell


def replayed_followup_action(tracker: DialogueStateTracker) -> Any:
    """The follow-up action replaying the events gives: the last event that sets it
    decides. (Rasa's processor clears it on the tracker itself, with no event, just before
    it copies the tracker for the action: the copy has it again.) ``_REPLAY`` after an
    undo, whose replay of the events before it decides."""
    for event in reversed(tracker.events):
        if isinstance(event, (ActionExecuted, UserUttered)):
            return None
        if isinstance(event, FollowupAction):
            return event.action_name
        if isinstance(event, Restarted):
            return ACTION_SESSION_START_NAME
        if isinstance(event, SessionStarted):
            return ACTION_LISTEN_NAME
        if isinstance(event, (ActionReverted, UserUtteranceReverted)):
            return _REPLAY
    return ACTION_LISTEN_NAME  # a new tracker's


def state_copy(tracker: DialogueStateTracker) -> DialogueStateTracker:
    """The tracker Rasa's copy gives, built from this tracker's state."""
    followup = replayed_followup_action(tracker)
    if followup is _REPLAY:
        return replayed_copy(tracker)
    twin = tracker.init_copy()
    twin.slots = {name: copying.copy(slot) for name, slot in tracker.slots.items()}
    twin.events = twin._create_events(tracker.events)
    twin._paused = tracker._paused
    twin.followup_action = followup
    twin.latest_action = (dict(tracker.latest_action) if tracker.latest_action is not None
                          else None)
    twin.latest_message = tracker.latest_message
    twin.latest_bot_utterance = tracker.latest_bot_utterance
    twin.active_loop = copying.copy(tracker.active_loop)  # a dataclass, or None
    return twin


def can_copy_from_state(tracker: DialogueStateTracker) -> bool:
    return (type(tracker) is DialogueStateTracker and tracker._max_event_history is None
            and type(tracker.slots) is dict)


def install() -> bool:
    """Makes ``DialogueStateTracker.copy`` build from the state (unless
    AISLE_TRACKER_COPY=replay); True if installed. Call before Rasa starts."""
    if chosen("AISLE_TRACKER_COPY", "state", "replay") == "replay":
        return False
    original = rasas_own(DialogueStateTracker, "copy")

    def copy(self: DialogueStateTracker) -> Any:
        if enabled and can_copy_from_state(self):
            return state_copy(self)
        return original(self)

    replace(DialogueStateTracker, "copy", copy, original)
    return True
