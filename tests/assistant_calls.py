"""Calls made as Aisle's action server makes them: with the service credential, which is
what makes storefront_api believe X-Conversation-Id and X-Channel."""

from __future__ import annotations

SERVICE_TOKEN = "test-service-token-of-the-action-server"
SERVICE = {"Authorization": f"Bearer {SERVICE_TOKEN}"}


def from_the_assistant(conversation_id: str, channel: str | None = None) -> dict[str, str]:
    """The headers of a call the action server makes for one conversation."""
    headers = {**SERVICE, "X-Conversation-Id": conversation_id}
    if channel:
        headers["X-Channel"] = channel
    return headers
