"""Alembic the ordinary way (alembic.ini at the top of the repository): `history`,
`upgrade`, `downgrade` and `current` work on the shop's DATABASE_URL, SQLite and PostgreSQL,
and every migration can be undone and done again."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from databases import create_postgres_database, drop_postgres_database

ROOT = Path(__file__).resolve().parent.parent
ALEMBIC = ROOT / ".venv" / "bin" / "alembic"
VERSIONS = ROOT / "storefront_api" / "migrations" / "versions"


def alembic(*args: str, database_url: str, var_dir: Path) -> str:
    env = {**os.environ, "DATABASE_URL": database_url, "AISLE_VAR_DIR": str(var_dir)}
    result = subprocess.run([str(ALEMBIC), *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout + result.stderr


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
        return
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


def test_history_upgrade_downgrade_and_current(database_url, tmp_path):
    revisions = sorted(re.match(r"(\d{4})_", path.name).group(1)
                       for path in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))
    head = revisions[-1]
    history = alembic("history", database_url=database_url, var_dir=tmp_path)
    assert f"-> {head} (head)" in history
    assert all(revision in history for revision in revisions)
    alembic("upgrade", "head", database_url=database_url, var_dir=tmp_path)
    assert f"{head} (head)" in alembic("current", database_url=database_url, var_dir=tmp_path)
    alembic("downgrade", "-1", database_url=database_url, var_dir=tmp_path)
    assert revisions[-2] in alembic("current", database_url=database_url, var_dir=tmp_path)
    alembic("downgrade", "base", database_url=database_url, var_dir=tmp_path)
    assert "(head)" not in alembic("current", database_url=database_url, var_dir=tmp_path)
    alembic("upgrade", "head", database_url=database_url, var_dir=tmp_path)
    assert f"{head} (head)" in alembic("current", database_url=database_url, var_dir=tmp_path)
