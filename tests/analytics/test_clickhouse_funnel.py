"""The ClickHouse funnel (analytics/clickhouse/funnel.py), run in chdb, gives the polars
engine's numbers: on the hand-worked cases and the property-test logs of test_funnel.py,
and on generated shop traffic; a redelivered event is never counted twice."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_funnel import CASES, FLOATS, NUMBERS, events_strategy, frame, funnel_strategy

from analytics.clickhouse.funnel import BUCKET_EVENTS
from analytics.clickhouse.funnel import compute_funnel as clickhouse_funnel
from analytics.clickhouse.schema import events_ddl
from analytics.clickhouse.store import ChdbStore
from analytics.funnel import Funnel, Step, compute_funnel
from analytics.schema import InputError, conform
from analytics.synthetic import generate

pytest.importorskip("chdb")


@pytest.fixture(scope="module")
def store():
    store = ChdbStore()
    yield store
    store.close()


def stored(store, events: pl.LazyFrame | pl.DataFrame, times: int = 1) -> str:
    table = f"events_{uuid.uuid4().hex[:10]}"
    store.execute(events_ddl(table))
    for _ in range(times):
        store.insert_events(events, table)
    return table


def assert_same(got: pl.DataFrame, want: pl.DataFrame) -> None:
    assert got.schema == want.schema
    assert got.select("breakdown", "step_index", "step", *NUMBERS).equals(
        want.select("breakdown", "step_index", "step", *NUMBERS))
    for column in FLOATS:  # the same arithmetic; allow the last bit of a float
        for g, w in zip(got[column].to_list(), want[column].to_list()):
            assert (g is None and w is None) or abs(g - w) <= 1e-9 * max(1.0, abs(w)), \
                (column, g, w)


ORDERED = [c for c in CASES if c[3].get("order", "ordered") == "ordered"]


@pytest.mark.parametrize("events,steps,options,expected", [c[1:] for c in ORDERED],
                         ids=[c[0] for c in ORDERED])
def test_hand_worked_cases(store, events, steps, options, expected):
    funnel = Funnel([s if isinstance(s, Step) else Step(s) for s in steps], **options)
    lf = frame(events)
    got = clickhouse_funnel(store, funnel, table=stored(store, lf))
    assert got.filter(pl.col("breakdown") == "all")["entered"].to_list() == expected
    assert_same(got, compute_funnel(lf, funnel))


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(events=events_strategy, funnel=funnel_strategy, twice=st.booleans(),
       split=st.sampled_from([None, 2, 5]))
def test_property_cases_agree_with_the_polars_engine(store, events, funnel, twice, split):
    funnel.order = "ordered"
    lf = frame(events)
    # twice: every event delivered two times (FINAL merges the copies); split: units taken
    # in about that many ranges
    table = stored(store, lf, 2 if twice else 1)
    bucket = max(1, len(events) // split) if split else BUCKET_EVENTS
    try:
        got = clickhouse_funnel(store, funnel, table=table, bucket_events=bucket)
    finally:
        store.execute(f"DROP TABLE {table}")
    assert_same(got, compute_funnel(lf, funnel))


@pytest.fixture(scope="module")
def traffic():
    return conform(generate(40_000, seed=11, start=datetime(2026, 9, 1), days=30).lazy()) \
        .collect()


@pytest.mark.parametrize("funnel", [
    Funnel([Step(s) for s in ("view_item", "add_to_cart", "begin_checkout", "purchase")],
           breakdown="channel"),
    Funnel([Step("view_item"), Step("add_to_cart", {"category": ["Shoes", "Bags"]}),
            Step("purchase")], window=timedelta(hours=2), unit="session", breakdown="device"),
    Funnel([Step("view_item"), Step("view_item"), Step("add_to_cart")],
           exclusions=[Step("remove_from_cart")], breakdown="chat"),
    Funnel([Step("add_to_cart"), Step("purchase")], window=timedelta(days=7),
           breakdown="category"),
], ids=["4-step", "where-session", "repeated-exclusion", "7d-category"])
def test_generated_traffic_agrees(store, traffic, funnel):
    table = stored(store, traffic)
    assert_same(clickhouse_funnel(store, funnel, table=table),
                compute_funnel(traffic.lazy(), funnel))


@pytest.mark.parametrize("funnel", [
    Funnel([Step(s) for s in ("view_item", "add_to_cart", "begin_checkout", "purchase")],
           breakdown="channel"),
    Funnel([Step("view_item"), Step("add_to_cart"), Step("purchase")],
           window=timedelta(hours=2), unit="session", breakdown="device"),
], ids=["user", "session"])
def test_a_range_of_units_at_a_time_gives_the_same_numbers(store, traffic, funnel):
    """A shop too big for memory is computed a range of units at a time: the same table."""
    table = stored(store, traffic)
    seen = []
    got = clickhouse_funnel(store, funnel, table=table, bucket_events=4_000,
                            progress=lambda done, total: seen.append((done, total)))
    assert len(seen) >= 5 and seen[-1][0] == seen[-1][1] == len(seen)
    assert_same(got, compute_funnel(traffic.lazy(), funnel))
    start, end = datetime(2026, 9, 5), datetime(2026, 9, 19)
    assert_same(clickhouse_funnel(store, funnel, table=table, bucket_events=4_000,
                                  start=start, end=end, channels=["web"]),
                compute_funnel(traffic.lazy().filter(
                    pl.col("ts") >= start, pl.col("ts") < end, pl.col("channel") == "web"),
                    funnel))
    assert not [t for t in store.query("SHOW TABLES")["name"].to_list()
                if t.startswith("funnel_")], "the working tables are dropped"


def test_a_computation_that_fails_midway_leaves_no_table_behind(store, traffic):
    table = stored(store, traffic)

    def stop_at_the_second(done, total):
        if done == 2:
            raise RuntimeError("stopped by the test")

    funnel = Funnel([Step("view_item"), Step("purchase")])
    with pytest.raises(RuntimeError, match="stopped by the test"):
        clickhouse_funnel(store, funnel, table=table, bucket_events=4_000,
                          progress=stop_at_the_second)
    assert not [t for t in store.query("SHOW TABLES")["name"].to_list()
                if t.startswith("funnel_")]


def test_range_and_channels_are_applied_in_clickhouse(store, traffic):
    funnel = Funnel([Step("view_item"), Step("add_to_cart"), Step("purchase")])
    start, end = datetime(2026, 9, 5), datetime(2026, 9, 19)
    got = clickhouse_funnel(store, funnel, table=stored(store, traffic), start=start, end=end,
                            channels=["web", "site"])
    want = compute_funnel(traffic.lazy().filter(
        pl.col("ts") >= start, pl.col("ts") < end, pl.col("channel").is_in(["web", "site"])),
        funnel)
    assert got["entered"][0] > 0
    assert_same(got, want)


def test_strict_and_any_order_are_refused(store, traffic):
    table = stored(store, traffic.head(100))
    for order in ("strict", "any"):
        with pytest.raises(InputError, match="polars engine"):
            clickhouse_funnel(store, Funnel([Step("view_item")], order=order), table=table)


def test_odd_property_keys_and_quotes_are_safe(store, traffic):
    table = stored(store, traffic.head(500))
    with pytest.raises(InputError, match="letters, digits"):
        clickhouse_funnel(store, Funnel([Step("view_item", {"a') OR 1=1 --": "x"})]),
                          table=table)
    quoted = Funnel([Step("view_item", {"category": "Sh'oes\\"})])
    assert clickhouse_funnel(store, quoted, table=table).is_empty()
    assert compute_funnel(traffic.head(500).lazy(), quoted).is_empty()
