"""Fixtures of the inbox tests: the support tests' Rasa stand-in and order factories, an
app whose settings the test chooses, and Rasa's tracker store as a real SQLite file."""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent
for folder in (TESTS / "support", TESTS / "aftersales", TESTS / "cart"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from assistant_calls import SERVICE_TOKEN  # noqa: E402
from rasa_recorder import RasaRecorder  # noqa: E402

from storefront_api.settings import Settings  # noqa: E402

# Rasa 3.6's SQLTrackerStore table, as it creates it
TRACKER_TABLE = ("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, sender_id "
                 "VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL, timestamp FLOAT, "
                 "intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)")


@pytest.fixture
async def rasa(aiohttp_server):
    recorder = RasaRecorder()
    server = await aiohttp_server(recorder.app())
    recorder.server, recorder.url = server, str(server.make_url("")).rstrip("/")
    return recorder


class TrackerFile:
    """Rasa's tracker store on SQLite: rows written as Rasa writes them."""

    def __init__(self, path: Path):
        self.path = path
        with sqlite3.connect(path) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(TRACKER_TABLE)

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def add(self, sender: str, type_name: str, ts: float | None = None, *,
            row_id: int | None = None, **data) -> int:
        import json
        body = {"event": type_name, "timestamp": ts or time.time(), **data}
        with sqlite3.connect(self.path) as connection:
            cursor = connection.execute(
                "INSERT INTO events (id, sender_id, type_name, timestamp, intent_name, "
                "action_name, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row_id, sender, type_name, body["timestamp"], None, data.get("name"),
                 json.dumps(body)))
            return cursor.lastrowid

    def user(self, sender: str, text: str, ts: float | None = None,
             row_id: int | None = None) -> int:
        return self.add(sender, "user", ts, row_id=row_id, text=text,
                        input_channel="socketio", parse_data={"intent": {"name": None}})

    def bot(self, sender: str, text: str | None = None, ts: float | None = None,
            **data) -> int:
        return self.add(sender, "bot", ts, text=text, data=data, metadata={})


@pytest.fixture
def tracker(tmp_path) -> TrackerFile:
    return TrackerFile(tmp_path / "rasa_tracker.db")


@pytest.fixture
def settings(shop_url, tmp_path, rasa, tracker) -> Settings:
    return Settings.from_env(database_url=shop_url, var_dir=tmp_path, admin_token="test-admin",
                             rasa_url=rasa.url, service_token=SERVICE_TOKEN,
                             tracker_store_url=tracker.url, max_held_units=1000,
                             chat_token_secret="inbox-tests-chat-secret-" + "z" * 16)
