"""An agent's reply is drawn as the agent's on the channels whose output renders the web
chat's custom payloads, and as plain "Name: text" elsewhere. storefront_api decides which
(it sends the bot event itself); the bot's list of those channels is the other half of the
contract, so the two must stay the same."""

from __future__ import annotations

import ast
from pathlib import Path

from storefront_api.support.conversations import (AGENT_UTTERANCE, RICH_CHANNELS,
                                                  agent_utterance)
from storefront_api.inbox.tracker import RELAY_UTTERANCE, transcript_item

COMMON = Path(__file__).resolve().parents[2] / "bot" / "actions" / "common.py"


def _bot_rich_channels() -> frozenset[str]:
    """RICH_CHANNELS of bot/actions/common.py, read from its source (the bot's packages live
    in another virtualenv): ``WEB_CHANNELS | frozenset({...})``."""
    values: dict[str, frozenset[str]] = {}
    for node in ast.parse(COMMON.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("WEB_CHANNELS", "RICH_CHANNELS"):
                found: set[str] = set()
                for part in ast.walk(node.value):
                    if isinstance(part, ast.Name) and part.id in values:
                        found |= values[part.id]
                    elif isinstance(part, ast.Constant) and isinstance(part.value, str):
                        found.add(part.value)
                values[name] = frozenset(found)
    return values["RICH_CHANNELS"]


def test_the_rich_channels_are_the_bots():
    assert RICH_CHANNELS == _bot_rich_channels()
    assert AGENT_UTTERANCE == RELAY_UTTERANCE


def test_on_the_web_chat_the_reply_is_the_agents_message_with_the_name():
    event = agent_utterance("<b>Hi</b>, I'm Sam", "Sam", "socketio", 1.0)
    assert event["text"] is None
    assert event["data"] == {"custom": {"data": {"text": "<b>Hi</b>, I'm Sam", "agent": "Sam"}}}


def test_elsewhere_the_reply_is_text_with_the_name():
    for channel in ("twilio", "rest", None):
        event = agent_utterance("Your parcel left today", "Sam", channel, 1.0)
        assert event["text"] == "Sam: Your parcel left today"
        assert event["metadata"] == {"utter_action": AGENT_UTTERANCE}


def test_the_transcript_does_not_show_the_reply_twice():
    """The inbox shows agent replies from its own table; read back from Rasa's tracker
    store, either form is recognised as the agent's and left out."""
    import json
    for channel in ("socketio", "twilio"):
        event = agent_utterance("On its way", "Sam", channel, 1.0)
        row = (1, "conv", "bot", 1.0, json.dumps(event))
        assert transcript_item(row) is None
