"""What every API call of the actions says about the shopper: the conversation, the channel
and, on the web chat, the browser its token was issued to (bot/channels/socketio.py puts it
in the message's metadata; storefront_api counts limits and holds per browser by it)."""

from __future__ import annotations

from bot.actions.common import call_context

BROWSER = "c_" + "5e" * 16


def test_the_web_chats_browser_travels_with_every_call(tracker_for):
    tracker = tracker_for(latest_message={"intent": "greet", "text": "hi",
                                          "metadata": {"aisle_client": BROWSER}},
                          sender_id="conv-1", channel="socketio")
    headers = call_context(tracker).headers()
    assert headers == {"X-Conversation-Id": "conv-1", "X-Session-Id": "conv-1",
                       "X-Channel": "socketio", "X-Aisle-Client": BROWSER}


def test_without_a_browser_only_the_conversation_is_said(tracker_for):
    for metadata in (None, {}, {"aisle_client": 42}, "not a mapping"):
        tracker = tracker_for(latest_message={"intent": "greet", "text": "hi",
                                              "metadata": metadata},
                              sender_id="conv-2", channel="telegram")
        assert "X-Aisle-Client" not in call_context(tracker).headers()
