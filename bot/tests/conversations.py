"""A conversation run through a loaded Rasa agent in a test: its messages handled one after
another, then its tracker as the tracker store keeps it."""

from __future__ import annotations

import asyncio

from rasa.shared.core.events import ActionExecuted
from rasa.shared.core.trackers import DialogueStateTracker


def conversation(agent, sender: str, messages: list) -> DialogueStateTracker:
    """The messages handled by the agent in one conversation (on a loop of their own); the
    stored tracker afterwards."""
    loop = asyncio.new_event_loop()
    try:
        for text in messages:
            loop.run_until_complete(agent.handle_text(text, sender_id=sender))
        return loop.run_until_complete(agent.tracker_store.retrieve(sender))
    finally:
        loop.close()


def actions_taken(agent, sender: str, messages: list) -> list:
    """The conversation's actions: each one's name, policy and confidence (to 6 digits)."""
    return [(e.action_name, e.policy, round(e.confidence or 0, 6))
            for e in conversation(agent, sender, messages).events
            if isinstance(e, ActionExecuted)]
