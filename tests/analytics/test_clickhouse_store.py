"""The ClickHouse store: its schema (as docker-compose applies it), loading events and files
of Rasa's events through `python -m analytics store-load`, redeliveries counted once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import pytest

from analytics.clickhouse.ingest import ingest_rasa_file
from analytics.clickhouse.schema import schema_sql
from analytics.clickhouse.store import ChdbStore, open_store
from analytics.loaders import load_events
from analytics.schema import InputError
from analytics.synthesize import append_to_database
from storefront_api.migrations import upgrade

pytest.importorskip("chdb")
ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "deploy" / "clickhouse" / "schema.sql"


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=os.environ)


def test_the_deployed_schema_is_the_codes_and_runs():
    text = SCHEMA_FILE.read_text()
    body = text[text.index("CREATE DATABASE"):]
    assert body == schema_sql()
    store = ChdbStore()
    try:
        for statement in filter(str.strip, body.split(";")):
            store.execute(statement)
        tables = store.query("SELECT name, engine, partition_key, sorting_key FROM "
                             "system.tables WHERE database = 'aisle' ORDER BY name")
        rows = {r["name"]: r for r in tables.to_dicts()}
        assert rows["events"]["engine"] == rows["rasa_events"]["engine"] == \
            "ReplacingMergeTree"
        assert rows["events"]["partition_key"] == "toYYYYMM(ts)"
        assert rows["events"]["sorting_key"].endswith("ts, event_id")
    finally:
        store.close()


def test_compose_runs_clickhouse_only_in_the_analytics_profile_with_a_password():
    import yaml
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["clickhouse"]
    assert service["profiles"] == ["analytics"] and "ports" not in service
    assert any("deploy/clickhouse/schema.sql:/docker-entrypoint-initdb.d/" in v
               for v in service["volumes"])
    assert "set CLICKHOUSE_PASSWORD" in " ".join(service["entrypoint"])
    if shutil.which("docker-compose"):
        with tempfile.NamedTemporaryFile(suffix=".env") as empty:
            env = {**os.environ, **{k: "x" for k in (
                "SECRET_KEY", "SERVICE_TOKEN", "RASA_JWT_SECRET", "CHAT_JWT_SECRET",
                "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "SMTP_URL", "POSTGRES_PASSWORD",
                "RABBITMQ_PASSWORD", "REDIS_PASSWORD", "DASHBOARD_DB_PASSWORD")}}
            done = subprocess.run(["docker-compose", "-f", str(ROOT / "docker-compose.yml"),
                                   "--env-file", empty.name, "--profile", "analytics",
                                   "config", "--services"], capture_output=True, text=True,
                                  env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "clickhouse" in done.stdout.split()


def test_store_load_copies_every_event_once(tmp_path):
    shop = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    upgrade(shop)
    append_to_database(shop, 2_000, seed=9, start=datetime(2026, 7, 20), days=40)
    rasa = tmp_path / "rasa.jsonl"
    events = [{"event": "user", "timestamp": 1_788_000_000 + i, "sender_id": f"c{i % 7}",
               "aisle_event_id": i + 1, "input_channel": "socketio",
               "parse_data": {"intent": {"name": "greet", "confidence": 0.9}}}
              for i in range(50)]
    rasa.write_text("\n".join([json.dumps(e) for e in events] + ["not json", "[1]", ""]))
    store = tmp_path / "store"
    for _ in range(2):  # the second time is a redelivery of everything
        done = cli("store-load", "--events", shop, "--store", f"chdb:{store}",
                   "--rasa-events", rasa)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["events"]["events"] == 2_000
        assert summary["rasa_events"]["rasa_events"] == 50
        assert summary["rasa_events"]["skipped"] == 2
    reader = ChdbStore(str(store))
    try:
        counts = reader.query("SELECT (SELECT count() FROM events FINAL) AS e, "
                              "(SELECT count() FROM rasa_events FINAL) AS r").row(0)
        assert counts == (2_000, 50)
        ids = set(reader.query("SELECT event_id FROM events FINAL")["event_id"])
        assert ids == set(load_events(shop, columns=["event_id"]).collect()["event_id"])
        greet = reader.query("SELECT intent, confidence FROM rasa_events FINAL LIMIT 1").row(0)
        assert greet == ("greet", 0.9)
    finally:
        reader.close()


def test_files_are_loaded_a_piece_at_a_time_in_their_own_order(tmp_path):
    from analytics.clickhouse.ingest import load_events_into
    from analytics.synthetic import write_parquet
    source = tmp_path / "export"
    write_parquet(source, 3_000, seed=4, files=3)
    store = ChdbStore()
    try:
        store.create_tables()
        done = load_events_into(store, str(source), rows=400)  # 8 pieces
        assert done["events"] == 3_000
        stored = store.query("SELECT event_id, seq FROM events FINAL ORDER BY seq")
        assert stored["seq"].to_list() == list(range(3_000))
        assert stored["event_id"].to_list() == \
            load_events(str(source), columns=["event_id"]).collect()["event_id"].to_list()
    finally:
        store.close()


def test_files_that_change_while_they_are_loaded_are_refused(tmp_path):
    from datetime import timedelta

    from analytics.clickhouse.ingest import _pieces
    from analytics.synthetic import write_parquet
    source = tmp_path / "export"
    write_parquet(source, 1_000, seed=4, files=2)
    pieces = _pieces(str(source), timedelta(days=1), 300)
    next(pieces)
    write_parquet(source / "part-0001.parquet", 200, seed=5)  # rewritten meanwhile
    with pytest.raises(InputError, match="changed while it was loaded"):
        list(pieces)


def test_bad_store_urls_and_files_are_refused(tmp_path):
    with pytest.raises(InputError, match="clickhouse://"):
        open_store("mysql://x")
    with pytest.raises(InputError, match="no file"):
        ingest_rasa_file(ChdbStore(), tmp_path / "missing.jsonl")
    done = cli("store-load", "--events", tmp_path / "none.parquet", "--store", "chdb:")
    assert done.returncode == 2 and "no file" in done.stderr
    unset = cli("store-load")
    assert unset.returncode == 2 and "ANALYTICS_STORE" in unset.stderr


@pytest.mark.parametrize("url", [
    "clickhouse://aisle:zq/xv@ch:8123/aisle",  # a '/' in the password
    "clickhouse://aisle:zq#xv@ch:8123/aisle",
    "clickhouse://aisle:zq?xv@ch:8123/aisle",
    "clickhouse://aisle:zq@xv@ch:8123/aisle",
    "clickhouse://aisle:zqxv@ch:notaport/aisle",
])
def test_an_unreadable_store_url_names_no_part_of_its_password(url):
    from analytics.clickhouse.store import server_label
    with pytest.raises(InputError) as raised:
        open_store(url)
    for part in ("zq", "xv"):
        assert part not in str(raised.value)
    assert server_label(url) == "an unreadable ClickHouse URL"


def test_the_label_of_a_store_hides_its_password():
    from analytics.clickhouse.store import server_label
    assert server_label("clickhouse://aisle:s3cr%2Ft@ch:8123/aisle") == \
        "clickhouse://aisle@ch:8123/aisle"
    assert server_label("chdb:/var/aisle/store") == "chdb:/var/aisle/store"
    with pytest.raises(InputError) as raised:
        open_store("http://aisle:s3cret@ch:8123/aisle")
    assert "s3cret" not in str(raised.value)
