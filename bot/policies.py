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
memoization and rule policies otherwise unchanged, but for the rule policy's shortcuts
below) take the dialogue states they predict
from out of one shared store (bot/dialogue_states.py): computed once for the three, and
between two predictions of a conversation only for the events appended since, where Rasa
recomputes them from the first event of the session at every call. Their setting
``kept_dialogues`` (default 500) is how many conversations the store keeps (the largest of
the policies' values); 0 gives that policy Rasa's own computation. The memoization and rule
policies report their predictions under Rasa's names (``MemoizationPolicy``,
``RulePolicy``), so the events a conversation records are the same as with Rasa's classes.

The loaded ``CachedRulePolicy`` also skips work whose result a prediction does not use or
finds it with less: the rules that apply come from an index (bot/rule_matching.py), the
states are formatted for Rasa's debug line only when that line can be logged, and the whole
conversation's JSON (Rasa's name for "no rule applied") is made only when it could be one
of the rules not in the stories. Same predictions (bot/tests/policies/test_rule_matching.py);
``fast_rule_matching: false`` in its config.yml entry gives Rasa's own work.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Set, Text

import structlog
from structlog import _native as structlog_native

from rasa.core.featurizers.precomputation import MessageContainerForCoreFeaturization
from rasa.core.policies.memoization import MemoizationPolicy
from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.core.policies import rule_policy as rule_policy_module
from rasa.core.policies.rule_policy import RULES_NOT_IN_STORIES, RulePolicy
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import TEXT

from bot.dialogue_states import SHARED
from bot.rule_matching import RuleIndex

logger = logging.getLogger(__name__)

REPORT_EVERY = 1000  # predictions between two log lines on how many came from memory
KEPT_DIALOGUES = 500  # conversations whose dialogue states are kept, by default
# the rule policy's name for "no rule applied" when Rasa's (a conversation's JSON) would be
# none of its hidden rules either (CachedRulePolicy._create_feature_key)
NOT_A_HIDDEN_RULE = "(no rule applies: bot.policies.CachedRulePolicy)"


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
            policy.featurizer._create_states = SHARED.for_featurizer(policy.featurizer)
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


