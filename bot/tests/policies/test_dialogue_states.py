"""The kept dialogue states (bot/dialogue_states.py) are Rasa's: over the bot's own stories,
rules and test stories, one event at a time and with rewinds, undos, restarts and new
sessions, the store's answer equals ``tracker.past_states`` for every combination of
arguments the policies use; the memoization, rule and TED policies of the trained model
predict the same with the store as without it; and a conversation that goes on costs only its
new steps."""

from __future__ import annotations

import copy
import glob
import logging
from pathlib import Path

import pytest
from rasa.shared.core.constants import PREVIOUS_ACTION, USER
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, ActionReverted, ActiveLoop,
                                     DefinePrevUserUtteredFeaturization, EntitiesAdded,
                                     Restarted, SessionStarted, SlotSet, UserUttered,
                                     UserUtteranceReverted)
from rasa.shared.core.generator import TrainingDataGenerator
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.core.training_data.structures import StoryGraph

from rasa.core.featurizers.tracker_featurizers import MaxHistoryTrackerFeaturizer

from bot.dialogue_states import SHARED, DialogueStates, FeaturizerStates, stripped
from bot.tests.conversations import actions_taken

ROOT = Path(__file__).resolve().parents[3]
MODEL = ROOT / "bot" / "models" / "aisle.tar.gz"


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "bot" / "domain"))


@pytest.fixture(scope="module")
def stories(domain) -> list:
    """The events of every story, rule and test story of the bot (one tracker each, no
    augmentation), as Rasa's processor would have logged them: the featurization of each
    user message defined right after it."""
    logging.getLogger("rasa").setLevel(logging.WARNING)
    files = sorted(glob.glob(str(ROOT / "bot" / "data" / "stories" / "*.yml"))
                   + glob.glob(str(ROOT / "bot" / "data" / "rules" / "*.yml"))
                   + glob.glob(str(ROOT / "bot" / "tests" / "stories" / "*.yml")))
    steps = [step for path in files for step in YAMLStoryReader(domain).read_from_file(path)]
    trackers = TrainingDataGenerator(StoryGraph(steps), domain, remove_duplicates=False,
                                     augmentation_factor=0,
                                     use_story_concatenation=False).generate_story_trackers()
    result = []
    for tracker in trackers:
        events = []
        for event in copy.deepcopy(list(tracker.events)):
            events.append(event)
            if isinstance(event, UserUttered):
                events.append(DefinePrevUserUtteredFeaturization(False))
        result.append(events)
    assert len(result) > 100
    return result


def variants(domain: Domain) -> list:
    """Every argument combination: the policies use (False, True, rule-only data) and
    (False, False, None); training uses omit_unset_slots."""
    slots = [slot.name for slot in domain.slots][:6]
    rule_only = {"rule_only_slots": slots, "rule_only_loops": list(domain.form_names)[:1]}
    return [dict(omit_unset_slots=omit, ignore_rule_only_turns=ignore, rule_only_data=data)
            for omit in (False, True) for ignore in (False, True)
            for data in (None, rule_only)]


def session(sender: str, domain: Domain) -> DialogueStateTracker:
    tracker = DialogueStateTracker(sender, domain.slots)
    tracker.update(ActionExecuted("action_session_start"))
    tracker.update(SessionStarted())
    return tracker


def long_conversation(tracker: DialogueStateTracker, stories: list, count: int = 40):
    """``count`` stories one after another in the tracker's conversation, with an undo of
    the user's message, an undo of an action, a restart and a new session on the way;
    yields True after each event of a story, False after each story (and its undo, restart
    or new session)."""
    for number, events in enumerate(stories[:count]):
        for event in copy.deepcopy(events):
            tracker.update(event)
            yield True
        if number % 4 == 1:
            tracker.update(UserUtteranceReverted())
        elif number % 4 == 2:
            tracker.update(ActionReverted())
        elif number == 11:
            tracker.update(Restarted())
        elif number == 33:
            tracker.update(ActionExecuted("action_session_start"))
            tracker.update(SessionStarted())
        yield False


