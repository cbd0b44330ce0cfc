"""A conversation's dialogue states, computed once and kept, for Rasa's policies.

Each of Rasa 3.6's policies (memoization, rules, TED) starts its prediction from the
dialogue's states: one per action of the session (the user's intent and entities, the
previous action, the featurized slots, the active loop). Rasa computes them at every call
from the first event of the session (``DialogueStateTracker.past_states`` ->
``Domain.states_for_tracker_history``: a new tracker, every event replayed, every slot
featurized at every action), and a turn makes six to nine such calls (three policies, two or
three predictions, the rule policy twice after a user message), so a turn's cost grew with
the length of the conversation.

``DialogueStates`` keeps, per conversation (least recently used first out) and per
combination of the arguments that change the result (``omit_unset_slots``,
``ignore_rule_only_turns``, ``rule_only_data``, the domain), the states computed so far, the
replayed tracker they came from, and the events it replayed. A call then:

- if the tracker's events start with the very event objects seen last time and none of the
  new ones is a restart, a new session, an undo (``UserUtteranceReverted``,
  ``ActionReverted``) or a loop's action or a new loop (after which Rasa's
  ``applied_events()`` drops turns), replays only the new events and computes only the new
  states;
- else takes Rasa's own ``tracker.applied_events()`` and, if the events replayed so far
  are still their beginning, goes on from there the same way;
- otherwise (a rewind, an undo, a restart, a new session, a form's next step, another
  tracker of the same conversation whose events are other objects, another domain, other
  slot definitions) computes everything from the first event, as Rasa does, and keeps that.

The computation is Rasa's loop (``states_for_tracker_history``), step for step, with the
domain's own helpers. Two things make "only the new ones" exact:

- The same objects, not equal ones: an event Rasa has applied to a tracker is not changed
  afterwards, with one exception handled below, so the same object has the same effect.
- ``DefinePrevUserUtteredFeaturization`` and ``EntitiesAdded`` change the latest user
  message *object* (the one the kept states were computed from). Rasa's replay sees the
  changed message at every step; a kept state computed before the change would not. They
  only take effect right after the user message, before any action; if one arrives when a
  kept state already shows that message, everything is computed again.

The states handed out are copies (Rasa's featurizers edit the states they get), sharing
sub-states exactly where Rasa's would. A policy's featurizer gets fresh copies of only the
states it edits, and the same stripped copies of the ones before at every call
(``FeaturizerStates``): copying all of a long conversation's states at every call cost more
than computing the new ones. Trackers of other kinds (the training trackers,
which cache their own states), another ``Domain`` class, or a Rasa other than 3.6 get
Rasa's own computation.

bot/policies.py connects this to the policies: each one's featurizer asks it instead of the
tracker (``featurizer._create_states``, the one place all three policies' prediction states
come from). bot/tests/policies/test_dialogue_states.py checks it against Rasa's
``past_states`` over the bot's stories, with appends, rewinds, restarts and sessions.
"""

from __future__ import annotations

import itertools
import operator
import threading
import weakref
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Text, Tuple

import rasa
from rasa.shared.core.constants import (ACTION_LISTEN_NAME, ACTION_UNLIKELY_INTENT_NAME,
                                       PREVIOUS_ACTION, SLOTS, USER)
from rasa.core.featurizers.tracker_featurizers import MaxHistoryTrackerFeaturizer
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import (ActionExecuted, ActionReverted, ActiveLoop,
                                     DefinePrevUserUtteredFeaturization, EntitiesAdded, Event,
                                     Restarted, SessionStarted, UserUttered,
                                     UserUtteranceReverted)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import ACTION_NAME, INTENT, TEXT

