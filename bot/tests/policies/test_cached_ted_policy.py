"""The remembering TED policy inside the project's trained model: with its memory it predicts
exactly what TED predicts without it, and a dialogue seen before costs no TensorFlow call.

The conversations run against Aisle's action server (the session start and the FAQ answers
are custom actions); TED predicts at every step whatever policy wins, so every prediction of
the dialogue is compared, and the test checks the shopper was answered, not sent to the
fallback."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.core.agent import Agent
from rasa.core.policies.policy import Policy
from rasa.core.policies.ted_policy import TEDPolicy

from bot.policies import CachedTEDPolicy, frozen
from bot.tests.conversations import actions_taken

MODEL = Path(__file__).resolve().parents[3] / "bot" / "models" / "aisle.tar.gz"
MESSAGES = ["hi there", "what is your return policy?", "thanks!", "do you ship abroad",
            "what's your name", "ok thank you", "bye"]


@pytest.fixture(scope="module")
def agent(action_server):
    from rasa.utils.endpoints import EndpointConfig

    if not MODEL.exists():
        pytest.fail("bot/models/aisle.tar.gz is missing: run `make train`", pytrace=False)
    return Agent.load(str(MODEL), action_endpoint=EndpointConfig(action_server))


def ted_of(agent) -> CachedTEDPolicy:
    nodes = agent.processor.graph_runner._instantiated_nodes.values()
    found = [node._component for node in nodes if isinstance(node._component, CachedTEDPolicy)]
    assert len(found) == 1, "config.yml names bot.policies.CachedTEDPolicy"
    return found[0]


def converse(agent, sender: str, monkeypatch) -> tuple[list, list, int]:
    """TED's predicted probabilities at every step, the actions run (with the policy that
    chose each and its confidence), and how many times TED itself was asked."""
    predictions, asked = [], []
    make = Policy._prediction
    ask = TEDPolicy.predict_action_probabilities
    monkeypatch.setattr(CachedTEDPolicy, "_prediction", lambda self, probabilities, **kw: (
        predictions.append(list(probabilities)) or make(self, probabilities, **kw)))
    monkeypatch.setattr(TEDPolicy, "predict_action_probabilities", lambda self, *a, **kw: (
        asked.append(1) or ask(self, *a, **kw)))
    try:
        actions = actions_taken(agent, sender, MESSAGES)
    finally:
        monkeypatch.undo()
    return predictions, actions, len(asked)


def test_remembered_predictions_are_the_predictions_and_skip_tensorflow(agent, monkeypatch):
    ted = ted_of(agent)
    ted.config["cached_predictions"] = 0  # plain TED: the reference
    reference, reference_actions, asked_plain = converse(agent, "plain", monkeypatch)
    ted.config["cached_predictions"] = 10000
    ted._predictions.clear()
    first, first_actions, asked_first = converse(agent, "first", monkeypatch)
    again, again_actions, asked_again = converse(agent, "again", monkeypatch)

    # The shopper was answered: greeted, the two FAQ questions and the name answered, and
    # no turn ended in the fallback.
    answers = [name for name, _, _ in reference_actions if name != "action_listen"]
    assert answers == ["action_session_start", "utter_greet", "action_answer_faq",
                       "utter_you_are_welcome", "action_answer_faq", "utter_chitchat",
                       "utter_you_are_welcome", "utter_goodbye"]
    assert len(reference) == asked_plain > len(MESSAGES)  # TED asked at every step
    assert first == reference and again == reference  # identical probabilities
    assert first_actions == reference_actions == again_actions
    assert asked_first < asked_plain  # repeats inside one conversation are remembered
    assert asked_again == 0  # the same dialogue again: no TensorFlow call at all
    assert ted.cache_hits >= len(reference)


def test_the_memory_is_bounded_least_recently_used_first(agent, monkeypatch):
    ted = ted_of(agent)
    ted.config["cached_predictions"] = 3
    ted._predictions.clear()
    try:
        converse(agent, "bounded", monkeypatch)
        assert len(ted._predictions) == 3
    finally:
        ted.config["cached_predictions"] = 10000
        ted._predictions.clear()


def test_states_are_frozen_whatever_the_order_of_their_keys():
    one = [{"user": {"intent": "greet", "entities": ("color",)},
            "prev_action": {"action_name": "action_listen"}, "slots": {"cart": (1.0,)}}]
    two = [{"slots": {"cart": (1.0,)}, "prev_action": {"action_name": "action_listen"},
            "user": {"entities": ("color",), "intent": "greet"}}]
    assert frozen(one) == frozen(two)
    assert hash(frozen(one)) == hash(frozen(two))
    assert frozen(one) != frozen([{**one[0], "slots": {"cart": (0.0,)}}])