def rule_debug_logged() -> bool:
    """Whether Rasa's rule policy's ``structlogger.debug`` lines can be logged at all: False
    when its logger is structlog's filtering logger above DEBUG (``rasa run`` at its default
    level, or any level but DEBUG), whose ``debug`` does nothing. The logger is the one the
    policy's lazy ``structlogger`` settled on (``cache_logger_on_first_use``, as Rasa
    configures it), else the one structlog's configuration makes now."""
    nop = getattr(structlog_native, "_nop", None)
    if nop is None:
        return True
    proxy = rule_policy_module.structlogger
    if "bind" in getattr(proxy, "__dict__", {}):  # settled: its bind() is that logger
        wrapper = type(proxy.bind())
    else:
        wrapper = structlog.get_config().get("wrapper_class")
    return getattr(wrapper, "debug", None) is not nop


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class CachedRulePolicy(SharedDialogueStates, RulePolicy):
    """Rasa's RulePolicy, with the dialogue states kept (bot/dialogue_states.py) and, once
    loaded for predictions, less work for the same predictions (``fast_rules``):

    - the rules that apply to the dialogue's states are found with an index
      (bot/rule_matching.py) instead of checking every rule against every state;
    - all the states are formatted for Rasa's debug line ("rule_policy.actions.find") only
      when that line can be logged (``rule_debug_logged``);
    - when no rule applies, the JSON of the whole conversation Rasa makes to name the
      prediction's source is made only if it could be one of the rules not in the stories
      (``_create_feature_key``), the one thing a prediction takes from it.

    ``fast_rule_matching: false`` in its config.yml entry turns that off (it is on by default,
    not part of the trained configuration); training, and Rasa's checks of the rules during
    training, are Rasa's own either way.
    """

    fast_rules = False  # set on the loaded policy (``load``); the bench switches it
    _only_hidden_rules_matter = threading.local()  # within predict_action_probabilities
    rule_index_fallbacks = 0  # calls that asked Rasa (two found keys of the longest length)

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**RulePolicy.get_default_config(), "kept_dialogues": KEPT_DIALOGUES}

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> Policy:
        policy = super().load(config, model_storage, resource, execution_context, **kwargs)
        policy.fast_rules = bool(policy.config.get("fast_rule_matching", True))
        return policy

    def format_tracker_states(self, states: List[Dict]) -> Text:  # type: ignore[override]
        """Rasa's formatting, for its debug line only: skipped when the line is dropped."""
        if self.fast_rules and not rule_debug_logged():
            return ""
        return Policy.format_tracker_states(states)

    def _get_possible_keys(self, lookup: Dict[Text, Text], states: List[State]) -> Set[Text]:
        if self.fast_rules:
            index = self._rule_index(lookup)
            keys = None if index is None else index.possible_keys(states)
            if keys is not None:
                return keys
            self.rule_index_fallbacks += 1
        return super()._get_possible_keys(lookup, states)

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: Optional[Dict[Text, Any]] = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        """Rasa's prediction. Of the name of the rule it used (``_predict``'s second
        answer, which this method drops), only whether it is one of the rules not in
        the stories (``hide_rule_turn``) is kept; see ``_create_feature_key``."""
        if not self.fast_rules:
            return super().predict_action_probabilities(
                tracker, domain, rule_only_data, **kwargs)
        self._only_hidden_rules_matter.active = True
        try:
            return super().predict_action_probabilities(
                tracker, domain, rule_only_data, **kwargs)
        finally:
            self._only_hidden_rules_matter.active = False

    def _create_feature_key(self, states: List[State]) -> Optional[Text]:
        """Rasa's key of the states (when no rule applies, Rasa names the prediction's
        source with it: the JSON of every state since the last rule snippet, a whole
        conversation's). Within ``predict_action_probabilities`` that name only decides
        ``hide_rule_turn`` (is it one of ``lookup[RULES_NOT_IN_STORIES]``?); when no entry
        there has as many states, the JSON cannot be one of them and is not made: a name
        that is none of them stands for it."""
        if (self.fast_rules and getattr(self._only_hidden_rules_matter, "active", False)):
            new_states = 0
            for state in reversed(states):
                if self._is_rule_snippet_state(state):
                    break
                new_states += 1
            lengths = self._hidden_rule_lengths()
            if new_states and lengths is not None and new_states not in lengths:
                return NOT_A_HIDDEN_RULE
        return super()._create_feature_key(states)

    def _hidden_rule_lengths(self) -> Optional[Set[int]]:
        """How many states each of ``lookup[RULES_NOT_IN_STORIES]`` has (an entry that is
        not a JSON list has none); None if one is named ``NOT_A_HIDDEN_RULE``."""
        entries = self.lookup.get(RULES_NOT_IN_STORIES, [])
        kept = self.__dict__.get("_hidden_lengths")
        if kept is None or kept[0] is not entries or kept[1] != len(entries):
            lengths: Optional[Set[int]] = set()
            for entry in entries:
                if entry == NOT_A_HIDDEN_RULE:
                    lengths = None
                    break
                try:
                    parsed = json.loads(entry) if isinstance(entry, str) else None
                except ValueError:
                    parsed = None
                if isinstance(parsed, list):
                    lengths.add(len(parsed))  # type: ignore[union-attr]
            kept = self.__dict__["_hidden_lengths"] = (entries, len(entries), lengths)
        return kept[2]

    def _rule_index(self, lookup: Dict[Text, Text]) -> Optional[RuleIndex]:
        """The lookup's index, made at its first use (None: a rule it cannot read)."""
        indexes = self.__dict__.setdefault("_rule_indexes", {})
        kept = indexes.get(id(lookup))
        if kept is None or kept[0] is not lookup or kept[1] != len(lookup):
            try:
                index: Optional[RuleIndex] = RuleIndex(lookup)
            except (ValueError, TypeError, AttributeError):
                logger.warning("A rule the index cannot read: Rasa matches the rules itself.")
                index = None
            kept = indexes[id(lookup)] = (lookup, len(lookup), index)
        return kept[2]

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