# The loop below is Rasa 3.6's ``Domain.states_for_tracker_history``; another Rasa gets its own.
SUPPORTED_RASA = rasa.__version__.startswith("3.6.")
MUTATING_EVENTS = (DefinePrevUserUtteredFeaturization, EntitiesAdded)
# events after which Rasa's applied_events() is not the events before plus the new ones
REWRITING_EVENTS = (Restarted, SessionStarted, ActionReverted, UserUtteranceReverted)
MAX_VARIANTS = 8  # argument combinations kept per conversation (the policies use two)


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((key, _frozen(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(_frozen(item) for item in value)
    return value


def _slot_definitions(tracker: DialogueStateTracker) -> tuple:
    """What a replay takes from the tracker besides its events: its slots' definitions."""
    return (tracker.is_rule_tracker,) + tuple(
        (name, slot.__class__, repr(slot.persistence_info()))
        for name, slot in tracker.slots.items())


def copied(states: List[State]) -> List[State]:
    """Fresh dicts for the caller to edit; a user or previous-action sub-state that several
    states share (as Rasa's substitutions make them) stays shared among the copies."""
    shared: Dict[int, Dict] = {}
    result = []
    for state in states:
        copy = {}
        for kind, sub_state in state.items():
            if kind == USER or kind == PREVIOUS_ACTION:
                new = shared.get(id(sub_state))
                if new is None:
                    new = shared[id(sub_state)] = dict(sub_state)
                copy[kind] = new
            else:
                copy[kind] = dict(sub_state)
        result.append(copy)
    return result


def _after_unlikely_intent(state: State) -> bool:
    return state.get(PREVIOUS_ACTION, {}).get(ACTION_NAME) == ACTION_UNLIKELY_INTENT_NAME


def stripped(state: State) -> State:
    """A state as every featurizer of Rasa 3.6 leaves it when it is not the last one: the
    user's text taken out where the intent is there
    (``TrackerFeaturizer._remove_user_text_if_intent``, the same condition). A new dict
    whose sub-states are the kept state's own, but for a user sub-state that loses its text
    (a copy): nobody edits them (``FeaturizerStates``), so they cost no memory twice."""
    copy = dict(state)
    user = copy.get(USER)
    if user and user.get(INTENT) and user.get(TEXT):
        copy[USER] = {kind: value for kind, value in user.items() if kind != TEXT}
    return copy


class _History:
    """One conversation's states for one combination of arguments, as far as computed."""

    def __init__(self, tracker: DialogueStateTracker, domain: Domain, omit_unset_slots: bool,
                 ignore_rule_only_turns: bool, rule_only_data: Optional[Dict[Text, Any]],
                 slots: tuple) -> None:
        self.domain = domain
        self.tracker = weakref.ref(tracker)
        self.slots = slots
        self.omit_unset_slots = omit_unset_slots
        self.ignore_rule_only_turns = ignore_rule_only_turns
        self.rule_only_data = rule_only_data
        self.replay = tracker.init_copy()  # the tracker after the events in `applied`
        self.seen: List[Event] = []  # the tracker's events last time
        self.loop_names: set = set()  # the loops they name (Rasa's applied_events' view)
        self.applied: List[Event] = []
        self.states: List[State] = []  # one per ActionExecuted in `applied`, hidden ones aside
        self.last_ml_action: Optional[Dict[Text, Text]] = None
        self.turn_was_hidden = False
        self.states_since_user = 0  # kept states showing the latest user message
        self.final: Optional[List[State]] = None  # states_now(), until an event comes
        self.stripped: List[State] = []  # stripped() of the first kept states, handed out
        self.unlikely_intent = False  # a kept state follows action_unlikely_intent
        self.steps = 0  # states computed (tests and logs)

    def same_source(self, tracker: DialogueStateTracker, domain: Domain) -> bool:
        """The same domain, and a tracker with the same slot definitions."""
        if domain is not self.domain:
            return False
        if self.tracker() is not tracker:
            if _slot_definitions(tracker) != self.slots:
                return False
            self.tracker = weakref.ref(tracker)
        return True

    def appended_events(self, tracker: DialogueStateTracker) -> Optional[List[Event]]:
        """The events appended to the tracker since, if its events start with the very
        events seen last time and none of the new ones makes Rasa's ``applied_events``
        drop or reset anything (then they are the applied events appended), else None."""
        events, seen = tracker.events, len(self.seen)
        if len(events) < seen or not all(map(operator.is_, self.seen, events)):
            return None
        new = list(itertools.islice(events, seen, None))
        for event in new:
            if (isinstance(event, REWRITING_EVENTS)
                    or (isinstance(event, ActiveLoop) and event.name
                        and event.name not in self.loop_names)
                    or (isinstance(event, ActionExecuted)
                        and event.action_name in self.loop_names)):
                return None
        return new

    def continues(self, applied: List[Event]) -> bool:
        """Rasa's applied events start with the very events this history replayed."""
        return (len(applied) >= len(self.applied)
                and all(map(operator.is_, self.applied, applied)))

    def saw(self, tracker: DialogueStateTracker, new: Optional[List[Event]] = None) -> None:
        """Remembers the tracker's events (``new``: only these were appended since)."""
        if new is None:
            self.seen = list(tracker.events)
            self.loop_names = set()
        else:
            self.seen.extend(new)
        self.loop_names.update(event.name for event in (self.seen if new is None else new)
                               if isinstance(event, ActiveLoop) and event.name)

    def advance(self, new_events: List[Event], check_mutations: bool) -> bool:
        """Replays the new events, keeping a state at each action. False if one of them
        changed a user message a kept state shows (then start again from scratch)."""
        if new_events:
            self.final = None
        for event in new_events:
            if isinstance(event, ActionExecuted):
                state, self.last_ml_action, self.turn_was_hidden = self._step(
                    event.hide_rule_turn, self.last_ml_action, self.turn_was_hidden)
                if state is not None:
                    self._keep(state)
            elif (check_mutations and isinstance(event, MUTATING_EVENTS)
                  and self.states_since_user
                  and self.replay.latest_action_name == ACTION_LISTEN_NAME):
                return False
            self.replay.update(event)
            if isinstance(event, UserUttered):
                self.states_since_user = 0
        self.applied.extend(new_events)
        return True

    def states_now(self) -> List[State]:
        """The kept states and the state after the last event (not kept: more may come)."""
        if self.final is None:
            state, _, _ = self._step(False, self.last_ml_action, self.turn_was_hidden)
            self.final = self.states + ([] if state is None else [state])
        return self.final

    def handed_out(self, fresh: Optional[int]) -> List[State]:
        """``states_now()`` for a caller that edits only its last ``fresh`` states: those
        are fresh copies, the ones before the store's own stripped copies (the same objects
        at every call; nothing edits them: see ``FeaturizerStates``). ``fresh`` None, or a
        state after ``action_unlikely_intent`` (which a featurizer drops before it slices:
        its window then reaches further back), gives fresh copies of all."""
        states = self.states_now()
        if fresh is None or self.unlikely_intent or (
                states and _after_unlikely_intent(states[-1])):
            return copied(states)
        lead = max(0, len(states) - fresh)  # <= len(self.states): fresh >= 1
        while len(self.stripped) < lead:
            self.stripped.append(stripped(self.states[len(self.stripped)]))
        return self.stripped[:lead] + copied(states[lead:])

    def _keep(self, state: State) -> None:
        if self.states and SLOTS in state:
            previous = self.states[-1].get(SLOTS)
            if previous == state[SLOTS]:
                state[SLOTS] = previous  # memory: slots change at few steps
        self.states.append(state)
        self.states_since_user += 1
        if _after_unlikely_intent(state):
            self.unlikely_intent = True

    def _step(self, hide_rule_turn: bool, last_ml_action: Optional[Dict[Text, Text]],
              turn_was_hidden: bool) -> Tuple[Optional[State], Optional[Dict], bool]:
        """One pass of ``Domain.states_for_tracker_history``'s loop, on the replay."""
        domain, tracker = self.domain, self.replay
        if self.ignore_rule_only_turns:
            if not turn_was_hidden:
                last_ml_action = domain._get_prev_action_sub_state(tracker)
            if (not tracker.followup_action
                    and not tracker.latest_action_name == tracker.active_loop_name):
                turn_was_hidden = hide_rule_turn
            if turn_was_hidden:
                return None, last_ml_action, turn_was_hidden
        self.steps += 1
        state = domain.get_active_state(tracker, omit_unset_slots=self.omit_unset_slots)
        if self.ignore_rule_only_turns:
            domain._remove_rule_only_features(state, self.rule_only_data)
            if self.states:
                domain._substitute_rule_only_user_input(state, self.states[-1])
            if last_ml_action:
                state[PREVIOUS_ACTION] = last_ml_action
        return domain._clean_state(state), last_ml_action, turn_was_hidden


class DialogueStates:
    """The dialogue states of the last ``conversations`` conversations, kept between calls."""

    def __init__(self, conversations: int = 500) -> None:
        self.conversations = conversations
        self._histories: "OrderedDict[Text, Dict[tuple, _History]]" = OrderedDict()
        self._lock = threading.Lock()
        self.appended = self.recomputed = self.uncached = 0  # calls answered each way

    def past_states(self, tracker: DialogueStateTracker, domain: Domain,
                    omit_unset_slots: bool = False, ignore_rule_only_turns: bool = False,
                    rule_only_data: Optional[Dict[Text, Any]] = None,
                    fresh: Optional[int] = None) -> List[State]:
        """What ``tracker.past_states(domain, ...)`` returns (a new list of new dicts).

        ``fresh``: the caller edits (and reads) only its last ``fresh`` states, and reads the
        ones before only as Rasa's featurizers leave them: only those are fresh copies
        (``_History.handed_out``; ``FeaturizerStates`` says when that holds)."""
        if not self._cacheable(tracker, domain):
            self.uncached += 1
            return tracker.past_states(domain, omit_unset_slots=omit_unset_slots,
                                       ignore_rule_only_turns=ignore_rule_only_turns,
                                       rule_only_data=rule_only_data)
        variant = (bool(omit_unset_slots), bool(ignore_rule_only_turns),
                   _frozen(rule_only_data) if ignore_rule_only_turns and rule_only_data
                   else None)
        with self._lock:
            history = self._history(tracker, domain, variant, omit_unset_slots,
                                    ignore_rule_only_turns, rule_only_data)
            return history.handed_out(fresh)

    def _cacheable(self, tracker: Any, domain: Any) -> bool:
        return (SUPPORTED_RASA and self.conversations > 0
                and type(tracker) is DialogueStateTracker and type(domain) is Domain
                and type(tracker.slots) is dict)

    def _history(self, tracker: DialogueStateTracker, domain: Domain, variant: tuple,
                 omit_unset_slots: bool, ignore_rule_only_turns: bool,
                 rule_only_data: Optional[Dict[Text, Any]]) -> _History:
        histories = self._histories.pop(tracker.sender_id, None) or {}
        self._histories[tracker.sender_id] = histories  # most recently used
        while len(self._histories) > self.conversations:
            self._histories.popitem(last=False)
        history = histories.get(variant)
        applied = None
        if history is not None and history.same_source(tracker, domain):
            new = history.appended_events(tracker)
            if new is None:
                applied = tracker.applied_events()
                new = applied[len(history.applied):] if history.continues(applied) else None
            if new is not None and history.advance(new, check_mutations=True):
                history.saw(tracker, new if applied is None else None)
                self.appended += 1
                return history
        self.recomputed += 1
        if len(histories) >= MAX_VARIANTS:
            histories.clear()
        history = histories[variant] = _History(
            tracker, domain, omit_unset_slots, ignore_rule_only_turns,
            dict(rule_only_data) if rule_only_data else rule_only_data,
            _slot_definitions(tracker))
        history.advance(tracker.applied_events() if applied is None else applied,
                        check_mutations=False)
        history.saw(tracker)
        return history

    def for_featurizer(self, featurizer: Any) -> Any:
        """The ``_create_states`` for a loaded policy's featurizer."""
        if type(featurizer) is MaxHistoryTrackerFeaturizer:
            return FeaturizerStates(self, featurizer.max_history)
        return self.past_states

    def forget(self) -> None:
        with self._lock:
            self._histories.clear()


class FeaturizerStates:
    """``_create_states`` for one ``MaxHistoryTrackerFeaturizer`` (what Rasa 3.6's
    memoization, rule and TED policies predict with), handing out fresh copies of only the
    states it edits.

    Its ``prediction_states`` takes the states, drops those after ``action_unlikely_intent``
    if asked, keeps the last ``max_history`` (all if None), and then edits only what it
    kept: the last state's user sub-state (``_choose_last_user_input``) and, in every state,
    the user's text where the intent is there (``_remove_user_text_if_intent``). So:

    - with a ``max_history``, only the last ``max_history`` states are seen at all;
    - without one, every state is seen, but one before the last is only read once the text
      is taken out, which its stripped copy already shows: only the last one must be fresh.
      That holds while no state shares a sub-state with the last one, which only TED's
      substitutions make (``ignore_rule_only_turns``): then every state is a fresh copy.

    Copying every state at every call was a tenth of a production replica's CPU in long
    conversations (py-spy, docs/operations.md).
    """

    def __init__(self, store: DialogueStates, max_history: Optional[int]) -> None:
        self.store = store
        self.max_history = max_history

    def __call__(self, tracker: DialogueStateTracker, domain: Domain,
                 omit_unset_slots: bool = False, ignore_rule_only_turns: bool = False,
                 rule_only_data: Optional[Dict[Text, Any]] = None) -> List[State]:
        if self.max_history:
            fresh: Optional[int] = self.max_history
        else:
            fresh = None if ignore_rule_only_turns else 1
        return self.store.past_states(tracker, domain, omit_unset_slots=omit_unset_slots,
                                      ignore_rule_only_turns=ignore_rule_only_turns,
                                      rule_only_data=rule_only_data, fresh=fresh)


# One per process, shared by the policies of the loaded model, which size it (bot/policies.py;
# until one does, Rasa's own computation). About 120 KB per conversation and combination of
# arguments at 160 states (a conversation of about 30 turns), two combinations in use, and
# some 40 KB more for the stripped states handed out (a dict each; their sub-states shared).
SHARED = DialogueStates(conversations=0)
