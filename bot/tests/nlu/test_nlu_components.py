"""Aisle's NLU components inside a real Rasa pipeline: trained with `rasa.model_training`,
loaded back as Rasa loads a model, and asked what Rasa asks them.

A small training set keeps this to seconds; the project's own data and figures are measured
by bench/nlu_cross_validation.py.
"""

from __future__ import annotations

import asyncio
import gc
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import yaml
from rasa.core.agent import Agent
from rasa.model_training import train_nlu

CONFIG = {
    "recipe": "default.v1", "language": "en", "assistant_id": "test",
    "pipeline": [
        {"name": "bot.nlu.emoji_words.EmojiWordsTokenizer"},
        {"name": "CountVectorsFeaturizer"},
        {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1,
         "max_ngram": 4},
        {"name": "bot.nlu.sentence_featurizer.SentenceFeaturizer"},
        {"name": "bot.nlu.intent_classifier.TwoViewIntentClassifier"},
        {"name": "bot.nlu.other_business.OtherBusinessGuard"},
        {"name": "bot.nlu.entity_extractor.SavedCRFEntityExtractor"},
        {"name": "bot.nlu.size_mentions.SizeMentionExtractor"},
        {"name": "FallbackClassifier", "threshold": 0.3},
    ],
    "policies": [],
}

INTENTS = {
    "greet": ["hi", "hello", "hey there", "good morning", "hiya", "hello, anyone there?"],
    "track_order": ["where is my order", "track my parcel", "has my order shipped",
                    "when will my package arrive", "order status please",
                    "is my delivery on the way"],
    "search_products": [f"do you have [{c}](color) {t}" for c, t in (
        ("red", "hoodies"), ("blue", "jeans"), ("green", "scarves"), ("black", "boots"))] + [
        f"show me [{c}](color) {t} please" for c, t in (
            ("navy", "jackets"), ("white", "shirts"), ("red", "dresses"), ("grey", "socks"))],
    "human_handoff": ["talk to a human", "I want a real person", "get me an agent",
                      "customer service please", "connect me to support staff",
                      "can I speak to someone"],
    "out_of_scope": ["what's the capital of France", "book me a table for two",
                     "write me a poem", "what's the weather on mars", "play some music",
                     "solve this equation"],
}
# The catalog's own brands (bot/data/lookups): one of them is also a high-street chain.
LOOKUPS = {"brand": ["Uniqlo", "Acme"]}
ANSWERS = {
    "faq/shipping_costs": ["how much is shipping", "is delivery free", "shipping costs?",
                           "what does postage cost", "delivery fee", "free shipping?"],
    "faq/returns_policy": ["what is your return policy", "can I send things back",
                           "how long do I have to return", "returns policy",
                           "are returns free", "return window"],
    "chitchat/ask_name": ["what is your name", "who are you", "what should I call you",
                          "do you have a name", "your name?", "what are you called"],
}
DOMAIN = {
    "version": "3.1",
    "intents": [*INTENTS, "faq", "chitchat"],
    "entities": ["color"],
    "responses": {f"utter_{key}": [{"text": f"answer for {key}"}] for key in ANSWERS},
}


def _nlu_yaml() -> str:
    blocks = [{"intent": name, "examples": "".join(f"- {e}\n" for e in examples)}
              for name, examples in {**INTENTS, **ANSWERS}.items()]
    blocks += [{"lookup": name, "examples": "".join(f"- {e}\n" for e in values)}
               for name, values in LOOKUPS.items()]
    return yaml.safe_dump({"version": "3.1", "nlu": blocks}, sort_keys=False)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("nlu")
    (directory / "config.yml").write_text(yaml.safe_dump(CONFIG))
    (directory / "domain.yml").write_text(yaml.safe_dump(DOMAIN))
    (directory / "nlu.yml").write_text(_nlu_yaml())
    path = train_nlu(str(directory / "config.yml"), str(directory / "nlu.yml"),
                     output=str(directory / "models"), domain=str(directory / "domain.yml"),
                     fixed_model_name="nlu")
    return Path(path)


@pytest.fixture(scope="module")
def parse(model):
    agent = Agent.load(str(model))
    loop = asyncio.new_event_loop()
    yield lambda text: loop.run_until_complete(agent.parse_message(text))
    loop.close()


