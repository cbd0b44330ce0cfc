"""The rule policy's shortcuts (bot/rule_matching.py, ``CachedRulePolicy.fast_rules``) change
nothing it predicts: the index finds the rules Rasa's ``_get_possible_keys`` finds, for the
trained model's rules and unhappy-path rules, at every step of every story, rule and test
story of the bot and on the rules' own states (whole, combined, altered); the trained
model's rule policy predicts the same (probabilities, events, flags, the rule it used) with
the shortcuts as without at every step; a conversation through the model and Aisle's action
server takes the same actions under the same policies with the same confidences; and the
states are formatted for Rasa's debug line exactly when that line can be logged."""

from __future__ import annotations

import copy
import json
import logging
import random

import pytest
import structlog
from rasa.core.policies.policy import Policy
from rasa.core.policies.rule_policy import (RULES, RULES_FOR_LOOP_UNHAPPY_PATH,
                                            RulePolicy)
from rasa.shared.core.constants import PREVIOUS_ACTION, SHOULD_NOT_BE_SET, SLOTS, USER
from rasa.shared.core.events import ActionExecuted
from rasa.shared.nlu.constants import INTENT

import bot.policies as policies_module
from bot.policies import CachedRulePolicy, rule_debug_logged
# the model, the stories and a session start, as the dialogue state tests make them
from bot.tests.conversations import actions_taken
from bot.tests.policies.test_dialogue_states import (  # noqa: F401  (fixtures)
    domain, policies, session, stories)


def rule_of(policies) -> CachedRulePolicy:
    rule = policies[1][1]
    assert type(rule) is CachedRulePolicy and rule.fast_rules  # on once loaded
    return rule


def rasa_keys(rule: RulePolicy, lookup: dict, states: list) -> set:
    return RulePolicy._get_possible_keys(rule, lookup, states)


def compare(rule: RulePolicy, states: list, counts: dict) -> None:
    """The index's rules equal Rasa's for both lookups; ``possible_keys`` too, unless it
    stands aside (then two of the longest keys were found)."""
    for name in (RULES, RULES_FOR_LOOP_UNHAPPY_PATH):
        lookup = rule.lookup[name]
        index = rule._rule_index(lookup)
        expected = rasa_keys(rule, lookup, copy.deepcopy(states))
        found = {matched.key for matched in index.matching_rules(states)}
        assert found == expected, (name, states)
        keys = index.possible_keys(states)
        if keys is None:
            longest = max(map(len, expected))
            assert sum(len(key) == longest for key in expected) > 1
            counts["ties"] += 1
        else:
            assert keys == expected
        counts["compared"] += 1
        counts["found"] += bool(expected)


def as_conversation(value):
    """A rule's JSON states as a conversation's (tuples where JSON has lists)."""
    if isinstance(value, dict):
        return {key: as_conversation(item) for key, item in value.items()}
    if isinstance(value, list):
        return tuple(as_conversation(item) for item in value)
    return value


def test_the_index_finds_the_rules_rasa_finds_at_every_step_of_every_story(policies,
                                                                         stories):
    agent, _, rule_only_data = policies
    rule = rule_of(policies)
    domain_ = agent.domain
    counts = {"compared": 0, "found": 0, "ties": 0}
    for number, events in enumerate(stories):
        tracker = session(f"index-{number}", domain_)
        for event in events:
            if isinstance(event, ActionExecuted):
                for use_text in (False, True):
                    states = rule._prediction_states(tracker, domain_, use_text,
                                                     rule_only_data=rule_only_data)
                    compare(rule, states, counts)
            tracker.update(copy.deepcopy(event))
    assert counts["compared"] > 2000 and counts["found"] > 500, counts


