"""``python -m analytics`` as a user runs it: a subprocess, JSON or CSV out, exit 2 with one
line on bad input."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def events_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "events.parquet"
    done = cli("synthesize", "--events", 20_000, "--seed", 3, "--output", path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["events"] == 20_000
    return path


def test_funnel_json_and_csv_agree(events_file):
    args = ["funnel", "--events", events_file, "--steps", "view_item,add_to_cart,purchase",
            "--breakdown", "device", "--window", "2h"]
    as_json = json.loads(cli(*args).stdout)
    as_csv = list(csv.DictReader(io.StringIO(cli(*args, "--format", "csv").stdout)))
    assert len(as_json) == len(as_csv) == 9  # 3 devices x 3 steps
    assert [r["entered"] for r in as_json] == [int(r["entered"]) for r in as_csv]
    assert {r["breakdown"] for r in as_json} == {"mobile", "desktop", "tablet"}


def test_funnel_filters_where_and_exclusions(events_file):
    base = ["funnel", "--events", events_file, "--steps", "view_item,add_to_cart"]
    everything = json.loads(cli(*base).stdout)
    shoes = json.loads(cli(*base, "--where", "add_to_cart:category=Shoes").stdout)
    whatsapp = json.loads(cli(*base, "--channel", "whatsapp").stdout)
    excluded = json.loads(cli(*base, "--exclude", "view_item_list").stdout)
    september = json.loads(cli(*base, "--from", "2026-09-01", "--to", "2026-09-15").stdout)
    for narrower in (shoes, whatsapp, september):
        assert narrower[1]["entered"] < everything[1]["entered"]
    assert excluded[0]["entered"] <= everything[0]["entered"]


def test_unknown_event_names_are_allowed_with_a_warning(events_file):
    done = cli("funnel", "--events", events_file, "--steps", "view_item,page_viewed")
    assert done.returncode == 0
    assert "warning: 'page_viewed'" in done.stderr


@pytest.mark.parametrize("args,message", [
    (["--window", "one day"], "is not a duration"),
    (["--where", "shoes"], "STEP:key=value"),
    (["--from", "01/09/2026"], "YYYY-MM-DD"),
    (["--breakdown", "colour"], "cannot break down"),
])
def test_bad_input_exits_2_with_one_line(events_file, args, message):
    done = cli("funnel", "--events", events_file, "--steps", "view_item,purchase", *args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and message in done.stderr


def test_missing_events_file(tmp_path):
    done = cli("funnel", "--events", tmp_path / "none.parquet", "--steps", "view_item")
    assert done.returncode == 2 and "no file" in done.stderr


def test_import_events_then_funnel(tmp_path):
    log = tmp_path / "clicks.csv"
    log.write_text("when,what,who\n2026-09-01T10:00:00Z,view_item,a\n"
                   "2026-09-01T10:05:00Z,purchase,a\n2026-09-01T11:00:00Z,view_item,b\n")
    out = tmp_path / "clicks.parquet"
    done = cli("import-events", log, "--map", "ts=when,name=what,user_id=who",
               "--output", out)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["events"] == 3
    funnel = json.loads(cli("funnel", "--events", out, "--steps", "view_item,purchase").stdout)
    assert [r["entered"] for r in funnel] == [2, 1]
    missing = cli("import-events", log, "--map", "ts=time,name=what,user_id=who")
    assert missing.returncode == 2 and "no column 'time'" in missing.stderr
    assert not (tmp_path / "var").exists()


def test_the_demo_history_agrees_with_its_shop(tmp_path):
    """Added to a shop priced in yen: every value in yen, and nothing after now."""
    import sqlite3
    from datetime import datetime, timezone
    url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    env = {**os.environ, "DATABASE_URL": url, "AISLE_VAR_DIR": str(tmp_path),
           "SHOP_CURRENCY": "JPY"}
    seeded = subprocess.run([sys.executable, "-m", "storefront_api", "seed", "--products",
                             "50"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert seeded.returncode == 0, seeded.stderr
    result = subprocess.run([sys.executable, "-m", "analytics", "synthesize", "--events",
                             "20000", "--days", "120", "--into", url], cwd=ROOT,
                            env={**env, "SHOP_CURRENCY": "USD"},  # the products decide
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(" ")
    with sqlite3.connect(tmp_path / "shop.db") as shop:
        currencies = {c for (c,) in shop.execute(
            "SELECT DISTINCT currency FROM events WHERE value IS NOT NULL")}
        latest, refunds = shop.execute(
            "SELECT max(ts), sum(name = 'refund') FROM events").fetchone()
    assert currencies == {"JPY"}
    assert latest <= now and refunds > 0  # the refunds still to come are left out


def test_synthesize_into_a_shop_database_is_idempotent(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"  # the shop's own URL form
    migrate = subprocess.run([sys.executable, "-m", "storefront_api", "migrate"], cwd=ROOT,
                             env={**os.environ, "DATABASE_URL": url,
                                  "AISLE_VAR_DIR": str(tmp_path)},
                             capture_output=True, text=True, timeout=120)
    assert migrate.returncode == 0, migrate.stderr
    first = json.loads(cli("synthesize", "--events", 5_000, "--into", url).stdout)
    second = json.loads(cli("synthesize", "--events", 5_000, "--into", url).stdout)
    assert (first["inserted"], second["inserted"]) == (5_000, 0)
    funnel = json.loads(cli("funnel", "--events", url, "--steps", "view_item,purchase",
                            "--format", "json").stdout)
    assert funnel[0]["entered"] > funnel[1]["entered"] > 0
