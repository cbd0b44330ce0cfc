"""Turning what a shopper types into search terms, and correcting typos against the catalog.

Typo tolerance works on a vocabulary of the words that name things in the catalog (titles,
brands, categories, product types, tags, colours), kept in ``search_terms`` by the indexer.
A query word that is not in it is replaced by the most frequent vocabulary word within a
small edit distance (1 for short words, 2 for long ones), found through a symmetric-delete
index so a lookup costs a few dictionary probes, not a scan of the vocabulary.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_TERMS = 8

STOPWORDS = frozenset("""
a an the and or for with without of to in on at by from my me i im want need looking look show
find some any please pair pairs something that this these those is are be it its you your our
we do does have has get buy new""".split())


def words(text: str) -> list[str]:
    """Lower-case words of a text (letters and digits only)."""
    return WORD.findall(text.lower())


def query_terms(q: str) -> list[str]:
    """The words of a query worth matching: no stop words, no one-letter words, at most 8."""
    terms = [w for w in words(q) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    return terms[:MAX_TERMS]


COMPOUND = re.compile(r"[^\W_]+(?:-[^\W_]+)+", re.UNICODE)
MAX_PHRASES = 4


def query_phrases(q: str) -> list[str]:
    """The word sequences of a query that may name one thing: hyphenated compounds ("t-shirts"
    → t, shirts) and each pair of neighbouring words worth matching ("rain jacket"). A product
    whose title or keywords hold one of them ranks before those holding only its parts (a
    T-shirt before a denim shirt). At most four, as written ("t-shirts", "rain jacket"): the
    database's own parser splits them the way it split the titles."""
    phrases: list[str] = []
    for compound in COMPOUND.findall(q.lower()):
        if compound not in phrases:
            phrases.append(compound)
    for segment in COMPOUND.split(q.lower()):  # neighbours only, not across a compound
        previous = None
        for word in words(segment):
            if word in STOPWORDS or len(word) < 2:
                previous = None
                continue
            if previous and f"{previous} {word}" not in phrases:
                phrases.append(f"{previous} {word}")
            previous = word
    return phrases[:MAX_PHRASES]


def singulars(word: str) -> set[str]:
    """Crude singulars ("hoodies" -> hoodie, hoody), only to tell whether a plural is a known
    word: matching itself is done by the index's stemmer."""
    out = set()
    if word.endswith("ies") and len(word) > 4:
        out.add(word[:-3] + "y")
    if word.endswith(("ses", "xes", "shes", "ches")):
        out.add(word[:-2])
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        out.add(word[:-1])
    return out


def _max_distance(word: str) -> int:
    return 0 if len(word) < 4 else 1 if len(word) < 8 else 2


def _deletes(word: str, depth: int) -> set[str]:
    found = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w))}
        found |= frontier
    return found


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment): a swap counts as one edit."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


@dataclass
class Vocabulary:
    frequency: dict[str, int] = field(default_factory=dict)
    loaded_at: float = field(default_factory=time.monotonic)
    _index: dict[str, list[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, frequency: dict[str, int]) -> "Vocabulary":
        vocab = cls(frequency=dict(frequency))
        for word in vocab.frequency:
            for key in _deletes(word, _max_distance(word) or 1):
                vocab._index.setdefault(key, []).append(word)
        return vocab

    def knows(self, word: str) -> bool:
        return (word in self.frequency or word.isdigit()
                or any(w in self.frequency for w in singulars(word)))

    def correct(self, word: str) -> str | None:
        """The best known word for a misspelt one, or None when nothing is close enough."""
        if self.knows(word):
            return word
        limit = _max_distance(word)
        if not limit:
            return None
        candidates: set[str] = set()
        for key in _deletes(word, limit):
            candidates.update(self._index.get(key, ()))
        best: tuple[int, int, str] | None = None
        for candidate in candidates:
            distance = edit_distance(word, candidate)
            if distance <= limit:
                rank = (distance, -self.frequency[candidate], candidate)
                best = min(best, rank) if best else rank
        return best[2] if best else None

    def correct_all(self, terms: Iterable[str]) -> list[str]:
        """Corrected terms; unknown words with no close match are dropped."""
        out = []
        for term in terms:
            fixed = self.correct(term)
            if fixed and fixed not in out:
                out.append(fixed)
        return out