def test_the_index_finds_the_rules_rasa_finds_on_the_rules_own_states(policies):
    """Each rule's states as a conversation, after a conversation's start, two rules one
    after the other, and altered (a previous action dropped, another intent, a slot that
    should not be set given a value, a required slot unset)."""
    rule = rule_of(policies)
    keys = list(rule.lookup[RULES]) + list(rule.lookup[RULES_FOR_LOOP_UNHAPPY_PATH])
    rules = [as_conversation(json.loads(key)) for key in keys]
    intents = sorted({state[USER][INTENT] for states in rules for state in states
                      if INTENT in state.get(USER, {})})
    counts = {"compared": 0, "found": 0, "ties": 0}
    chance = random.Random(16)
    for states in rules:
        compare(rule, list(states), counts)
        compare(rule, [{}] + list(states), counts)
        for _ in range(3):
            altered = copy.deepcopy(list(states))
            state = chance.choice(altered)
            what = chance.randrange(4)
            if what == 0:
                state.pop(PREVIOUS_ACTION, None)
            elif what == 1 and INTENT in state.get(USER, {}):
                state[USER][INTENT] = chance.choice(intents)
            elif state.get(SLOTS):
                slot = chance.choice(sorted(state[SLOTS]))
                state[SLOTS][slot] = ((1.0,) if state[SLOTS][slot] == SHOULD_NOT_BE_SET
                                      else SHOULD_NOT_BE_SET)
            compare(rule, altered, counts)
    for _ in range(1500):
        first, second = chance.choice(rules), chance.choice(rules)
        compare(rule, list(first) + list(second), counts)
    assert counts["found"] > len(rules), counts


def fields(prediction) -> tuple:
    return (list(prediction.probabilities), prediction.policy_name, prediction.policy_priority,
            [event.as_dict() for event in prediction.events], prediction.hide_rule_turn,
            prediction.is_end_to_end_prediction, prediction.is_no_user_prediction,
            prediction.optional_events, prediction.action_metadata, prediction.diagnostic_data)


def outcome(rule: CachedRulePolicy, tracker, domain_) -> tuple:
    """The prediction (all its fields) and, from ``_predict``, the rule it came from."""
    prediction, source = rule._predict(tracker, domain_)
    predicted = rule.predict_action_probabilities(
        tracker, domain_, rule_only_data=rule._get_rule_only_data())
    assert fields(predicted) == fields(prediction)
    return fields(prediction) + (source,)


def test_the_rule_policy_predicts_the_same_with_its_shortcuts(policies, stories):
    agent, _, _ = policies
    rule = rule_of(policies)
    domain_ = agent.domain
    compared = predicted = hidden = 0
    try:
        for number, events in enumerate(stories):
            tracker = session(f"same-{number}", domain_)
            for event in events:
                if isinstance(event, ActionExecuted):
                    rule.fast_rules = False
                    expected = outcome(rule, tracker, domain_)
                    rule.fast_rules = True
                    assert outcome(rule, tracker, domain_) == expected, (number, event)
                    compared += 1
                    predicted += max(expected[0]) == 1.0
                    hidden += expected[4]
                tracker.update(copy.deepcopy(event))
    finally:
        rule.fast_rules = True
    assert compared > 800 and predicted > 500 and hidden > 100, (compared, predicted, hidden)


def test_the_name_of_no_rule_is_made_when_it_could_be_a_hidden_rule(policies):
    """Within a prediction, the conversation's JSON (the source's name when no rule
    applies) is made when it has as many states as one of the rules not in the stories:
    those rules' own states are named as Rasa names them; other lengths get a stand-in
    that is none of those rules."""
    from rasa.core.policies.rule_policy import RULES_NOT_IN_STORIES
    from bot.policies import NOT_A_HIDDEN_RULE

    rule = rule_of(policies)
    hidden = [entry for entry in rule.lookup[RULES_NOT_IN_STORIES] if entry.startswith("[")]
    assert len(hidden) > 20 and NOT_A_HIDDEN_RULE not in rule.lookup[RULES_NOT_IN_STORIES]
    lengths = rule._hidden_rule_lengths()
    rule._only_hidden_rules_matter.active = True
    try:
        for entry in hidden:
            states = json.loads(entry)
            assert rule._create_feature_key(states) == entry
            longer = states + [{}] * (max(lengths) + 1 - len(states))
            assert rule._create_feature_key(longer) == NOT_A_HIDDEN_RULE
            assert RulePolicy._create_feature_key(rule, longer) not in hidden
        rule.fast_rules = False
        assert rule._create_feature_key(longer) == RulePolicy._create_feature_key(rule, longer)
    finally:
        rule._only_hidden_rules_matter.active = False
        rule.fast_rules = True
    assert rule._create_feature_key(longer) == RulePolicy._create_feature_key(rule, longer)