def test_intents_of_training_phrasings_and_of_new_ones(parse):
    assert parse("hello")["intent"]["name"] == "greet"
    assert parse("where's my parcel, has it shipped?")["intent"]["name"] == "track_order"
    # Never in the training data: the meaning view carries it.
    assert parse("I'd prefer speaking to a member of your staff")["intent"]["name"] \
        == "human_handoff"


def test_the_ranking_sums_to_one_and_is_sorted(parse):
    result = parse("how much does delivery cost")
    confidences = [entry["confidence"] for entry in result["intent_ranking"]]
    assert confidences == sorted(confidences, reverse=True)
    assert sum(confidences) == pytest.approx(1.0, abs=1e-5)
    assert result["intent"]["name"] == "faq"


def test_faq_answers_are_selected_where_the_response_selector_puts_them(parse):
    selector = parse("is postage free?")["response_selector"]
    assert selector["all_retrieval_intents"] == ["chitchat", "faq"]
    faq = selector["faq"]["response"]
    assert faq["intent_response_key"] == "faq/shipping_costs"
    assert faq["utter_action"] == "utter_faq/shipping_costs"
    assert faq["responses"] == [{"text": "answer for faq/shipping_costs"}]
    assert 0.0 < faq["confidence"] <= 1.0
    assert selector["default"] == selector["faq"]
    assert parse("what's your name?")["response_selector"]["chitchat"]["response"][
        "intent_response_key"] == "chitchat/ask_name"


def test_another_business_order_is_out_of_scope_whatever_the_verb(parse):
    result = parse("where is my Amazon parcel")
    assert result["intent"] == {"name": "out_of_scope", "confidence": 1.0}
    assert result["other_business"] == {"kind": "retailer", "name": "Amazon",
                                        "instead_of": "track_order"}
    # The classifier's order follows at zero: the fallback's ambiguity check leaves it be.
    assert [r["name"] for r in result["intent_ranking"][:2]] == ["out_of_scope", "track_order"]
    assert sum(r["confidence"] for r in result["intent_ranking"]) == 1.0
    # The shop's own orders are left alone, and so is a brand the catalog sells.
    assert parse("where is my order")["intent"]["name"] == "track_order"
    assert "other_business" not in parse("where is my order")
    assert parse("where is my Uniqlo parcel")["intent"]["name"] == "track_order"


def test_entities_come_from_the_saved_crf(parse):
    entities = parse("do you have red boots")["entities"]
    assert [(e["entity"], e["value"], e["extractor"]) for e in entities] == [
        ("color", "red", "SavedCRFEntityExtractor")]


def test_emoji_are_read_as_the_words_they_stand_for():
    from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.emoji_words import EmojiWordsTokenizer

    def tokens(tokenizer, text):
        return [(t.text, t.start, t.end) for t in tokenizer.tokenize(Message({"text": text}),
                                                                     "text")]

    ours = EmojiWordsTokenizer(EmojiWordsTokenizer.get_default_config())
    rasas = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    # Each emoji of the table is a word at the emoji's own place; the words around it keep
    # their places, so entities found after it are still cut from the right characters.
    assert tokens(ours, "➕🛒 the blue one") == [
        ("add", 0, 1), ("cart", 1, 2), ("the", 3, 6), ("blue", 7, 11), ("one", 12, 15)]
    # Emoji presentation selectors, skin tones and gendered sequences read the same.
    assert tokens(ours, "ok bye ✌️") == [("ok", 0, 2), ("bye", 3, 6), ("bye", 7, 9)]
    assert [t for t, _, _ in tokens(ours, "👍🏽 🙅‍♀️")] == ["ok", "no"]
    # Two stars or more are a rating, read as it is typed; one star is a star.
    assert tokens(ours, "⭐⭐⭐⭐ four") == [("4", 0, 1), ("stars", 1, 4), ("four", 5, 9)]
    assert tokens(ours, "⭐️⭐️⭐️") == [("3", 0, 2), ("stars", 2, 6)]
    assert [t for t, _, _ in tokens(ours, "you're a star ⭐")][-1] == "star"
    # A message of emoji alone is its words (Rasa keeps the whole text as one token).
    assert tokens(rasas, "👍") == [("👍", 0, 1)]
    assert tokens(ours, "👍") == [("ok", 0, 1)]
    # Emoji off the table, and text without emoji, are tokenized exactly as Rasa does.
    for text in ("so annoying 🙄", "hello there :)", "KX-48213, size 10!", "🙃"):
        assert tokens(ours, text) == tokens(rasas, text)
    # An emoji Rasa keeps inside a token of its own stays part of it: no two tokens overlap
    # (an entity ending on an inner token would be cut short).
    for text in ("order 12345🛒6", "http://x.co/1🛒2", "你好 👍", "🛒2 please"):
        assert tokens(ours, text) == tokens(rasas, text)
    assert tokens(ours, "⭐⭐⭐⭐5") == [("4", 0, 1), ("⭐5", 3, 5)]


