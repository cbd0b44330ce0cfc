"""Rasa's TED policy, with the predictions for dialogue states it saw recently remembered.

TED predicts the next action from the dialogue's last ``max_history`` states (intent and
entity names of each user turn, the previous action, the featurized slots, the active
form) and from nothing else when the policy is trained on intents, as Aisle's is. The same
few hundred state sequences come back all day (a search after a greeting, the size question
after "add it", a thank-you after an FAQ), and each prediction was a TensorFlow call with
its input checks plus the featurization of the states: about a third of the Rasa process's
CPU on a chat turn under the chat benchmark's load (py-spy, bench/chat_turns.py).

``CachedTEDPolicy`` computes the states as TED does, looks them up among the last
``cached_predictions`` state sequences it predicted for, and only on a miss asks TED. TED is
deterministic at prediction time, so a remembered prediction is the prediction: the dialogue
is the same with or without the cache (the test stories pass either way). It stands aside
(plain TED) when the model reads message text (end-to-end stories) or when diagnostic data
is asked for (``rasa interactive``, ``rasa test``'s details).

Configure it in config.yml in TED's place: ``name: bot.policies.CachedTEDPolicy`` with TED's
own settings, plus ``cached_predictions`` (default 10000; 0 turns the cache off).

All three policies (``CachedMemoizationPolicy`` and ``CachedRulePolicy`` are Rasa's
memoization and rule policies otherwise unchanged) take the dialogue states they predict
from out of one shared store (bot/dialogue_states.py): computed once for the three, and
between two predictions of a conversation only for the events appended since, where Rasa
recomputes them from the first event of the session at every call. Their setting
``kept_dialogues`` (default 500) is how many conversations the store keeps (the largest of
the policies' values); 0 gives that policy Rasa's own computation. The memoization and rule
policies report their predictions under Rasa's names (``MemoizationPolicy``,
``RulePolicy``), so the events a conversation records are the same as with Rasa's classes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Text

from rasa.core.featurizers.precomputation import MessageContainerForCoreFeaturization
from rasa.core.policies.memoization import MemoizationPolicy
from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.core.policies.rule_policy import RulePolicy
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import TEXT

from bot.dialogue_states import SHARED

logger = logging.getLogger(__name__)

REPORT_EVERY = 1000  # predictions between two log lines on how many came from memory
KEPT_DIALOGUES = 500  # conversations whose dialogue states are kept, by default


def frozen(value: Any) -> Any:
    """A hashable copy of a state (dicts of names to strings, numbers and tuples)."""
    if isinstance(value, dict):
        return tuple(sorted((key, frozen(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(frozen(item) for item in value)
    return value


class SharedDialogueStates:
    """Mixin for a Rasa policy: once loaded for predictions, its featurizer takes the
    dialogue states from the shared store instead of computing them from the tracker.

    ``_create_states`` is the one function through which every featurizer of Rasa 3.6 gets
    a tracker's states, for the memoization, rule and TED policies alike; the store answers
    with the same arguments and the same result. Only the loaded policy's own featurizer is
    changed (an attribute of that object), not Rasa's classes: training is untouched.
    """

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> Policy:
        policy = super().load(  # type: ignore[misc]
            config, model_storage, resource, execution_context, **kwargs)
        kept = int(policy.config.get("kept_dialogues", KEPT_DIALOGUES))
        if kept > 0 and policy.featurizer is not None:
            SHARED.conversations = max(SHARED.conversations, kept)
            policy.featurizer._create_states = SHARED.past_states
        return policy


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class CachedMemoizationPolicy(SharedDialogueStates, MemoizationPolicy):
    """Rasa's MemoizationPolicy, with the dialogue states kept (bot/dialogue_states.py)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**MemoizationPolicy.get_default_config(), "kept_dialogues": KEPT_DIALOGUES}

    def _prediction(self, *args: Any, **kwargs: Any) -> PolicyPrediction:
        prediction = super()._prediction(*args, **kwargs)
        prediction.policy_name = MemoizationPolicy.__name__
        return prediction


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class CachedRulePolicy(SharedDialogueStates, RulePolicy):
    """Rasa's RulePolicy, with the dialogue states kept (bot/dialogue_states.py)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**RulePolicy.get_default_config(), "kept_dialogues": KEPT_DIALOGUES}

    def _prediction(self, *args: Any, **kwargs: Any) -> PolicyPrediction:
        prediction = super()._prediction(*args, **kwargs)
        prediction.policy_name = RulePolicy.__name__
        return prediction

    def _rule_prediction(self, *args: Any, **kwargs: Any) -> PolicyPrediction:
        prediction = super()._rule_prediction(*args, **kwargs)
        prediction.policy_name = RulePolicy.__name__
        return prediction


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITH_END_TO_END_SUPPORT, is_trainable=True)
class CachedTEDPolicy(SharedDialogueStates, TEDPolicy):
    """TEDPolicy that remembers its predictions per sequence of dialogue states."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**TEDPolicy.get_default_config(), "cached_predictions": 10000,
                "kept_dialogues": KEPT_DIALOGUES}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage,
                 resource: Resource, execution_context: ExecutionContext,
                 *args: Any, **kwargs: Any) -> None:
        super().__init__(config, model_storage, resource, execution_context, *args, **kwargs)
        self._diagnostics = execution_context.should_add_diagnostic_data
        self._predictions: "OrderedDict[tuple, List[float]]" = OrderedDict()
        self.cache_hits = self.cache_misses = 0

    def _can_remember(self) -> bool:
        return (self.model is not None and int(self.config["cached_predictions"]) > 0
                and TEXT not in self.fake_features  # not end-to-end: states say it all
                and not self._diagnostics)

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: Optional[Dict[Text, Any]] = None,
        precomputations: Optional[MessageContainerForCoreFeaturization] = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        if not self._can_remember():
            return super().predict_action_probabilities(
                tracker, domain, rule_only_data, precomputations, **kwargs)
        # The states TED's own featurization starts from (same arguments).
        key = frozen(self._prediction_states(tracker, domain, rule_only_data=rule_only_data))
        probabilities = self._predictions.get(key)
        if (self.cache_hits + self.cache_misses + 1) % REPORT_EVERY == 0:
            logger.info(f"TED: {self.cache_hits} of {self.cache_hits + self.cache_misses} "
                        f"predictions from memory, {len(self._predictions)} dialogue state "
                        f"sequences kept")
        if probabilities is not None:
            self._predictions.move_to_end(key)
            self.cache_hits += 1
            return self._prediction(list(probabilities))
        self.cache_misses += 1
        prediction = super().predict_action_probabilities(
            tracker, domain, rule_only_data, precomputations, **kwargs)
        if not prediction.is_end_to_end_prediction and not prediction.optional_events:
            self._predictions[key] = list(prediction.probabilities)
            while len(self._predictions) > int(self.config["cached_predictions"]):
                self._predictions.popitem(last=False)
        return prediction
