"""``python -m analytics <command>``: JSON on stdout (CSV with ``--format csv``).

Each module named in COMMAND_MODULES has ``register(subparsers)``, which adds its
subcommand with ``parser.set_defaults(handler=fn)``; ``fn(args)`` returns a polars DataFrame,
a dict or a list. The common options (``--events``, ``--from``, ``--to``, ``--channel``,
``--format``) are added to every subcommand here, and ``events_from_args(args)`` loads the
events they describe. Bad input raises ``InputError``: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import sys
from datetime import date, datetime, timedelta

import polars as pl

from .loaders import default_events_source, load_events
from .schema import InputError

COMMAND_MODULES = ["funnel", "imports", "synthesize", "abandonment",
                   "segments", "propensity", "chat", "support", "rasa_events", "export",
                   "clickhouse.ingest"]


def parse_when(text: str, *, end: bool = False) -> datetime:
    """An ISO date or date-time (UTC). A plain date given as an end means the end of that day,
    so ``--from 2026-09-01 --to 2026-09-30`` covers all of September's 30 days."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1 if end else 0), datetime.min.time())
        return datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{text!r} is not a date: write it as YYYY-MM-DD or "
                         "YYYY-MM-DDTHH:MM") from None


def channels_from_args(args) -> list[str] | None:
    raw = getattr(args, "channel", None) or []
    names = [c.strip() for item in raw for c in item.split(",") if c.strip()]
    return names or None


def events_from_args(args, columns: list[str] | None = None) -> pl.LazyFrame:
    """The events the common options select: source, date range, channels (and only
    ``columns`` of them when given)."""
    start = parse_when(args.start) if args.start else None
    end = parse_when(args.end, end=True) if args.end else None
    if start and end and start >= end:
        raise InputError("--from must be before --to")
    # the range and channels are pushed into the database's query (or the file's scan)
    return load_events(args.events or default_events_source(), start=start, end=end,
                       channels=channels_from_args(args), columns=columns)


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    # a subcommand may define an option of its own under the same name (synthesize --events N)
    have = {a.dest for a in parser._actions} | set(parser._option_string_actions)
    group = parser.add_argument_group("common options")
    if "--events" not in have:
        group.add_argument("--events", metavar="SOURCE",
                           help="database URL, .parquet/.csv file or directory of .parquet "
                                "files (default: $ANALYTICS_EVENTS_URL, else $DATABASE_URL, "
                                "else the demo shop's var/shop.db)")
    if "--from" not in have:
        group.add_argument("--from", dest="start", metavar="DATE",
                           help="first day (or date-time), UTC, inclusive")
    if "--to" not in have:
        group.add_argument("--to", dest="end", metavar="DATE",
                           help="last day, UTC, inclusive (a date-time is exclusive)")
    if "--channel" not in have:
        group.add_argument("--channel", action="append", metavar="NAME[,NAME]",
                           help="only these channels (site, web, whatsapp, ...)")
    if "--format" not in have:
        group.add_argument("--format", choices=["json", "csv"], default="json")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analytics",
                                     description="Aisle funnel analytics on shop events.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"analytics.{name}").register(subparsers)
    for sub in subparsers.choices.values():
        _add_common_options(sub)
    return parser


def _jsonable(value):
    if isinstance(value, pl.DataFrame):
        return [_jsonable(row) for row in value.to_dicts()]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def _flatten(value, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(value, dict):
        return [pair for k, v in value.items()
                for pair in _flatten(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(value, list):
        return [(prefix, json.dumps(value))]
    return [(prefix, value)]


def render(result, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(_jsonable(result), indent=2, ensure_ascii=False)
    if isinstance(result, list):
        result = pl.DataFrame(_jsonable(result))
    if isinstance(result, dict):  # a summary: one key per row, nested keys joined by dots
        result = pl.DataFrame(_flatten(_jsonable(result)), schema=["key", "value"],
                              orient="row")
        result = result.with_columns(pl.col("value").cast(pl.Utf8))
    buffer = io.StringIO()
    result.write_csv(buffer)
    return buffer.getvalue().rstrip("\n")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.handler(args)
        print(render(result, args.format))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `... | head`
        return 0
    return 0
