"""Alembic environment: runs migrations over the async engine of the configured database."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

from storefront_api import models

target_metadata = models.Base.metadata


MIGRATION_LOCK = 7_355_608  # any constant: serialises concurrent `migrate` runs on PostgreSQL


def _include(obj, name, type_, reflected, compare_to) -> bool:
    """Leave the full-text tables (FTS5 virtual tables and their shadows) to migration 0002."""
    return not (type_ == "table" and name and name.startswith(("product_fts", "product_trigram")))


def _run(connection) -> None:
    if connection.dialect.name == "postgresql":
        # Several replicas may start at once on an empty database: one migrates, the others
        # wait here and then find the schema current. (SQLite serialises on its file lock.)
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
        connection.commit()  # the lock is the session's; alembic opens its own transaction
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_object=_include,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=context.config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