def test_emoji_tokens_never_overlap_and_stay_inside_the_text():
    import random

    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.emoji_words import EMOJI_WORDS, EmojiWordsTokenizer

    tokenizer = EmojiWordsTokenizer(EmojiWordsTokenizer.get_default_config())
    pieces = [*EMOJI_WORDS, *"ab1 2.,#@/:-⭐★☆", "\u200d", "\ufe0f", "hi", "KX-48213", "你"]
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        found = tokenizer.tokenize(Message({"text": text}), "text")
        assert all(0 <= t.start < t.end <= len(text) for t in found), text
        assert all(a.end <= b.start for a, b in zip(found, found[1:])), text


def test_an_emoji_message_is_understood_and_its_entities_keep_their_place(parse):
    assert parse("📦 ?")["intent"]["name"] == "track_order"
    text = "🛒 do you have red boots"
    entities = parse(text)["entities"]
    assert [(e["entity"], e["value"], text[e["start"]:e["end"]]) for e in entities] == [
        ("color", "red", "red")]


def test_what_follows_the_word_size_is_a_size(parse):
    found = parse("do you have red hoodies in size 10")["entities"]
    assert {(e["entity"], e["value"]) for e in found} >= {("color", "red"), ("size", "10")}
    assert [e["extractor"] for e in found if e["entity"] == "size"] == ["SizeMentionExtractor"]
    assert ("size", "XL") in {(e["entity"], e["value"]) for e in parse("size xl")["entities"]}
    assert not [e for e in parse("do your sizes run small")["entities"] if e["entity"] == "size"]


def test_a_quantity_written_after_size_becomes_the_size():
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.size_mentions import SizeMentionExtractor

    message = Message(data={"text": "add one in size 9 and size 10",
                            "entities": [{"entity": "quantity", "start": 4, "end": 7,
                                          "value": "1", "extractor": "CRF"},
                                         {"entity": "quantity", "start": 26, "end": 28,
                                          "value": "10", "extractor": "CRF"}]})
    SizeMentionExtractor().process([message])
    assert [(e["entity"], e["value"]) for e in message.get("entities")] == [
        ("quantity", "1"), ("size", "9"), ("size", "10")]


def test_the_model_keeps_weights_and_a_fingerprint_not_pickles(model, tmp_path):
    with tarfile.open(model) as archive:
        names = archive.getnames()
        archive.extractall(tmp_path)
    assert any(name.endswith("weights.npz") for name in names)
    assert any(name.endswith("entity.crfsuite") for name in names)
    assert not any(name.endswith("crf_dataset.json") for name in names)
    assert not any(name.endswith((".pkl", ".pickle", ".joblib")) for name in names)
    fingerprints = list(tmp_path.rglob("weights.json"))
    assert len(fingerprints) == 1
    assert len(json.loads(fingerprints[0].read_text())["sha256"]) == 64
    total = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert total < 5_000_000  # the 90 MB of encoder weights stay in the package


def test_other_encoder_weights_are_refused_with_a_clear_message(model, tmp_path,
                                                                monkeypatch):
    import bot.nlu.sentence_featurizer as featurizer

    monkeypatch.setattr(featurizer, "weights_fingerprint", lambda directory: "0" * 64)
    with pytest.raises(Exception, match="not the one this Rasa model was trained with"):
        Agent.load(str(model))


def test_token_vectors_when_asked_one_per_token(tmp_path):
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.sentence_featurizer import SentenceFeaturizer

    context = ExecutionContext(GraphSchema({}), "test")
    storage = LocalModelStorage(tmp_path)
    config = {**SentenceFeaturizer.get_default_config(), "sequence_features": True}
    featurizer = SentenceFeaturizer.create(config, storage, Resource("vectors"), context)
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    message = Message.build(text="supercalifragilistic hoodies, please!")
    tokenizer.process([message])
    featurizer.process([message])
    sequence, sentence = message.get_dense_features("text", ["sentence_vectors"])
    tokens = message.get("text_tokens")
    assert sequence.features.shape == (len(tokens), 384)
    assert sentence.features.shape == (1, 384)
    assert abs(float((sentence.features ** 2).sum()) - 1.0) < 1e-5
    expected = featurizer.encoder.encode([" ".join(t.text for t in tokens)])
    assert abs(sentence.features - expected).max() < 1e-5


