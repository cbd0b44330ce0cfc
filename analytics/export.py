"""``export --to DIR``: the events as one Parquet file per month, for the long tail.

    python -m analytics export --to var/events-archive [--events URL] [--rewrite]

Each month becomes ``DIR/events-YYYY-MM.parquet`` (conformed EVENT_SCHEMA, sorted by time),
written to a hidden temporary file and renamed into place, so a file that exists is
complete. ``DIR/export.json`` lists the months written with their row counts. Again:

- idempotent: a month that had ended before the source's last event when it was written
  (closed) is not read again; the last month is written again and comes out the same when
  nothing new happened;
- resumable: an export stopped half-way leaves the months it finished; the next run
  continues with the others;
- ``--rewrite`` writes every month again (after a backfill of old events).

Every command reads the directory as a source: ``--events DIR``.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from pathlib import Path

import polars as pl

from .loaders import _safe, default_events_source, event_bounds, is_database_url, load_events
from .schema import InputError

MANIFEST = "export.json"


def _month_start(day: date) -> datetime:
    return datetime(day.year, day.month, 1)


def _next_month(start: datetime) -> datetime:
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1)


def months_between(first: datetime, last: datetime) -> list[datetime]:
    month, out = _month_start(first.date()), []
    while month <= last:
        out.append(month)
        month = _next_month(month)
    return out


def _read_manifest(directory: Path) -> dict:
    path = directory / MANIFEST
    if not path.exists():
        return {"months": {}}
    try:
        manifest = json.loads(path.read_text())
        manifest["months"]  # noqa: B018 - its shape
        return manifest
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{path} is not an export manifest; export to an empty directory "
                         "or delete it") from None


def _write_atomically(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def export_events(source: str, directory: Path, *, rewrite: bool = False,
                  progress=None) -> dict:
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{directory} is a file; --to takes a directory")
    if not rewrite and directory.exists() and any(directory.glob("*.parquet")) \
            and not (directory / MANIFEST).exists():
        raise InputError(f"{directory} holds Parquet files that no export wrote; "
                         "export to an empty directory")
    source_label = _safe(source) if is_database_url(source) else source
    if Path(source).resolve() == directory.resolve():
        raise InputError("--to must not be the directory the events are read from")
    first, last = event_bounds(source)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(directory)
    if manifest.get("source") not in (None, source_label):
        raise InputError(f"{directory} holds an export of {manifest['source']}; "
                         "export another source to another directory")
    manifest["source"] = source_label
    done = manifest["months"]
    written, skipped = [], []
    for month in months_between(first, last) if first is not None else []:
        key = f"{month:%Y-%m}"
        end = _next_month(month)
        path = directory / f"events-{key}.parquet"
        if not rewrite and done.get(key, {}).get("closed") and path.exists():
            skipped.append(key)
            continue
        frame = load_events(source, start=month, end=end).collect().sort("ts", "event_id")
        _write_atomically(path, lambda tmp, f=frame: f.write_parquet(tmp, statistics=True))
        # closed: the source already had a later event, so no new one is expected here
        done[key] = {"rows": frame.height, "file": path.name, "closed": end <= last,
                     "written_at": datetime.utcnow().isoformat(timespec="seconds")}
        written.append(key)
        # the manifest follows each month, so a stopped export resumes after it
        _write_atomically(directory / MANIFEST,
                          lambda tmp: tmp.write_text(json.dumps(manifest, indent=2)))
    manifest["last_event"] = last.isoformat() if last is not None else None
    _write_atomically(directory / MANIFEST,
                      lambda tmp: tmp.write_text(json.dumps(manifest, indent=2)))
    return {"directory": str(directory), "source": source_label, "written": written,
            "unchanged": skipped,
            "rows": sum(done[k]["rows"] for k in done)}


def _command(args) -> dict:
    if args.start or args.channel:
        raise InputError("export writes every event of the source: no --from or --channel")
    return export_events(args.events or default_events_source(), Path(args.directory),
                         rewrite=args.rewrite)


def register(subparsers) -> None:
    parser = subparsers.add_parser("export", help="the events as monthly Parquet files "
                                   "(idempotent, resumable); read them back with --events DIR")
    parser.add_argument("--to", dest="directory", required=True, metavar="DIR")
    parser.add_argument("--rewrite", action="store_true",
                        help="write every month again (after a backfill of old events)")
    parser.set_defaults(handler=_command)
