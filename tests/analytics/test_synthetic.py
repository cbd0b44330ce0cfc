"""The synthetic shop traffic: deterministic, realistic in shape, written in chunks."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest

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


def _physical_order(url: str) -> pl.DataFrame:
    """The events in the order their rows lie in the table (PostgreSQL: pages; SQLite:
    rowids), with the columns the overview reads."""
    from sqlalchemy import create_engine, literal_column, select, table

    from analytics.loaders import sql_types, sync_url
    names = ["event_id", "ts", "name", "session_id", "cart_id", "value", "currency"]
    types = sql_types()
    events = table("events", *[literal_column(n, types[n]) for n in names])
    place = literal_column("ctid" if url.startswith("postgresql") else "rowid")
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(*events.c).order_by(place)).all()
    finally:
        engine.dispose()
    return pl.DataFrame([tuple(r) for r in rows], orient="row", schema=names)


def test_layouts_write_the_same_events_in_their_own_physical_order(empty_url, monkeypatch):
    """``--layout time`` lays the rows in time order, as a live shop's table fills;
    ``shuffled`` spreads every day over the table; ``chunks`` (how it wrote before) one
    sorted run per chunk of journeys. The events are the same in each."""
    import analytics.synthesize as synthesize
    monkeypatch.setattr(synthesize, "EVENTS_PER_BUCKET", 5_000)  # several buckets
    monkeypatch.setattr("analytics.synthetic.JOURNEYS_PER_CHUNK", 2_000)  # several chunks
    orders = {}
    for layout in ("chunks", "time", "shuffled"):
        result = synthesize.append_to_database(empty_url, 20_000, seed=5, start=datetime(
            2026, 9, 1), days=20, replace=True, layout=layout)
        assert result["inserted"] == 20_000
        orders[layout] = _physical_order(empty_url)
    same = [frame.sort("event_id") for frame in orders.values()]
    assert all(frame.equals(same[0]) for frame in same[1:])
    order = {layout: frame.select(pl.corr(pl.int_range(pl.len()), pl.col("ts").cast(pl.Int64),
                                          method="spearman")).item()
             for layout, frame in orders.items()}
    # a few rows land on an earlier page with room left (PostgreSQL fills pages so), as
    # they do in a live shop's table
    assert order["time"] > 0.999
    assert abs(order["shuffled"]) < 0.05
    assert 0.1 < order["chunks"] < 0.9  # a few sorted runs, each over the whole history


def test_an_unknown_layout_is_refused(empty_url):
    from analytics.schema import InputError
    from analytics.synthesize import append_to_database
    with pytest.raises(InputError, match="layout"):
        append_to_database(empty_url, 100, start=datetime(2026, 9, 1), days=2,
                           layout="sorted")
