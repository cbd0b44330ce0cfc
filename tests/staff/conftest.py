"""Fixtures of the staff account tests: the real app on the shared demo shop (SQLite and
PostgreSQL), built with the settings a test needs (a proxy in front, production mode)."""

from __future__ import annotations

import aiohttp
import pytest
from assistant_calls import SERVICE_TOKEN

from storefront_api.app import create_app
from storefront_api.settings import Settings


@pytest.fixture
def make_client(aiohttp_client, shop_url, tmp_path):
    """``await make_client(**settings)``: a test client (and its settings) on the demo shop."""
    async def make(**overrides):
        values = dict(database_url=shop_url, var_dir=tmp_path, admin_token="test-admin",
                      rasa_url="http://127.0.0.1:9", service_token=SERVICE_TOKEN)
        settings = Settings.from_env(**{**values, **overrides})
        # no cookie jar: each request carries exactly the cookies the test gives it
        client = await aiohttp_client(create_app(settings, migrate=False),
                                      cookie_jar=aiohttp.DummyCookieJar())
        return client, settings
    return make