def test_training_is_told_from_serving_by_the_graph():
    """Rasa loads the featurizer inside training too (to featurize the training data for
    the components after it); serving's one BLAS thread and frozen collector are only for
    a graph that predicts."""
    from rasa.engine.graph import ExecutionContext
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe
    from rasa.shared.data import TrainingType

    from bot.nlu.sentence_featurizer import is_training

    graphs = DefaultV1Recipe().graph_config_for_recipe(CONFIG, {}, TrainingType.NLU)
    assert is_training(ExecutionContext(graphs.train_schema, "m"))
    assert not is_training(ExecutionContext(graphs.predict_schema, "m"))


def test_a_model_loaded_by_the_server_is_frozen_out_of_full_collections(model):
    """As `rasa run` does it, inside the running event loop: once the model is loaded (not
    before: the rest of the model is still being built), what exists is frozen out of the
    garbage collector's full passes (bot/nlu/serving.py)."""
    gc.unfreeze()

    async def load_as_the_server_does() -> tuple[int, int]:
        Agent.load(str(model))
        while_loading = gc.get_freeze_count()
        await asyncio.sleep(0)  # the loop's next iteration: the model is complete
        return while_loading, gc.get_freeze_count()

    try:
        while_loading, after = asyncio.run(load_as_the_server_does())
    finally:
        gc.unfreeze()
    assert while_loading == 0
    assert after > 100_000  # Rasa, TensorFlow and the model: hundreds of thousands


def test_a_message_seen_recently_is_not_encoded_again(model, monkeypatch):
    from bot.nlu import sentence_featurizer

    agent = Agent.load(str(model))
    encoder = sentence_featurizer.encoder_for(sentence_featurizer.installed_model_dir())
    calls = []
    encode = encoder.encode_tokens
    monkeypatch.setattr(encoder, "encode_tokens", lambda batch: calls.append(batch) or
                        encode(batch))
    loop = asyncio.new_event_loop()
    try:
        first = loop.run_until_complete(agent.parse_message("where's my parcel, has it shipped?"))
        again = loop.run_until_complete(agent.parse_message("where's my parcel, has it shipped?"))
        other = loop.run_until_complete(agent.parse_message("talk to a human please"))
    finally:
        loop.close()
    assert len(calls) == 2  # the repeated message came from memory
    assert again["intent"] == first["intent"]
    assert again["intent_ranking"] == first["intent_ranking"]
    assert other["intent"]["name"] == "human_handoff"


def test_an_empty_or_blank_message_is_a_fallback_not_an_error(parse):
    for text in ("", "   ", "\n\t"):
        parsed = parse(text)
        assert parsed["intent"]["name"] == "nlu_fallback", (text, parsed["intent"])


def test_the_sentence_features_are_the_sentence_part_of_rasas(model, monkeypatch):
    """The classifier takes only the sentence features (intent_classifier.sentence_features):
    the same matrices Rasa's get_sparse_features / get_dense_features give as their
    sentence part, for every message parsed."""
    from bot.nlu import intent_classifier
    from rasa.shared.nlu.constants import TEXT

    compared = []
    ours_of = intent_classifier.sentence_features

    def checked(message, sparse, origins):
        ours = ours_of(message, sparse, origins)
        _, rasas = (message.get_sparse_features(TEXT, origins) if sparse
                    else message.get_dense_features(TEXT, origins))
        if sparse:
            assert ours.shape == rasas.features.shape
            assert (scipy.sparse.csr_matrix(ours) != rasas.features.tocsr()).nnz == 0
        else:
            assert np.array_equal(ours, rasas.features)
        compared.append(sparse)
        return ours

    monkeypatch.setattr(intent_classifier, "sentence_features", checked)
    agent = Agent.load(str(model))
    texts = [e for examples in INTENTS.values() for e in examples][:40] + [
        "", "a", "'; DROP TABLE x; --", "é ß 中文 \U0001F600", "hoodie " * 50]
    loop = asyncio.new_event_loop()
    try:
        for text in texts:
            loop.run_until_complete(agent.parse_message(text))
    finally:
        loop.close()
    assert compared.count(True) >= 30 and compared.count(False) >= 30
