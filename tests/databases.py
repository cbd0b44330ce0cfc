"""Throwaway databases for tests and benchmarks: a SQLite file, or a fresh PostgreSQL database.

PostgreSQL is the server on 127.0.0.1:5432 (AISLE_TEST_POSTGRES_URL to change it). When it is
unreachable the PostgreSQL cases skip with the reason, unless AISLE_REQUIRE_SERVICES=1 (set by
.ci/run), which turns the missing service into a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get(
    "AISLE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def services_required() -> bool:
    return os.environ.get("AISLE_REQUIRE_SERVICES") == "1"


def _asyncpg_dsn(url) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(sql: str) -> None:
    import asyncpg
    conn = await asyncpg.connect(_asyncpg_dsn(make_url(POSTGRES_URL)), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_postgres_database(prefix: str = "aisle_test") -> str:
    """Create an empty database and return its SQLAlchemy URL; skip (or fail) if unreachable."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    if os.environ.get("AISLE_SKIP_POSTGRES") == "1" and not services_required():
        pytest.skip("AISLE_SKIP_POSTGRES=1 (make test-fast)")
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncio.TimeoutError) as exc:
        reason = f"PostgreSQL at {POSTGRES_URL} is unreachable ({exc})"
        if services_required():
            pytest.fail(reason + " and AISLE_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(reason)
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


DEMO_PRODUCTS = 300  # small but varied: every category, sizes, colours, some out of stock


async def seed_demo_shop(url: str, products: int = DEMO_PRODUCTS) -> None:
    """The demo shop's pricing and a catalog of `products` products (always the same ones)."""
    from storefront_api.catalog.demo_catalog import seed_catalog
    from storefront_api.db import Database
    from storefront_api.pricing.demo_pricing import seed_pricing
    db = Database(url)
    try:
        await seed_pricing(db)
        await seed_catalog(db, products, seed=7)
    finally:
        await db.dispose()
