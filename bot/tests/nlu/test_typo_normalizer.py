"""The typo normaliser (bot/nlu/typo_normalizer.py): what it corrects, what it leaves alone,
and that inside a real Rasa pipeline the components after it see the word meant while the
entity values stay as typed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from rasa.core.agent import Agent
from rasa.model_training import train_nlu

from bot.nlu.typo_normalizer import Speller, edit_distance

COUNTS = {"black": 40, "back": 90, "parcel": 30, "refund": 50, "more": 60, "hoodies": 25,
          "order": 80, "track": 30, "where": 70, "cancel": 40, "sweater": 2, "sweaters": 1,
          "reund": 1}


@pytest.fixture(scope="module")
def speller() -> Speller:
    return Speller(COUNTS, also_known={"tickets", "concert", "the"})


@pytest.mark.parametrize("typed, meant", [
    ("parcle", "parcel"),      # two letters swapped
    ("refnd", "refund"),       # a letter left out
    ("reffund", "refund"),     # a letter doubled
    ("cancwl", "cancel"),      # the key next to it
    ("moreee", "more"),        # a letter held down
    ("blck", "black"),         # texting leaves letters out: "black", not "back"
    ("HOODIS", "hoodies"),     # case does not matter
])
def test_a_slip_of_the_finger_is_written_back(speller, typed, meant):
    assert speller.correct(typed) == meant


@pytest.mark.parametrize("word", [
    "parcel",      # in the vocabulary
    "tickets",     # a real word the training data lacks: not made into a shop word
    "u", "pls",    # short words and shorthand are left alone
    "KX-48213",    # not a word: order numbers, e-mails, prices
    "xyzzyq",      # nothing close
    "reund",       # a one-off typo of the training data is known, never a target...
])
def test_known_short_and_unrelated_words_are_left_alone(speller, word):
    assert speller.correct(word) is None


def test_rare_training_words_are_not_targets(speller):
    # "sweaters" appears once in the training data: "sweatrs" is not made into it, while
    # "sweatr" (one edit from "sweater", seen twice) is.
    assert speller.correct("sweatr") == "sweater"
    assert speller.correct("sweatrs") is None


def test_long_words_may_have_two_slips():
    speller = Speller({"reimbursement": 5, "tracking": 5})
    assert speller.correct("reimbursment") == "reimbursement"
    assert speller.correct("reinbursment") == "reimbursement"
    assert speller.correct("trakcng") is None  # seven letters: one slip only


def test_edit_distance_counts_a_swap_as_one():
    assert edit_distance("parcle", "parcel") == 1
    assert edit_distance("refund", "refund") == 0
    assert edit_distance("abc", "xyz") == 3


CONFIG = {
    "recipe": "default.v1", "language": "en", "assistant_id": "test",
    "pipeline": [
        {"name": "WhitespaceTokenizer"},
        {"name": "bot.nlu.typo_normalizer.TypoNormalizer"},
        {"name": "CountVectorsFeaturizer"},
        {"name": "bot.nlu.sentence_featurizer.SentenceFeaturizer"},
        {"name": "bot.nlu.intent_classifier.TwoViewIntentClassifier"},
        {"name": "bot.nlu.entity_extractor.SavedCRFEntityExtractor"},
    ],
    "policies": [],
}
NLU = {
    "track_order": ["where is my parcel", "track my parcel", "has my parcel shipped",
                    "where is my order", "my parcel is late", "when will my parcel arrive"],
    "search_products": [f"do you have [{c}](color) hoodies" for c in
                        ("black", "blue", "green", "red", "black", "grey")],
    "greet": ["hi", "hello", "hey there", "good morning", "hiya", "hello hello"],
}


@pytest.fixture(scope="module")
def parse(tmp_path_factory):
    directory = tmp_path_factory.mktemp("typo")
    (directory / "config.yml").write_text(yaml.safe_dump(CONFIG))
    (directory / "domain.yml").write_text(yaml.safe_dump(
        {"version": "3.1", "intents": list(NLU), "entities": ["color"]}))
    blocks = [{"intent": name, "examples": "".join(f"- {e}\n" for e in examples)}
              for name, examples in NLU.items()]
    (directory / "nlu.yml").write_text(yaml.safe_dump({"version": "3.1", "nlu": blocks}))
    model = train_nlu(str(directory / "config.yml"), str(directory / "nlu.yml"),
                      output=str(directory / "models"), domain=str(directory / "domain.yml"),
                      fixed_model_name="nlu")
    agent = Agent.load(str(Path(model)))
    loop = asyncio.new_event_loop()
    yield lambda text: loop.run_until_complete(agent.parse_message(text))
    loop.close()


def test_in_a_pipeline_the_word_meant_is_read_and_the_text_kept(parse):
    result = parse("whre is my parcle")
    assert result["intent"]["name"] == "track_order"
    assert result["text"] == "whre is my parcle"
    found = parse("do you have blakc hoodies")
    assert found["intent"]["name"] == "search_products"
    assert [(e["entity"], e["value"]) for e in found["entities"]] == [("color", "blakc")]
