"""Rasa builds every messaging channel from bot/credentials.yml under the platform's own
name (webhook URLs, the tracker's input channel and output_channel=latest depend on it),
each reading its keys from the environment, and without them answering 404 and pushing
nothing."""

from __future__ import annotations

import pytest
import rasa.shared.utils.io
from rasa.core.run import _create_single_channel

from test_socketio_channel import CREDENTIALS

NAMES = {"TelegramInput": "telegram", "WhatsAppInput": "whatsapp",
         "MessengerInput": "facebook", "SlackInput": "slack", "TwilioInput": "twilio"}


@pytest.fixture
def credentials(monkeypatch):
    monkeypatch.setenv("CHAT_JWT_SECRET", "x" * 32)
    monkeypatch.setenv("CHAT_ALLOWED_ORIGINS", "")
    monkeypatch.setenv("RASA_CALLBACK_URL", "http://127.0.0.1:9/cb")
    for key in ("TELEGRAM_TOKEN", "WHATSAPP_ACCESS_TOKEN", "FACEBOOK_PAGE_ACCESS_TOKEN",
                "SLACK_TOKEN", "TWILIO_ACCOUNT_SID"):
        monkeypatch.delenv(key, raising=False)
    return rasa.shared.utils.io.read_config_file(str(CREDENTIALS))


def test_every_messaging_channel_is_listed_under_its_platforms_name(credentials):
    found = {}
    for key, settings in credentials.items():
        cls = key.rsplit(".", 1)[-1]
        if cls in NAMES:
            channel = _create_single_channel(key, settings)
            found[cls] = channel.name()
            assert channel.get_output_channel() is None  # no keys in this environment
    assert found == NAMES