def test_a_conversation_goes_the_same_way_with_the_shortcuts(policies):
    """Greetings, FAQs (a custom action), thanks and a complaint form (its loop, its
    questions, an FAQ in the middle of it): the same actions, policies and confidences."""
    agent, _, _ = policies
    rule = rule_of(policies)
    messages = (["hi"] + ["what is your return policy?", "thanks!", "do you ship to canada?",
                          "thank you"] * 3
                + ["I want to make a complaint", "me@example.com", "how long does shipping take",
                   "my parcel arrived damaged and late", "thanks", "bye"])

    def converse(sender):
        return actions_taken(agent, sender, messages)

    try:
        rule.fast_rules = False
        plain = converse("rules-plain")
        rule.fast_rules = True
        fast = converse("rules-fast")
    finally:
        rule.fast_rules = True
    assert plain == fast
    actions = [name for name, _, _ in fast]
    assert actions.count("action_answer_faq") >= 6 and "utter_you_are_welcome" in actions
    assert actions.count("complaint_form") >= 2  # the loop ran, and ran again
    assert {policy for _, policy, _ in fast} >= {"RulePolicy"}


@pytest.fixture
def structlog_restored():
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_the_states_are_formatted_only_for_a_debug_line_that_is_logged(
        policies, stories, structlog_restored, monkeypatch):
    agent, _, _ = policies
    rule = rule_of(policies)
    domain_ = agent.domain
    tracker = session("debug-line", domain_)
    for event in stories[5]:
        tracker.update(copy.deepcopy(event))
    formatted = []
    original = Policy.format_tracker_states
    monkeypatch.setattr(Policy, "format_tracker_states", staticmethod(
        lambda states: formatted.append(1) or original(states)))

    # `rasa run` at its default level: debug is a no-op, nothing formatted, same prediction
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
                        cache_logger_on_first_use=False)
    assert not rule_debug_logged()
    quiet = outcome(rule, tracker, domain_)
    assert not formatted

    # at DEBUG: formatted, and the line logged as Rasa logs it
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
                        cache_logger_on_first_use=False)
    assert rule_debug_logged()
    with structlog.testing.capture_logs() as lines:
        loud = outcome(rule, tracker, domain_)
    assert loud == quiet and formatted
    logged = [line["current_states"] for line in lines
              if line["event"] == "rule_policy.actions.find"]
    states = rule._prediction_states(tracker, domain_, False,
                                     rule_only_data=rule._get_rule_only_data())
    assert original(states) in logged

    # Rasa's own class (or the shortcuts off) formats whatever the level
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
                        cache_logger_on_first_use=False)
    formatted.clear()
    rule.fast_rules = False
    try:
        assert outcome(rule, tracker, domain_) == quiet and formatted
    finally:
        rule.fast_rules = True


def test_a_settled_logger_is_the_one_asked(monkeypatch, structlog_restored):
    """With ``cache_logger_on_first_use`` (Rasa's setting) the policy's logger stays the
    one made at its first use, whatever the configuration says later."""
    proxy = policies_module.rule_policy_module.structlogger
    quiet = structlog.make_filtering_bound_logger(logging.INFO)(None, [], {})
    loud = structlog.make_filtering_bound_logger(logging.DEBUG)(None, [], {})
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    monkeypatch.setattr(proxy, "bind", lambda **values: quiet, raising=False)
    assert not rule_debug_logged()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    monkeypatch.setattr(proxy, "bind", lambda **values: loud, raising=False)
    assert rule_debug_logged()