def shared_parts(states: list) -> list:
    """Which states share one user (or previous action) sub-state object: Rasa's
    featurizers edit the user sub-state of the last state, the others see it too."""
    first: dict = {}
    return [tuple(first.setdefault(id(state[kind]), (kind, index)) if kind in state else None
                  for kind in (USER, PREVIOUS_ACTION))
            for index, state in enumerate(states)]


def check(store: DialogueStates, tracker: DialogueStateTracker, domain: Domain,
          kinds=None) -> None:
    for arguments in kinds or variants(domain):
        expected = tracker.past_states(domain, **arguments)
        states = store.past_states(tracker, domain, **arguments)
        assert states == expected, (tracker.sender_id, len(tracker.events), arguments)
        assert shared_parts(states) == shared_parts(expected)


def test_states_equal_rasa_at_every_event_of_every_story(domain, stories):
    store = DialogueStates()
    for index, events in enumerate(stories):
        tracker = session(f"story-{index}", domain)
        check(store, tracker, domain)
        for event in events:
            tracker.update(event)
            check(store, tracker, domain)
    assert store.appended > store.recomputed  # most calls only added steps


def test_long_conversations_rewinds_restarts_and_new_sessions(domain, stories):
    """Forty stories one after another in one conversation, with an undo of the user's
    message, an undo of an action, a restart and a new session on the way; checked after
    each, and the argument combinations interleaved as the policies call them."""
    store = DialogueStates()
    tracker = session("long", domain)
    policies_use = [variants(domain)[1], variants(domain)[2], variants(domain)[1]]
    longest = 0
    for within_a_story in long_conversation(tracker, stories):
        if within_a_story:
            check(store, tracker, domain, policies_use)
        else:
            check(store, tracker, domain)
            longest = max(longest, len(tracker.past_states(domain)))
    assert longest > 100  # states, as many as a long conversation has


def test_another_tracker_or_domain_of_the_same_conversation(domain, stories):
    """The same conversation read again from the store (equal events, other objects), a
    tracker with other events under the same id, another domain: computed afresh, right."""
    store = DialogueStates()
    one = session("same-id", domain)
    for event in stories[3]:
        one.update(event)
    check(store, one, domain)
    again = DialogueStateTracker.from_dict(
        "same-id", one.current_state(EventVerbosity.ALL)["events"], domain.slots)
    recomputed = store.recomputed
    check(store, again, domain)
    assert store.recomputed > recomputed
    other = session("same-id", domain)
    for event in copy.deepcopy(stories[7]):
        other.update(event)
        check(store, other, domain)
        check(store, one, domain)
    domain_again = Domain.load(str(ROOT / "bot" / "domain"))
    check(store, one, domain_again)


def test_a_changed_user_message_after_a_kept_state_is_seen(domain):
    """The featurization of a message (or entities) defined after an action already
    followed it: Rasa's replay shows the changed message; so does the store."""
    store = DialogueStates()
    tracker = session("changed", domain)
    intent = sorted(domain.intents)[0]
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered("hello there", {"name": intent, "confidence": 1.0}))
    tracker.update(ActionExecuted("action_listen"))
    check(store, tracker, domain)
    tracker.update(DefinePrevUserUtteredFeaturization(True))
    check(store, tracker, domain)
    tracker.update(EntitiesAdded([{"entity": "color", "value": "red"}]))
    check(store, tracker, domain)


def test_memory_is_bounded_and_active_loops_undo_as_in_rasa(domain, stories):
    store = DialogueStates(conversations=3)
    for index in range(6):
        tracker = session(f"bounded-{index}", domain)
        for event in stories[index]:
            tracker.update(event)
        check(store, tracker, domain)
    assert len(store._histories) == 3
    # a loop run twice in a row: Rasa drops the turns between its executions
    form = list(domain.form_names)[0]
    tracker = session("loop", domain)
    intent = sorted(domain.intents)[1]
    for event in [ActionExecuted("action_listen"), UserUttered("x", {"name": intent}),
                  ActionExecuted(form), ActiveLoop(form), SlotSet("requested_slot", "x"),
                  ActionExecuted("action_listen"), UserUttered("y", {"name": intent}),
                  ActionExecuted(form), ActiveLoop(None), ActionExecuted("action_listen")]:
        tracker.update(event)
        check(store, tracker, domain)


