"""Shared by the policy tests: Aisle's action server, started once for the module."""

from __future__ import annotations

import pytest

from bot.tests.action_server_process import running_action_server
from bot.tests.test_resilience import free_port


@pytest.fixture(scope="module")
def action_server(tmp_path_factory):
    """Aisle's action server (the session start and the FAQ answers are custom actions);
    the shop it would call is not there, and the conversations here do not need it."""
    with running_action_server(tmp_path_factory.mktemp("actions"), "bot.actions",
                               {"STOREFRONT_URL": f"http://127.0.0.1:{free_port()}"}) as url:
        yield url + "/webhook"
