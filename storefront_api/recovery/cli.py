"""``python -m storefront_api remind-carts [--dry-run]``: one run of the reminder job (cron)."""

from __future__ import annotations

import asyncio
import json
import sys

from ..db import Database
from ..settings import Settings
from .service import remind_carts


def remind_carts_command(settings: Settings, args) -> int:
    if not args.dry_run:  # a dry run changes nothing, not even the schema
        from ..migrations import upgrade
        upgrade(settings.database_url)

    async def run() -> dict:
        db = Database(settings.database_url)
        try:
            report = await remind_carts(db, settings, dry_run=args.dry_run)
            return report.as_dict()
        finally:
            await db.dispose()

    report = asyncio.run(run())
    print(json.dumps(report, indent=2, default=str))
    what = "would remind" if report["dry_run"] else "reminded"
    print(f"{what} {report['reminded']} of {report['examined']} abandoned carts "
          f"({report['emails']} e-mails, {report['chat_messages']} chat messages)", file=sys.stderr)
    return 0
