"""The Rasa project itself: the training data validates without a warning, and every test
story (happy and unhappy paths of every skill) is predicted exactly by the trained model."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RASA = ROOT / ".venv-bot" / "bin" / "rasa"
MODEL = ROOT / "bot" / "models" / "aisle.tar.gz"
STORIES = ROOT / "bot" / "tests" / "stories"
ENV = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}

pytestmark = pytest.mark.slow


def _require(path: Path, hint: str) -> None:
    if not path.exists():
        if os.environ.get("AISLE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{path} is missing: {hint}", pytrace=False)
        pytest.skip(f"{path} is missing: {hint}")


def _rasa(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([str(RASA), *args], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=timeout)


def test_training_data_validates_without_warnings():
    _require(RASA, "run `make bot-venv`")
    _require(ROOT / "bot" / "data" / "lookups", "run `make bot-lookups`")
    done = _rasa("data", "validate", "--config", "config.yml", "--domain", "bot/domain",
                 "--data", "bot/data", "--fail-on-warnings")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


def test_there_are_at_least_sixty_test_stories_covering_every_skill():
    stories = {}
    for path in sorted(STORIES.glob("test_*.yml")):
        stories[path.stem] = len(yaml.safe_load(path.read_text()).get("stories") or [])
    assert sum(stories.values()) >= 60, stories
    for skill in ("shopping", "cart", "checkout", "orders", "aftersales", "support", "faq"):
        assert stories.get(f"test_{skill}", 0) >= 3, (skill, stories)


def test_every_test_story_is_predicted_exactly(tmp_path):
    _require(MODEL, "run `make train`")
    done = _rasa("test", "core", "--model", str(MODEL), "--stories", str(STORIES),
                 "--fail-on-prediction-errors", "--out", str(tmp_path))
    failed = tmp_path / "failed_test_stories.yml"
    details = failed.read_text()[:6000] if failed.exists() else ""
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:] + details
    report = (done.stdout + done.stderr)
    correct = re.search(r"Correct:\s+(\d+)\s*/\s*(\d+)", report)
    assert correct and correct.group(1) == correct.group(2), report[-3000:]


ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def _messages(path: Path) -> set[str]:
    """The plain texts of an NLU file's examples (entity markup removed), normalised."""
    texts = set()
    for block in yaml.safe_load(path.read_text()).get("nlu") or []:
        for line in (block.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- "):
                text = ANNOTATION.sub(r"\1", line[2:])
                texts.add(" ".join(re.sub(r"[^\w\s]", " ", text.lower()).split()))
    return texts


@pytest.mark.parametrize("held_out", sorted(
    p.name for p in (ROOT / "bot/tests/nlu").glob("robustness*.yml")))
def test_held_out_phrasings_are_not_in_the_training_data(held_out):
    """The held-out sets measure phrasings the model never saw (docs/nlu-evaluation.md):
    none of their messages may appear, up to case and punctuation, in bot/data/nlu."""
    training = set().union(*(_messages(p) for p in (ROOT / "bot/data/nlu").glob("*.yml")))
    leaked = sorted(_messages(ROOT / "bot/tests/nlu" / held_out) & training)
    assert not leaked, leaked
