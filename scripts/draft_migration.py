"""Regenerate a migration that is still being written, from the models (development only).

    .venv/bin/python scripts/draft_migration.py 0004 checkout_orders_aftersales

Builds a throwaway SQLite database at the revision before REV, deletes REV's file and lets
Alembic autogenerate it again. Never use it on a migration that has been released.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from storefront_api.migrations import HERE, alembic_config, upgrade


def main() -> int:
    rev, slug = sys.argv[1], sys.argv[2]
    previous = f"{int(rev) - 1:04d}"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'draft.db'}"
        upgrade(url, previous)
        for old in (HERE / "versions").glob(f"{rev}_*.py"):
            old.unlink()
        command.revision(alembic_config(url), message=slug.replace("_", " "), autogenerate=True,
                         rev_id=rev)
    generated = next((HERE / "versions").glob(f"{rev}_*.py"))
    generated.rename(generated.with_name(f"{rev}_{slug}.py"))
    print(f"wrote {generated.with_name(f'{rev}_{slug}.py')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