# --- the trained model's policies, with and without the store ---------------------------

def featurizers() -> list:
    """The featurizer of each policy (memoization, rule, TED) with the arguments it predicts
    with, and the one case that gets fresh copies of every state (no max_history, TED's
    substitutions)."""
    return [(MaxHistoryTrackerFeaturizer(max_history=history), ignore)
            for history, ignore in ((5, False), (None, False), (5, True), (None, True))]


def with_texts(events: list, keep_featurization: bool) -> list:
    """Copies of a story's events as a conversation logs them: each message with its text
    (the stories have only intents), and, unless ``keep_featurization``, without the
    processor's ``DefinePrevUserUtteredFeaturization`` (so every user state shows the text
    and the intent, as the latest message's does until that event)."""
    result = []
    for event in copy.deepcopy(events):
        if isinstance(event, DefinePrevUserUtteredFeaturization) and not keep_featurization:
            continue
        if isinstance(event, UserUttered) and not event.text:
            event.text = f"a message meaning {event.intent_name}"
            event.use_text_for_featurization = None  # as a parsed message's, until defined
        result.append(event)
    return result


def prediction_states(featurizer, create_states, tracker, domain, ignore, use_text) -> list:
    featurizer._create_states = create_states
    try:
        return featurizer.prediction_states(
            [tracker], domain, use_text_for_last_user_input=use_text,
            ignore_rule_only_turns=ignore, rule_only_data=None,
            ignore_action_unlikely_intent=True)[0]
    finally:
        del featurizer._create_states


def test_featurizers_get_rasas_states_with_fresh_copies_of_only_what_they_edit(domain, stories):
    """At every event of every story, each policy's featurizer ends with the same states
    (text or intent for the last message, both ways) from the store's answer as from
    Rasa's, the same sub-states shared; only the states it edits are fresh copies, and what
    the store keeps stays Rasa's states after thousands of such edits."""
    store = DialogueStates()
    sliced = whole = with_text = 0
    for index, events in enumerate(stories[::2]):
        tracker = session(f"f-{index}", domain)
        for event in with_texts(events, keep_featurization=index % 2 == 0):
            tracker.update(event)
            for featurizer, ignore in featurizers():
                rasa = featurizer._create_states
                ours = store.for_featurizer(featurizer)
                for use_text in (False, True):
                    expected = prediction_states(featurizer, rasa, tracker, domain, ignore,
                                                 use_text)
                    got = prediction_states(featurizer, ours, tracker, domain, ignore,
                                            use_text)
                    assert got == expected, (index, len(tracker.events), featurizer.max_history,
                                             ignore, use_text)
                    assert shared_parts(got) == shared_parts(expected)
                answer = ours(tracker, domain, ignore_rule_only_turns=ignore)
                history = store._histories[tracker.sender_id][(False, ignore, None)]
                kept = [state for state in answer if any(state is s for s in history.stripped)]
                fresh = len(answer) - len(kept)
                assert answer[:len(kept)] == kept  # the kept ones come first
                if featurizer.max_history:
                    assert fresh == min(len(answer), featurizer.max_history)
                elif ignore:
                    assert fresh == len(answer)
                else:
                    assert fresh == min(len(answer), 1)
                sliced += len(kept) > 0
                whole += fresh == len(answer)
                with_text += any(TEXT in state.get(USER, {}) and INTENT in state[USER]
                                 for state in rasa(tracker, domain)[:-1])
        check(store, tracker, domain)  # the kept states are still Rasa's
        for history in store._histories[tracker.sender_id].values():
            assert history.stripped == [stripped(state) for state in
                                        history.states[:len(history.stripped)]]
    assert sliced > 1000 and whole > 1000 and with_text > 1000, (sliced, whole, with_text)


