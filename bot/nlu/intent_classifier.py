"""Intents, and the answer of retrieval intents, from two views of a message.

A Rasa 3.6 graph component that takes the place of both the intent classifier and the
ResponseSelector:

- The counts view: the sparse sentence features (word and character n-gram counts, lookup
  table and regex matches) as presence features in a multinomial logistic regression. It
  knows the exact words and typos of the training data well.
- The meaning view: the dense sentence vectors of the pretrained encoder
  (``SentenceFeaturizer``) in a second logistic regression. It carries over to phrasings
  the training data never had ("I'd prefer speaking to a member of staff").

The two probability vectors are combined as a weighted geometric mean (a product of
experts): a label wins when both views find it plausible. Measured on this project's data
(docs/nlu-evaluation.md), the combination beats either view alone, on the cross-validation
and on held-out phrasings alike.

Labels are the fine ones: ``faq/shipping_times`` rather than ``faq``. The intent's
probability is the sum over its answers, and for each retrieval intent the best answer is
written where Rasa's ResponseSelector writes it (``response_selector`` in the parse data),
so ``utter_faq`` and ``rasa test nlu`` read it unchanged. Every intent weighs the same in
training, however many answers it has.

What is kept in the Rasa model is only the weights (numpy arrays in an .npz, no pickles) and
the answers' responses (JSON); prediction is a matrix product and a softmax. Training takes
seconds, where DIET and a ResponseSelector took minutes on 2 cores.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections import Counter
from typing import Any, Dict, List, Optional, Text, Tuple, Type

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.nlu.constants import (RESPONSE_SELECTOR_DEFAULT_INTENT,
                                RESPONSE_SELECTOR_PREDICTION_KEY,
                                RESPONSE_SELECTOR_PROPERTY_NAME, RESPONSE_SELECTOR_RANKING_KEY,
                                RESPONSE_SELECTOR_RESPONSES_KEY,
                                RESPONSE_SELECTOR_RETRIEVAL_INTENTS,
                                RESPONSE_SELECTOR_UTTER_ACTION_KEY)
from rasa.shared.exceptions import RasaException
from rasa.shared.nlu.constants import (FEATURE_TYPE_SENTENCE, INTENT, INTENT_RESPONSE_KEY,
                                      PREDICTED_CONFIDENCE_KEY, TEXT)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "weights.npz"
RESPONSES_FILE = "responses.json"

# Rasa's recipe validator warns when retrieval examples are present without its own
# ResponseSelector; here this component selects the answers.
warnings.filterwarnings("ignore", message="You have defined training data with examples "
                        "for training a response selector")


def _log_softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1, keepdims=True)
    return scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))


def intent_weights(labels: np.ndarray) -> np.ndarray:
    """Sample weights giving every intent the same total weight, shared equally among its
    answers ("faq/returns_policy" and "faq/contact" split faq's share)."""
    intent_of = np.asarray([label.split("/")[0] for label in labels])
    per_label, per_intent = Counter(labels.tolist()), Counter(intent_of.tolist())
    answers = Counter(intent.split("/")[0] for intent in per_label)
    total, intents = len(labels), len(per_intent)
    return np.asarray([total / (intents * answers[intent] * per_label[label])
                       for label, intent in zip(labels.tolist(), intent_of.tolist())])


class LinearView:
    """A trained multinomial logistic regression, kept as its weights."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        self.coef, self.intercept = coef, intercept
        # (features, labels), contiguous: a sparse message times a transposed view would
        # copy the whole matrix (4 MB for the counts view) on every message.
        self._by_feature = np.ascontiguousarray(coef.T)

    @classmethod
    def fit(cls, features, labels: np.ndarray, weights: np.ndarray, c: float, tol: float,
            max_iter: int) -> "LinearView":
        from sklearn.linear_model import LogisticRegression  # training only

        model = LogisticRegression(C=c, tol=tol, max_iter=max_iter, solver="lbfgs")
        with warnings.catch_warnings():
            # A loose tolerance stops lbfgs early on purpose (see the config).
            warnings.simplefilter("ignore", category=UserWarning)
            model.fit(features, labels, sample_weight=weights)
        return cls(model.coef_.astype(np.float32), model.intercept_.astype(np.float32))

    def log_probabilities(self, features) -> np.ndarray:
        scores = features @ self._by_feature
        scores = np.asarray(scores.todense() if scipy.sparse.issparse(scores) else scores)
        return _log_softmax(scores + self.intercept)


def sentence_features(message: Message, sparse: bool, origins: List[Text]) -> Any:
    """The text's sentence features of the featurizers named in ``origins`` (all if none),
    side by side in the order they were added: the sentence part of Rasa's
    ``Message.get_sparse_features`` / ``get_dense_features``, the same matrix, without
    also copying and combining every featurizer's token-by-vocabulary sequence features
    (which this classifier does not use, and which cost more than the rest of it)."""
    parts = [f.features for f in message.features
             if f.attribute == TEXT and f.type == FEATURE_TYPE_SENTENCE
             and f.is_sparse() == sparse and (not origins or f.origin in origins)]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return scipy.sparse.hstack(parts) if sparse else np.concatenate(parts, axis=-1)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER,
                          is_trainable=True)
class TwoViewIntentClassifier(IntentClassifier, GraphComponent):
    """Counts view and meaning view, combined as a weighted geometric mean."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [Featurizer]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            # Names of the featurizers whose dense sentence features form the meaning view
            # (the sparse features of every featurizer form the counts view).
            "dense_featurizers": ["sentence_vectors"],
            # Inverse regularisation strength of each view's logistic regression.
            "counts_c": 10.0,
            "meaning_c": 10.0,
            # Weight of the counts view in the geometric mean (the meaning view: 1 - it).
            "counts_weight": 0.5,
            # lbfgs stopping tolerance. scikit-learn 1.1 (Rasa 3.6's) sums the loss over the
            # examples rather than averaging it, so its default 1e-4 is very strict: 0.1
            # stops in a quarter of the iterations for the same predictions within 0.1 %.
            "tol": 0.1,
            "max_iter": 1000,
            "ranking_length": 10,
        }

    @staticmethod
    def required_packages() -> List[Text]:
        return ["sklearn", "scipy", "numpy"]

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage,
                 resource: Resource, labels: Optional[np.ndarray] = None,
                 counts: Optional[LinearView] = None, meaning: Optional[LinearView] = None,
                 responses: Optional[Dict[Text, List[Dict[Text, Any]]]] = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage, self._resource = model_storage, resource
        self.counts, self.meaning = counts, meaning
        self.responses = responses or {}
        self._set_labels(labels)

    def _set_labels(self, labels: Optional[np.ndarray]) -> None:
        self.labels = labels
        if labels is None:
            return
        intent_of = [str(label).split("/")[0] for label in labels]
        self.intents = sorted(set(intent_of))
        index = {name: i for i, name in enumerate(self.intents)}
        # (fine labels x intents): summing a label's probability into its intent
        self._to_intent = np.zeros((len(labels), len(self.intents)), dtype=np.float64)
        for row, intent in enumerate(intent_of):
            self._to_intent[row, index[intent]] = 1.0
        self.retrieval_intents = sorted({i for label, i in zip(labels, intent_of)
                                         if "/" in str(label)})

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        if not 0.0 <= float(config.get("counts_weight", 0.5)) <= 1.0:
            raise RasaException("TwoViewIntentClassifier: counts_weight must be in [0, 1]")

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "TwoViewIntentClassifier":
        return cls(config, model_storage, resource)

    # --- features -----------------------------------------------------------------------

    def _views(self, messages: List[Message]) -> Tuple[scipy.sparse.csr_matrix, np.ndarray]:
        dense_names = list(self.config["dense_featurizers"])
        counts_rows, meaning_rows = [], []
        for message in messages:
            sparse_sentence = sentence_features(message, True, [])
            dense_sentence = sentence_features(message, False, dense_names)
            if sparse_sentence is None or dense_sentence is None:
                raise RasaException(
                    "TwoViewIntentClassifier needs sparse sentence features (e.g. "
                    "CountVectorsFeaturizer) and the dense sentence features of "
                    f"{dense_names} before it in the pipeline.")
            counts_rows.append(scipy.sparse.csr_matrix(sparse_sentence))
            meaning_rows.append(np.asarray(dense_sentence, dtype=np.float32))
        counts = scipy.sparse.vstack(counts_rows).tocsr().astype(np.float32)
        counts.data[:] = counts.data > 0  # presence: short messages rarely repeat a word
        return counts, np.vstack(meaning_rows).astype(np.float32)

    # --- training and persistence ---------------------------------------------------------

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if not examples:
            logger.debug("TwoViewIntentClassifier: no intent examples, nothing trained")
            return self._resource
        labels = np.asarray([e.get(INTENT_RESPONSE_KEY) or e.get(INTENT) for e in examples])
        weights = intent_weights(labels)
        counts_x, meaning_x = self._views(examples)
        tol, max_iter = float(self.config["tol"]), int(self.config["max_iter"])
        self.counts = LinearView.fit(counts_x, labels, weights, float(self.config["counts_c"]),
                                     tol, max_iter)
        self.meaning = LinearView.fit(meaning_x, labels, weights,
                                      float(self.config["meaning_c"]), tol, max_iter)
        self._set_labels(np.unique(labels))  # the order of scikit-learn's classes_
        self.responses = {key: value for key, value in training_data.responses.items()
                          if "/" in key}
        self.persist()
        return self._resource

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as directory:
            np.savez(directory / WEIGHTS_FILE, labels=self.labels.astype(str),
                     counts_coef=self.counts.coef, counts_intercept=self.counts.intercept,
                     meaning_coef=self.meaning.coef, meaning_intercept=self.meaning.intercept)
            (directory / RESPONSES_FILE).write_text(json.dumps(self.responses),
                                                    encoding="utf-8")

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "TwoViewIntentClassifier":
        try:
            with model_storage.read_from(resource) as directory:
                with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as saved:
                    views = {name: LinearView(saved[f"{name}_coef"],
                                              saved[f"{name}_intercept"])
                             for name in ("counts", "meaning")}
                    labels = saved["labels"]
                responses = json.loads((directory / RESPONSES_FILE).read_text("utf-8"))
        except (ValueError, FileNotFoundError):
            logger.debug("TwoViewIntentClassifier: no trained weights, untrained component")
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, labels=labels, responses=responses,
                   **views)

    # --- prediction -----------------------------------------------------------------------

    def label_probabilities(self, messages: List[Message]) -> np.ndarray:
        """(messages x fine labels) probabilities of the combined views."""
        counts_x, meaning_x = self._views(messages)
        weight = float(self.config["counts_weight"])
        combined = _log_softmax(weight * self.counts.log_probabilities(counts_x)
                                + (1.0 - weight) * self.meaning.log_probabilities(meaning_x))
        return np.exp(combined)

    def process(self, messages: List[Message]) -> List[Message]:
        with_text = [m for m in messages if (m.get(TEXT) or "").strip()]
        written = {id(m) for m in with_text}
        for message in messages:
            if id(message) not in written and not message.get(INTENT):
                # nothing written (an empty or blank message): no intent, as Rasa's own
                # classifiers say it, which the fallback then turns into nlu_fallback
                message.set(INTENT, {"name": None, PREDICTED_CONFIDENCE_KEY: 0.0},
                            add_to_output=True)
                message.set("intent_ranking", [], add_to_output=True)
        if self.labels is None or not with_text:
            return messages
        probabilities = self.label_probabilities(with_text)
        for message, row in zip(with_text, probabilities):
            intent_probabilities = row @ self._to_intent
            order = np.argsort(-intent_probabilities)
            ranking = [{"name": self.intents[i], "confidence": float(intent_probabilities[i])}
                       for i in order]
            length = int(self.config["ranking_length"])
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking[:length] if length > 0 else ranking,
                        add_to_output=True)
            if self.retrieval_intents:
                message.set(RESPONSE_SELECTOR_PROPERTY_NAME, self._selections(row),
                            add_to_output=True)
        return messages

    def _selections(self, row: np.ndarray) -> Dict[Text, Any]:
        """The best answer of each retrieval intent, in the ResponseSelector's format (its
        confidence given the intent), and under "default" the best answer overall."""
        selections: Dict[Text, Any] = {RESPONSE_SELECTOR_RETRIEVAL_INTENTS:
                                       self.retrieval_intents}
        best_overall, best_probability = None, -1.0
        for intent in self.retrieval_intents:
            answers = [i for i, label in enumerate(self.labels)
                       if str(label).startswith(intent + "/")]
            total = float(row[answers].sum()) or 1.0
            ranked = sorted(answers, key=lambda i: -row[i])
            key = str(self.labels[ranked[0]])
            utter = f"utter_{key}"
            selections[intent] = {
                RESPONSE_SELECTOR_PREDICTION_KEY: {
                    RESPONSE_SELECTOR_RESPONSES_KEY: self.responses.get(utter, [{TEXT: key}]),
                    PREDICTED_CONFIDENCE_KEY: float(row[ranked[0]]) / total,
                    INTENT_RESPONSE_KEY: key,
                    RESPONSE_SELECTOR_UTTER_ACTION_KEY: utter,
                },
                RESPONSE_SELECTOR_RANKING_KEY: [
                    {PREDICTED_CONFIDENCE_KEY: float(row[i]) / total,
                     INTENT_RESPONSE_KEY: str(self.labels[i])}
                    for i in ranked[:int(self.config["ranking_length"]) or None]],
            }
            if row[ranked[0]] > best_probability:
                best_overall, best_probability = intent, float(row[ranked[0]])
        selections[RESPONSE_SELECTOR_DEFAULT_INTENT] = selections[best_overall]
        return selections

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
