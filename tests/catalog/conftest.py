"""Catalog seeding and import tests need a database of their own, empty and migrated.

``empty_db`` wraps the shared ``empty_url`` fixture (tests/conftest.py), so every test here
runs on SQLite and on PostgreSQL. It is not called ``db`` on purpose: the shared ``db`` is the
seeded demo shop that read-only tests share, and these tests write a catalog of their own.
"""

from __future__ import annotations

import pytest

from storefront_api.db import Database


@pytest.fixture
async def empty_db(empty_url):
    database = Database(empty_url)
    yield database
    await database.dispose()
