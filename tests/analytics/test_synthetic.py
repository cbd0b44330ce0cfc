"""The synthetic shop traffic: deterministic, realistic in shape, written in chunks."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from analytics.funnel import Funnel, Step, compute_funnel
from analytics.schema import EVENT_SCHEMA
from analytics.synthetic import generate, write_parquet


def test_same_seed_same_events_other_seed_other_events():
    a, b, c = generate(20_000, seed=1), generate(20_000, seed=1), generate(20_000, seed=2)
    assert a.equals(b) and not a.equals(c)
    assert a.height == 20_000 and a.schema == pl.Schema(EVENT_SCHEMA)


def test_shape_of_the_traffic():
    events = generate(100_000, seed=0, start=datetime(2026, 9, 1), days=30)
    assert events["event_id"].is_unique().all()
    names = set(events["name"])
    assert {"view_item_list", "view_item", "add_to_cart", "remove_from_cart", "view_cart",
            "begin_checkout", "add_shipping_info", "add_payment_info", "purchase", "refund",
            "return_requested", "chat_started", "handoff_requested",
            "handoff_resolved"} <= names
    assert {"site", "web", "whatsapp", "telegram", "messenger"} <= set(events["channel"])
    assert {"mobile", "desktop", "tablet"} == set(events["device"])
    chat = events.filter(pl.col("channel") != "site")
    assert chat["conversation_id"].null_count() == 0
    assert events.filter(pl.col("channel") == "site")["conversation_id"].null_count() == \
        events.filter(pl.col("channel") == "site").height
    assert events["ts"].min() >= datetime(2026, 9, 1)
    purchases = events.filter(pl.col("name") == "purchase")
    assert purchases["value"].min() > 0 and set(purchases["currency"]) == {"EUR"}
    consented = events.filter(pl.col("consent"), pl.col("name") == "purchase")
    assert consented["email"].null_count() == 0
    assert events.filter(~pl.col("consent"))["email"].null_count() == \
        events.filter(~pl.col("consent")).height


def test_abandonment_happens_at_every_step():
    events = generate(200_000, seed=0).lazy()
    steps = ["view_item", "add_to_cart", "begin_checkout", "add_payment_info", "purchase"]
    entered = compute_funnel(events, Funnel([Step(s) for s in steps], unit="session"))
    counts = entered["entered"].to_list()
    assert all(a > b > 0 for a, b in zip(counts, counts[1:]))
    assert 0.02 < counts[-1] / counts[0] < 0.2  # a believable shop conversion rate


def test_write_parquet_in_several_files(tmp_path, capsys):
    from storefront_api.progress import CommandProgress
    with CommandProgress() as progress:  # not a terminal here: lines, no bar
        files = write_parquet(tmp_path / "parts", 30_000, seed=4, files=3, progress=progress)
    assert [f.name for f in files] == ["part-0000.parquet", "part-0001.parquet",
                                       "part-0002.parquet"]
    written = pl.read_parquet(files)
    assert written.height == 30_000 and written.sort("event_id").equals(
        generate(30_000, seed=4).sort("event_id"))
    assert "events: 30,000 / 30,000" in capsys.readouterr().err
