"""``export --to DIR``: monthly Parquet files that read back as the same events, written
again only where something can have changed, resumed after a stop."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

import analytics.export as export_module
from analytics.export import export_events
from analytics.loaders import load_events
from analytics.schema import InputError
from analytics.synthesize import append_to_database

ROOT = Path(__file__).resolve().parents[2]


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=os.environ)


@pytest.fixture
def shop(empty_url):
    append_to_database(empty_url, 3_000, seed=4, start=datetime(2026, 6, 20), days=50)
    return empty_url


def _months(url: str) -> list[str]:
    ts = load_events(url, columns=["ts"]).collect()["ts"]
    return sorted(ts.dt.strftime("%Y-%m").unique().to_list())


def _same(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    return a.sort("event_id").equals(b.sort("event_id"))


def test_monthly_files_read_back_as_the_same_events(shop, tmp_path):
    out = tmp_path / "archive"
    months = _months(shop)
    assert months[:3] == ["2026-06", "2026-07", "2026-08"]  # and refunds may come later
    done = export_events(shop, out)
    assert done["written"] == months and done["rows"] == 3_000
    assert sorted(p.name for p in out.glob("*.parquet")) == [f"events-{m}.parquet"
                                                             for m in months]
    july = pl.read_parquet(out / "events-2026-07.parquet")
    assert july["ts"].min() >= datetime(2026, 7, 1) and july["ts"].max() < datetime(2026, 8, 1)
    assert _same(load_events(str(out)).collect(), load_events(shop).collect())
    # a command reads the directory as it reads the database
    args = ["funnel", "--steps", "view_item,add_to_cart,purchase", "--breakdown", "channel"]
    from_db, from_dir = cli(*args, "--events", shop), cli(*args, "--events", out)
    assert from_db.returncode == from_dir.returncode == 0, from_dir.stderr
    assert json.loads(from_db.stdout) == json.loads(from_dir.stdout)


def test_again_rewrites_only_the_open_month(shop, tmp_path):
    out = tmp_path / "archive"
    export_events(shop, out)
    *closed, last = _months(shop)
    june = (out / "events-2026-06.parquet").stat().st_mtime_ns
    open_month = (out / f"events-{last}.parquet").read_bytes()
    again = export_events(shop, out)
    assert again["unchanged"] == closed and again["written"] == [last]
    assert (out / "events-2026-06.parquet").stat().st_mtime_ns == june
    # nothing new happened: the open month came out the same
    assert pl.read_parquet(out / f"events-{last}.parquet").equals(
        pl.read_parquet(io.BytesIO(open_month)))
    assert again["rows"] == 3_000


def test_a_stopped_export_resumes_where_it_stopped(shop, tmp_path, monkeypatch):
    out = tmp_path / "archive"
    real, calls = export_module.load_events, []

    def failing_second_month(source, **window):
        calls.append(window["start"])
        if len(calls) == 2:
            raise KeyboardInterrupt  # the operator's ctrl-c, half-way
        return real(source, **window)

    monkeypatch.setattr(export_module, "load_events", failing_second_month)
    with pytest.raises(KeyboardInterrupt):
        export_events(shop, out)
    assert [p.name for p in out.glob("*.parquet")] == ["events-2026-06.parquet"]
    assert not list(out.glob(".*.tmp"))
    monkeypatch.setattr(export_module, "load_events", real)
    resumed = export_events(shop, out)
    assert resumed["unchanged"] == ["2026-06"] and resumed["written"] == _months(shop)[1:]
    assert _same(load_events(str(out)).collect(), load_events(shop).collect())


def test_bad_destinations_are_refused_and_nothing_written(shop, tmp_path):
    a_file = tmp_path / "file.parquet"
    a_file.write_text("x")
    with pytest.raises(InputError, match="is a file"):
        export_events(shop, a_file)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    pl.DataFrame({"a": [1]}).write_parquet(foreign / "mine.parquet")
    with pytest.raises(InputError, match="no export wrote"):
        export_events(shop, foreign)
    assert [p.name for p in foreign.iterdir()] == ["mine.parquet"]
    refused = cli("export", "--to", tmp_path / "x", "--events", shop, "--from", "2026-07-01")
    assert refused.returncode == 2 and "no --from" in refused.stderr
    assert not (tmp_path / "x").exists()
