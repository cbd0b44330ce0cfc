"""The numpy sentence encoder reproduces the reference implementation (sentence-transformers
with PyTorch) for the model the NLU uses: the same sub-word tokens and the same vectors.

The reference values were written by scripts/sentence_encoder_reference.py (which says how
to run it) and are kept in sentence_encoder_reference.json beside this file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.nlu.sentence_encoder import SentenceEncoder, basic_tokens, read_safetensors
from bot.nlu.sentence_featurizer import installed_model_dir

REFERENCE = json.loads((Path(__file__).parent / "sentence_encoder_reference.json")
                       .read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder(installed_model_dir())


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=lambda c: repr(c["text"][:24]))
def test_tokens_are_the_reference_tokens(encoder, case):
    words = {index: word for word, index in encoder.tokenizer.ids.items()}
    ids, _ = encoder.token_ids(case["text"].split())
    assert [words[i] for i in ids] == case["tokens"]


def test_vectors_are_the_reference_vectors(encoder):
    texts = [case["text"] for case in REFERENCE["cases"]]
    ours = encoder.encode(texts)
    reference = np.asarray([case["vector"] for case in REFERENCE["cases"]], dtype=np.float32)
    assert ours.shape == reference.shape == (len(texts), 384)
    assert np.abs(ours - reference).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_a_batch_gives_what_single_messages_give(encoder):
    """Padding in a batch must not change a message's vector."""
    texts = ["hi", "do you have red hoodies in size M under 80 dollars please", "where is it"]
    batch = encoder.encode(texts)
    alone = np.vstack([encoder.encode([text]) for text in texts])
    assert np.abs(batch - alone).max() < 1e-5


def test_meaning_is_close_for_paraphrases_and_far_otherwise(encoder):
    handoff, staff, weather = encoder.encode(
        ["I want to talk to a human", "can I speak to a member of staff",
         "what's the weather like in Paris"])
    assert handoff @ staff > 0.4
    assert handoff @ weather < 0.2


def test_the_basic_tokenizer_splits_punctuation_and_strips_accents():
    assert basic_tokens("Héllo, WORLD!! t-shirt") == ["hello", ",", "world", "!", "!", "t",
                                                      "-", "shirt"]
    assert basic_tokens("\x00\ufffd  ") == []


def test_over_long_messages_are_cut_to_the_model_limit(encoder):
    ids, owners = encoder.token_ids(["word"] * 500)
    assert len(ids) == len(owners) == 128
    assert encoder.encode([" ".join(["word"] * 500)]).shape == (1, 384)


def test_a_truncated_weights_file_is_refused(tmp_path):
    weights = installed_model_dir() / "model.safetensors"
    broken = tmp_path / "model.safetensors"
    broken.write_bytes(weights.read_bytes()[:4096])
    with pytest.raises(ValueError):
        read_safetensors(broken)
