"""Alembic environment: runs migrations over the async engine of the configured database."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

from storefront_api import models

target_metadata = models.Base.metadata

if context.config.config_file_name is not None:  # the `alembic` command: its log lines
    from logging.config import fileConfig
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)


MIGRATION_LOCK = 7_355_608  # any constant: serialises concurrent `migrate` runs on PostgreSQL


def _include(obj, name, type_, reflected, compare_to) -> bool:
    """Leave the full-text tables (FTS5 virtual tables and their shadows) to migration 0002
    and the Overview's daily visits, kept by triggers, to migration 0012."""
    return not (type_ == "table" and name
                and name.startswith(("product_fts", "product_trigram", "event_visits")))


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


def _database_url() -> str:
    """The URL `python -m storefront_api migrate` passes, else (the `alembic` command with
    the repository's alembic.ini) the shop's own DATABASE_URL."""
    url = context.config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from storefront_api.settings import Settings
    return Settings.from_env().database_url


async def _run_async() -> None:
    url = _database_url()
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_database_url(),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
