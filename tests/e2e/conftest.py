"""One real assistant for the whole end-to-end suite: storefront_api on a seeded SQLite shop,
the action server and a real Rasa server with the trained model (tests/assistant_stack.py)."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from assistant_stack import MODEL, RASA, AssistantStack  # noqa: E402


def _missing(what: str) -> None:
    if os.environ.get("AISLE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} (and AISLE_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="session")
def assistant(tmp_path_factory):
    if not Path(RASA).exists():
        _missing(".venv-bot is missing: run `make bot-venv`")
    if not MODEL.exists():
        _missing(f"{MODEL} is missing: run `make train`")
    with AssistantStack(tmp_path_factory.mktemp("assistant")) as stack:
        yield stack


@pytest.fixture
def sender() -> str:
    """A new conversation id per test."""
    return f"e2e-{uuid.uuid4().hex[:12]}"
