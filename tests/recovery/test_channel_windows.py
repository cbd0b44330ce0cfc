"""When a chat message can still reach the shopper, channel by channel."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from storefront_api.recovery.eligibility import chat_window_open

NOW = datetime(2026, 12, 1, 12, 0)
WEB_SESSION = timedelta(minutes=30)


@pytest.mark.parametrize("channel, quiet_for, reachable", [
    ("socketio", timedelta(minutes=29), True),     # web chat page still open
    ("socketio", timedelta(minutes=31), False),    # the socket is gone by now
    ("web", timedelta(minutes=5), True),
    ("whatsapp", timedelta(hours=23, minutes=59), True),
    ("whatsapp", timedelta(hours=24, minutes=1), False),  # outside WhatsApp's 24 h window
    ("twilio", timedelta(hours=25), False),
    ("messenger", timedelta(hours=2), True),
    ("facebook", timedelta(hours=30), False),
    ("telegram", timedelta(days=40), True),        # bots may write at any time
    ("slack", timedelta(days=3), True),
    ("rest", timedelta(seconds=1), False),         # synchronous: nothing to push into
    ("carrier-pigeon", timedelta(seconds=1), False),
    (None, timedelta(seconds=1), False),
])
def test_channel_window(channel, quiet_for, reachable):
    assert chat_window_open(channel, NOW - quiet_for, NOW, WEB_SESSION) is reachable


def test_no_known_activity_only_reaches_always_open_channels():
    assert chat_window_open("whatsapp", None, NOW, WEB_SESSION) is False
    assert chat_window_open("socketio", None, NOW, WEB_SESSION) is False
    assert chat_window_open("telegram", None, NOW, WEB_SESSION) is True


def test_channel_names_are_case_insensitive():
    assert chat_window_open("WhatsApp", NOW - timedelta(hours=1), NOW, WEB_SESSION) is True