def test_after_action_unlikely_intent_every_state_is_a_fresh_copy(domain, stories):
    """A featurizer drops the states after ``action_unlikely_intent`` before it keeps its
    last ``max_history``: then the states it keeps reach back further than the last ones,
    and the store hands out fresh copies of all."""
    store = DialogueStates()
    featurizer = MaxHistoryTrackerFeaturizer(max_history=2)
    tracker = session("unlikely", domain)
    for events in stories[:3]:
        for event in copy.deepcopy(events):
            tracker.update(event)
    tracker.update(UserUttered("hi", {"name": "greet", "confidence": 1.0}))
    for _ in range(4):
        tracker.update(ActionExecuted("action_unlikely_intent"))
    tracker.update(ActionExecuted("utter_greet"))
    ours = store.for_featurizer(featurizer)
    for use_text in (False, True):
        expected = prediction_states(featurizer, featurizer._create_states, tracker, domain,
                                     False, use_text)
        assert prediction_states(featurizer, ours, tracker, domain, False, use_text) == expected
    answer = ours(tracker, domain)
    history = store._histories["unlikely"][(False, False, None)]
    assert history.unlikely_intent and not any(
        state is kept for state in answer for kept in history.stripped)


def test_right_after_action_unlikely_intent_every_state_is_a_fresh_copy(domain, stories):
    """The prediction right after ``action_unlikely_intent``: the last state (not kept yet)
    follows it, so the featurizer drops it and its window starts one state further back; with
    a window of one, that is the state it edits. (Found by a review: the store had handed out
    its own stripped copy there.)"""
    for ignore in (False, True):
        store = DialogueStates()
        featurizer = MaxHistoryTrackerFeaturizer(max_history=1)
        tracker = session(f"unlikely-last-{ignore}", domain)
        for events in stories[:2]:
            for event in with_texts(events, keep_featurization=True):
                tracker.update(event)
        tracker.update(ActionExecuted("action_listen"))
        tracker.update(UserUttered("hello there", {"name": "greet", "confidence": 1.0}))
        ours = store.for_featurizer(featurizer)
        for end in ("action_unlikely_intent", "utter_greet"):
            tracker.update(ActionExecuted(end))
            for use_text in (True, False, True):
                expected = prediction_states(featurizer, featurizer._create_states, tracker,
                                             domain, ignore, use_text)
                assert prediction_states(featurizer, ours, tracker, domain, ignore,
                                         use_text) == expected, (ignore, end, use_text)
        check(store, tracker, domain)  # the kept states are still Rasa's


@pytest.fixture(scope="module")
def policies(action_server, tmp_path_factory):
    """The trained model, with Aisle's tracker store (which keeps a conversation's tracker
    between turns, as in production) on an SQLite file, and its three policies."""
    if not MODEL.exists():
        pytest.fail("bot/models/aisle.tar.gz is missing: run `make train`", pytrace=False)
    from rasa.core.agent import Agent
    from rasa.core.policies.memoization import MemoizationPolicy
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.core.policies.ted_policy import TEDPolicy
    from rasa.utils.endpoints import EndpointConfig
    from bot.tracker_store import CachedSQLTrackerStore
    store = CachedSQLTrackerStore(
        None, dialect="sqlite", db=str(tmp_path_factory.mktemp("trackers") / "rasa.db"))
    agent = Agent.load(str(MODEL), action_endpoint=EndpointConfig(action_server),
                       tracker_store=store)
    store.domain = agent.domain
    nodes = agent.processor.graph_runner._instantiated_nodes.values()
    found = {kind: [node._component for node in nodes if isinstance(node._component, kind)]
             for kind in (MemoizationPolicy, RulePolicy, TEDPolicy)}
    rule = found[RulePolicy][0]
    memo = [p for p in found[MemoizationPolicy] if not isinstance(p, RulePolicy)][0]
    return agent, [memo, rule, found[TEDPolicy][0]], rule._get_rule_only_data()


def test_the_model_policies_take_their_states_from_one_store(policies):
    from bot.policies import CachedMemoizationPolicy, CachedRulePolicy, CachedTEDPolicy
    _, policy_list, _ = policies
    assert [type(policy) for policy in policy_list] == [
        CachedMemoizationPolicy, CachedRulePolicy, CachedTEDPolicy]
    for policy in policy_list:
        create_states = policy.featurizer._create_states
        assert isinstance(create_states, FeaturizerStates) and create_states.store is SHARED
        assert create_states.max_history == policy.featurizer.max_history
    assert SHARED.conversations >= 500


