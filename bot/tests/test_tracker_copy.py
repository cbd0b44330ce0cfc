"""The tracker's copy built from its state (bot/tracker_copy.py) is the tracker Rasa's copy
(every event replayed) gives, at every event of every story and of a long conversation with
undos, a restart and a new session; and the copy and the original stay apart."""

from __future__ import annotations

import copy

import pytest
from rasa.shared.core.events import (ActionExecuted, ActiveLoop, FollowupAction,
                                     LoopInterrupted, Restarted, SlotSet, UserUttered,
                                     UserUtteranceReverted)
from rasa.shared.core.trackers import DialogueStateTracker

from bot import tracker_copy
from bot.tests.rasa_server_process import module_after_rasa_server
from bot.tests.policies.test_dialogue_states import (domain, long_conversation,  # noqa: F401
                                                     session, stories)


def snapshot(tracker: DialogueStateTracker) -> dict:
    """Every attribute; the events by identity, the slots by class and attributes."""
    attributes = dict(vars(tracker))
    attributes["events"] = ([id(event) for event in tracker.events], tracker.events.maxlen)
    attributes["slots"] = {name: (type(slot), vars(slot))
                           for name, slot in tracker.slots.items()}
    return attributes


def check(tracker: DialogueStateTracker) -> None:
    ours, rasas = tracker_copy.state_copy(tracker), tracker_copy.replayed_copy(tracker)
    assert snapshot(ours) == snapshot(rasas), (tracker.sender_id, len(tracker.events))
    assert type(ours) is type(rasas)


def check_as_the_processor_copies(tracker: DialogueStateTracker) -> None:
    """The processor clears the follow-up action on the tracker (no event) before it
    copies it for the action; the replay has it back."""
    check(tracker)
    cleared = tracker_copy.replayed_copy(tracker)
    cleared.model_id = tracker.model_id
    cleared.clear_followup_action()
    check(cleared)


def test_the_copy_is_rasas_at_every_event_of_every_story(domain, stories):
    checked = 0
    for index, events in enumerate(stories):
        tracker = session(f"story-{index}", domain)
        tracker.model_id, tracker.assistant_id = "model-1", "aisle"  # as the processor's
        check_as_the_processor_copies(tracker)
        for event in copy.deepcopy(events):
            tracker.update(event)
            check_as_the_processor_copies(tracker)
            checked += 1
    assert checked > 2000


def test_a_follow_up_action_the_processor_cleared_is_in_the_copy(domain):
    """An action's FollowupAction (checkout's to its form), a restart's session start."""
    tracker = session("followup", domain)
    tracker.update_with_events([ActionExecuted("action_listen"),
                                UserUttered("pay", {"name": "checkout", "confidence": 1.0}),
                                ActionExecuted("action_checkout"),
                                FollowupAction("checkout_form")], domain)
    tracker.clear_followup_action()  # as the processor does before running it
    assert tracker_copy.state_copy(tracker).followup_action == "checkout_form"
    check(tracker)
    tracker.update(Restarted())
    tracker.clear_followup_action()
    assert tracker_copy.state_copy(tracker).followup_action == "action_session_start"
    check(tracker)
    tracker.update(UserUtteranceReverted())  # an undo last: Rasa's own replay
    check(tracker)


def test_a_long_conversation_with_undos_a_restart_and_a_new_session(domain, stories):
    tracker = session("long", domain)
    for within_a_story in long_conversation(tracker, stories):
        if not within_a_story:
            check(tracker)
    assert len(tracker.events) > 500


def test_the_copy_and_the_original_stay_apart(domain):
    tracker = session("apart", domain)
    form = next(iter(domain.form_names))
    slot = domain.slots[0].name
    tracker.update_with_events([SlotSet(slot, "before"), ActiveLoop(form),
                                ActionExecuted(form)], domain)
    before = snapshot(tracker)
    twin = tracker_copy.state_copy(tracker)
    twin.update_with_events([SlotSet(slot, "after"), LoopInterrupted(True)], domain)
    assert snapshot(tracker) == before  # the original's slot, loop and latest action
    assert tracker.get_slot(slot) == "before" and twin.get_slot(slot) == "after"
    assert not tracker.active_loop.is_interrupted and twin.active_loop.is_interrupted


def test_trackers_it_cannot_copy_from_their_state_are_replayed(domain):
    limited = DialogueStateTracker("limited", domain.slots, max_event_history=3)
    without_domain = DialogueStateTracker("any", None)
    assert not tracker_copy.can_copy_from_state(limited)
    assert not tracker_copy.can_copy_from_state(without_domain)
    assert tracker_copy.can_copy_from_state(session("plain", domain))


@pytest.mark.parametrize("choice,expected", [(None, "bot.tracker_copy"),
                                             ("replay", "rasa.shared.core.trackers")])
def test_rasa_server_installs_it_unless_told(choice, expected):
    found = module_after_rasa_server("from rasa.shared.core.trackers import DialogueStateTracker",
                                     "DialogueStateTracker.copy", "AISLE_TRACKER_COPY", choice)
    assert found == expected


def test_an_unknown_choice_stops_the_start(monkeypatch):
    monkeypatch.setenv("AISLE_TRACKER_COPY", "fast")
    with pytest.raises(SystemExit, match="AISLE_TRACKER_COPY='fast'"):
        tracker_copy.install()
