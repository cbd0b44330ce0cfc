"""Shared fixtures: every API test runs against SQLite and against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from assistant_calls import SERVICE_TOKEN  # noqa: E402
from databases import (DEMO_PRODUCTS, create_postgres_database,  # noqa: E402,F401
                       drop_postgres_database, seed_demo_shop)

from storefront_api.app import create_app  # noqa: E402
from storefront_api.db import Database  # noqa: E402
from storefront_api.migrations import upgrade  # noqa: E402
from storefront_api.settings import Settings  # noqa: E402

BACKENDS = ["sqlite", "postgresql"]


def _new_database(backend: str, directory: Path) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{directory / 'shop.db'}"
    return create_postgres_database()


def _cleanup(backend: str, url: str) -> None:
    if backend == "postgresql":
        drop_postgres_database(url)


async def _seed(url: str) -> None:
    await seed_demo_shop(url)


@pytest.fixture(scope="session", params=BACKENDS)
def shop_url(request, tmp_path_factory):
    """A migrated database holding the demo shop, shared by the tests of one backend."""
    url = _new_database(request.param, tmp_path_factory.mktemp(request.param))
    upgrade(url)
    asyncio.run(_seed(url))
    yield url
    _cleanup(request.param, url)


@pytest.fixture(params=BACKENDS)
def empty_url(request, tmp_path):
    """A migrated, empty database for tests that need a clean slate."""
    url = _new_database(request.param, tmp_path)
    upgrade(url)
    yield url
    _cleanup(request.param, url)


@pytest.fixture(scope="module", params=BACKENDS)
def module_url(request, tmp_path_factory):
    """A migrated, empty database shared by the tests of one module: for tests that leave rows
    the demo shop's other tests would see (carts a reminder job would find, stock and holds a
    search would offer), at one migration per module rather than per test."""
    url = _new_database(request.param, tmp_path_factory.mktemp(request.param))
    upgrade(url)
    yield url
    _cleanup(request.param, url)


@pytest.fixture
def settings(shop_url, tmp_path) -> Settings:
    # RASA_URL: a closed port, so chat notices of test orders never reach a real Rasa.
    # MAX_HELD_UNITS: every test calls from 127.0.0.1 into one database per backend, so the
    # units held by all their open payment links add up for one client; the cap itself is
    # tested on a database of its own (tests/checkout/test_stock_holds.py).
    return Settings.from_env(database_url=shop_url, var_dir=tmp_path, admin_token="test-admin",
                             rasa_url="http://127.0.0.1:9", service_token=SERVICE_TOKEN,
                             max_held_units=1000)


@pytest.fixture
async def db(shop_url):
    database = Database(shop_url)
    yield database
    await database.dispose()


@pytest.fixture
async def client(aiohttp_client, settings):
    """An HTTP client for the real app on the shared demo shop database."""
    return await aiohttp_client(create_app(settings, migrate=False))


ADMIN = {"Authorization": "Bearer test-admin"}