def predictions(policy_list, tracker, domain, rule_only_data) -> list:
    result = []
    for policy in policy_list:
        prediction = policy.predict_action_probabilities(
            tracker, domain, rule_only_data=rule_only_data)
        result.append((type(policy).__name__, prediction.policy_name,
                       [round(p, 6) for p in prediction.probabilities],
                       [e.as_dict() for e in prediction.events], prediction.hide_rule_turn,
                       prediction.is_end_to_end_prediction, prediction.is_no_user_prediction))
    return result


def with_store(policy_list, store):
    for policy in policy_list:
        policy.featurizer._create_states = store.for_featurizer(policy.featurizer)


def without_store(policy_list):
    for policy in policy_list:
        policy.featurizer.__dict__.pop("_create_states", None)


@pytest.fixture
def restored(policies):
    """The policies' featurizers as the model loaded them, after the test."""
    policy_list = policies[1]
    loaded = [policy.featurizer.__dict__.get("_create_states") for policy in policy_list]
    yield
    for policy, create_states in zip(policy_list, loaded):
        policy.featurizer.__dict__.pop("_create_states", None)
        if create_states is not None:
            policy.featurizer._create_states = create_states


def test_policies_predict_the_same_with_the_store(policies, stories, restored):
    agent, policy_list, rule_only_data = policies
    domain = agent.domain
    ted = policy_list[2]
    remembered = ted.config.get("cached_predictions")
    ted.config["cached_predictions"] = 0  # TED itself at every step
    store = DialogueStates()
    try:
        compared = 0
        for index, events in enumerate(stories[::3]):
            plain = session(f"p-{index}", domain)
            kept = session(f"p-{index}", domain)
            for event in events:
                if isinstance(event, ActionExecuted):  # a prediction before each action
                    without_store(policy_list)
                    expected = predictions(policy_list, plain, domain, rule_only_data)
                    with_store(policy_list, store)
                    assert predictions(policy_list, kept, domain, rule_only_data) == expected
                    compared += 1
                plain.update(copy.deepcopy(event))
                kept.update(copy.deepcopy(event))
        assert compared > 100 and store.appended > store.recomputed
    finally:
        ted.config["cached_predictions"] = remembered


def test_a_conversation_goes_the_same_way_with_the_store(policies, restored):
    """Greetings, FAQs (answered by a custom action) and thanks: the same actions, under the
    same policy names, with the same confidences; the store's states are computed once a
    conversation and then only added to."""
    agent, policy_list, _ = policies
    messages = ["hi"] + ["what is your return policy?", "thanks!", "do you ship to canada?",
                         "thank you", "how can I contact you", "cheers",
                         "is there a size guide", "many thanks"] * 3

    def converse(sender):
        return actions_taken(agent, sender, messages)

    without_store(policy_list)
    plain = converse("without")
    store = DialogueStates()
    with_store(policy_list, store)
    kept = converse("with")
    assert plain == kept
    answered = [name for name, _, _ in kept]
    assert answered.count("action_answer_faq") >= 6 and "utter_you_are_welcome" in answered
    assert {policy for _, policy, _ in kept} >= {"RulePolicy"}
    assert store.recomputed <= 4 < 100 < store.appended  # once for each combination


def test_a_turn_computes_only_its_new_steps(domain, stories):
    """Without a form (whose every step makes Rasa drop the turns since its last run, and
    the store start again), a conversation that goes on costs its new steps only."""
    without_forms = [events for events in stories
                     if not any(isinstance(event, ActiveLoop) for event in events)]
    store = DialogueStates()
    tracker = session("cost", domain)
    kind = variants(domain)[2]
    for events in without_forms[:20]:
        for event in events:
            tracker.update(event)
    store.past_states(tracker, domain, **kind)
    history = next(iter(store._histories["cost"].values()))
    before, recomputed = history.steps, store.recomputed
    last = without_forms[20]
    for event in last:
        tracker.update(event)
        assert store.past_states(tracker, domain, **kind) == tracker.past_states(domain, **kind)
    new_actions = sum(isinstance(event, ActionExecuted) for event in last)
    assert store.recomputed == recomputed
    assert history.steps - before <= new_actions + len(last)  # new ones + one final a call
    assert len(tracker.past_states(domain, **kind)) > 5 * new_actions
