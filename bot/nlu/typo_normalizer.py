"""Tokens with a typo written back to the word they meant, before anything reads them.

"sweatshrts", "refnud", "parcle", "moreee": the word counts have never seen them, the
character n-grams share only part of them, and the sentence encoder cuts them into sub-words
that mean nothing. This component runs after the tokenizer and replaces, in each token's
text (and lemma), a word nobody knows by the training vocabulary's word one slip of the
finger away (a letter dropped, added, changed, or two swapped; two for long words), the most
frequent one if several are. Every component after it (counts, character n-grams, sentence
vectors, the entity CRF) then sees the word. The message text is not changed, so entity
values are still what the shopper typed (the extractors cut them from the text).

A word is "known", and left alone, when the training data has it or the sentence encoder
has it as a whole word (its 30,000-word vocabulary: real English words that the training data
happens not to have, such as "tickets" or "concert", are not "corrected" into shop words).
Only words that appear at least twice in the training data are targets, so one-off typos of
the generated noise are never corrected *to*. Runs of three or more of a letter ("moreee",
"pleeease") are shortened first.

What it keeps in the model: the vocabulary with counts (JSON). Cost per message: a set
look-up per token, and for an unknown word a few dictionary look-ups of its deletions.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, Dict, Iterable, List, Optional, Set, Text, Type

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

VOCABULARY_FILE = "vocabulary.json"
WORD = re.compile(r"^[a-z]+$")
REPEATS = re.compile(r"([a-z])\1{2,}")


LONG = 8  # words this long may have two slips


def deletions(word: str) -> Set[str]:
    """The word with one letter left out, and for long words also with two."""
    once = {word[:i] + word[i + 1:] for i in range(len(word))}
    if len(word) < LONG:
        return once
    return once | {w[:i] + w[i + 1:] for w in once for i in range(len(w))}


def is_subsequence(short: str, long: str) -> bool:
    letters = iter(long)
    return all(letter in letters for letter in short)


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein (optimal string alignment): a swap of neighbours is one edit."""
    previous2, previous = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if (previous2 is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2]
                    and a[i - 2] == b[j - 1]):
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


class Speller:
    """Corrections against a vocabulary with counts (the part without Rasa, tested alone)."""

    def __init__(self, counts: Dict[str, int], also_known: Iterable[str] = (),
                 min_length: int = 4, min_count: int = 2) -> None:
        self.counts = counts
        self.known = set(counts) | set(also_known)
        self.min_length = min_length
        self.index: Dict[str, List[str]] = {}
        for word, count in counts.items():
            if count < min_count or len(word) < min_length - 1:
                continue
            for key in deletions(word) | {word}:
                self.index.setdefault(key, []).append(word)
        self._cache: Dict[str, Optional[str]] = {}

    def correct(self, token: str) -> Optional[str]:
        """The word meant, or None when the token is known or nothing is close enough."""
        word = token.lower()
        if word in self.known or not WORD.match(word) or len(word) < self.min_length:
            return None
        if word not in self._cache:
            self._cache[word] = self._best(word)
        return self._cache[word]

    def _best(self, word: str) -> Optional[str]:
        shortened = REPEATS.sub(r"\1\1", word)
        for candidate in (shortened, REPEATS.sub(r"\1", word)):
            if candidate != word and candidate in self.known:
                return candidate
        word = shortened
        allowed = 2 if len(word) >= LONG else 1
        found = {target for key in deletions(word) | {word}
                 for target in self.index.get(key, ())}
        # Closest first; then a word the typed one is a subsequence of (letters left out, as
        # in texting: "blck" is "black" before "back"); then the most frequent.
        scored = [(edit_distance(word, target), not is_subsequence(word, target),
                   -self.counts[target], target) for target in found]
        scored = [s for s in scored if s[0] <= allowed]
        return min(scored)[3] if scored else None


def encoder_words() -> Set[str]:
    """Whole words of the sentence encoder's vocabulary (no sub-word pieces)."""
    from .sentence_featurizer import installed_model_dir

    lines = (installed_model_dir() / "vocab.txt").read_text(encoding="utf-8").splitlines()
    return {line for line in lines if WORD.match(line)}


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER,
                          is_trainable=True)
class TypoNormalizer(GraphComponent):
    """Writes a misspelt token's text back to the training vocabulary's word."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # min_length: shorter words are left alone ("u", "pls", "thx" are shorthand, and
        # three-letter words are one edit from too many others).
        return {"min_length": 4, "min_count": 2}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage,
                 resource: Resource, counts: Optional[Dict[str, int]] = None) -> None:
        self.config = config
        self._model_storage, self._resource = model_storage, resource
        self.speller: Optional[Speller] = None
        if counts is not None:
            self._build(counts)

    def _build(self, counts: Dict[str, int]) -> None:
        self.speller = Speller(counts, encoder_words(), self.config["min_length"],
                               self.config["min_count"])

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "TypoNormalizer":
        return cls(config, model_storage, resource)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "TypoNormalizer":
        with model_storage.read_from(resource) as directory:
            counts = json.loads((directory / VOCABULARY_FILE).read_text(encoding="utf-8"))
        return cls(config, model_storage, resource, counts)

    def train(self, training_data: TrainingData) -> Resource:
        counts: Counter = Counter()
        for message in training_data.training_examples:
            for token in message.get(TOKENS_NAMES[TEXT]) or []:
                counts[token.text.lower()] += 1
        # The catalog's words (lookup tables: product types, brands, colours) count too.
        for table in training_data.lookup_tables:
            for element in table.get("elements") or []:
                for word in str(element).lower().split():
                    counts[word] += 2
        counts = {w: c for w, c in counts.items() if WORD.match(w)}
        with self._model_storage.write_to(self._resource) as directory:
            (directory / VOCABULARY_FILE).write_text(json.dumps(counts, sort_keys=True),
                                                      encoding="utf-8")
        self._build(counts)
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        # Words of the training data are its own vocabulary: nothing to correct.
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        if self.speller is None:
            return messages
        for message in messages:
            for token in message.get(TOKENS_NAMES[TEXT]) or []:
                meant = self.speller.correct(token.text)
                if meant:
                    token.text = meant
                    token.lemma = meant
        return messages
