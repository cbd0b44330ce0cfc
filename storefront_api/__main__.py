"""Command line: python -m storefront_api serve | migrate | seed | import-catalog FILE.csv |
remind-carts [--dry-run] | export-bot-lookups [--out DIR] |
outbox --failed | --retry ID [ID ...] | --retry-all |
create-user EMAIL --role admin|merchant|agent [--name NAME] [--password-stdin | --link] |
staff list | staff disable EMAIL | staff revoke-sessions EMAIL | staff password-link EMAIL"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import sys
import time

from .progress import CommandProgress
from .settings import Settings


def cmd_migrate(settings: Settings, _args) -> int:
    from .migrations import upgrade
    upgrade(settings.database_url)
    print(f"database schema is up to date ({_safe_url(settings.database_url)})")
    return 0


async def _seed(settings: Settings, args) -> dict:
    from .catalog.demo_catalog import seed_catalog
    from .db import Database
    from .pricing.demo_pricing import seed_pricing
    db = Database(settings.database_url)
    try:
        counts = {}
        with CommandProgress() as progress:
            if not args.pricing_only:  # first: it refuses a database that has a catalog
                counts = await seed_catalog(db, args.products, seed=args.seed,
                                            currency=settings.currency, reset=args.reset,
                                            progress=progress)
            await seed_pricing(db, currency=settings.currency, tax_rates=settings.tax_rates)
            progress("shipping zones and rates, tax rates and demo promo codes are in place")
        return counts
    finally:
        await db.dispose()


def cmd_seed(settings: Settings, args) -> int:
    from .migrations import upgrade
    upgrade(settings.database_url)
    started = time.perf_counter()
    what = "pricing rules" if args.pricing_only else f"{args.products:,} demo products"
    print(f"seeding {what} into {_safe_url(settings.database_url)}", flush=True)
    try:
        counts = asyncio.run(_seed(settings, args))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"done in {time.perf_counter() - started:.1f} s: {counts}")
    return 0


def cmd_import_catalog(settings: Settings, args) -> int:
    from .catalog.shopify_import import import_shopify_csv
    from .db import Database
    from .migrations import upgrade
    upgrade(settings.database_url)

    async def run():
        db = Database(settings.database_url)
        try:
            with CommandProgress() as progress:
                return await import_shopify_csv(db, args.file, currency=settings.currency,
                                                progress=progress)
        finally:
            await db.dispose()

    try:
        report = asyncio.run(run())
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line, reason in report.skipped:
        print(f"  skipped line {line}: {reason}")
    print(f"imported {args.file}: {report.created} products created, {report.updated} updated, "
          f"{report.variants_created} variants created, {report.variants_updated} updated, "
          f"{len(report.skipped)} rows skipped")
    return 0


def cmd_export_bot_lookups(settings: Settings, args) -> int:
    from pathlib import Path

    from .catalog.vocabulary import export_bot_lookups
    from .db import Database

    async def run():
        db = Database(settings.database_url)
        try:
            return await export_bot_lookups(db, Path(args.out))
        finally:
            await db.dispose()

    changed = asyncio.run(run())
    for name, was_changed in changed.items():
        print(f"  {Path(args.out) / name}: {'written' if was_changed else 'unchanged'}")
    return 0


def cmd_serve(settings: Settings, args) -> int:
    from .app import serve
    from .migrations import upgrade
    from .production import refuse_unsafe
    refuse_unsafe(settings)  # AISLE_ENV=production: before anything is touched
    host, port = args.host or settings.host, args.port or settings.port
    upgrade(settings.database_url)  # once, before any worker accepts a request
    workers = args.workers
    print(f"storefront_api on http://{host}:{port}  (API docs: http://{host}:{port}/api/docs)"
          + (f", {workers} worker processes" if workers > 1 else ""), flush=True)
    if workers == 1:
        serve(settings, host, port, reuse_port=args.reuse_port, quiet=args.quiet)
        return 0
    if not settings.redis_url:  # each process would fan inbox changes out to its own agents
        print("warning: with several worker processes the support inbox's live updates "
              "need REDIS_URL (docs/inbox.md); without it an agent sees only the changes "
              "made through the same process until a reload", flush=True)
    # Several processes share the port (SO_REUSEPORT); the kernel spreads connections.
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=serve, args=(settings, host, port),
                                kwargs={"reuse_port": True, "quiet": args.quiet}, daemon=True)
                for _ in range(workers)]
    for child in children:
        child.start()

    def stop(*_):
        for child in children:
            child.terminate()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.join()
    return 0 if all(child.exitcode in (0, -signal.SIGTERM) for child in children) else 1


def cmd_remind_carts(settings: Settings, args) -> int:
    from .recovery.cli import remind_carts_command
    return remind_carts_command(settings, args)


def cmd_outbox(settings: Settings, args) -> int:
    from .outbox.cli import outbox_command
    return outbox_command(settings, args)


def cmd_create_user(settings: Settings, args) -> int:
    from .staff.cli import create_user_command
    return create_user_command(settings, args)


def cmd_staff(settings: Settings, args) -> int:
    from .staff.cli import staff_command
    return staff_command(settings, args)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storefront_api", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--reuse-port", action="store_true",
                       help="let several processes share the port (one per core)")
    serve.add_argument("--workers", type=int, default=int(os.environ.get("WEB_WORKERS", "1")),
                       help="worker processes sharing the port (default 1, or WEB_WORKERS)")
    serve.add_argument("--quiet", action="store_true", help="no access log")
    sub.add_parser("migrate", help="bring the database schema up to date")
    seed = sub.add_parser("seed", help="fill the database with the demo shop")
    seed.add_argument("--products", type=int, default=2000)
    seed.add_argument("--seed", type=int, default=42, help="random seed (same seed, same shop)")
    seed.add_argument("--reset", action="store_true", help="replace an existing catalog")
    seed.add_argument("--pricing-only", action="store_true",
                      help="only the default shipping zones, rates, tax rates and promo codes "
                           "(for a shop whose catalog comes from import-catalog)")
    imp = sub.add_parser("import-catalog", help="import a Shopify product CSV")
    imp.add_argument("file")
    lookups = sub.add_parser("export-bot-lookups",
                             help="write the NLU lookup tables and synonyms from the catalog")
    lookups.add_argument("--out", default="bot/data/lookups", help="directory for the files")
    remind = sub.add_parser("remind-carts", help="send reminders for abandoned carts (once)")
    remind.add_argument("--dry-run", action="store_true",
                        help="list what would be sent, send nothing")
    from .outbox.cli import add_arguments as outbox_arguments
    outbox_arguments(sub.add_parser("outbox", help="list failed outbox messages, requeue them"))
    from .staff.cli import add_commands as staff_commands
    staff_commands(sub)  # create-user, staff list | disable | revoke-sessions | password-link
    args = parser.parse_args(argv)
    if getattr(args, "workers", 1) < 1 or getattr(args, "workers", 1) > 64:
        parser.error("--workers must be between 1 and 64")
    if getattr(args, "products", 1) < 1 or getattr(args, "products", 1) > 5_000_000:
        parser.error("--products must be between 1 and 5,000,000")
    settings = Settings.from_env()
    handler = {"serve": cmd_serve, "migrate": cmd_migrate, "seed": cmd_seed,
               "import-catalog": cmd_import_catalog, "remind-carts": cmd_remind_carts,
               "export-bot-lookups": cmd_export_bot_lookups, "outbox": cmd_outbox,
               "create-user": cmd_create_user, "staff": cmd_staff}[args.command]
    return handler(settings, args)


if __name__ == "__main__":
    sys.exit(main())
