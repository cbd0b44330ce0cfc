"""Abandonment computed inside ClickHouse (analytics/clickhouse/abandonment.py), run in chdb,
gives the polars engine's carts and summary: on hand-made cases (test_abandonment.py's and
the rules' edges), on random small logs, on generated shop traffic, with every event
delivered twice, and through ``python -m analytics abandonment --store``."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from segments_frames import at, events
from test_abandonment import _cart

from analytics.abandonment import abandoned_carts, abandonment_summary
from analytics.clickhouse import abandonment as clickhouse
from analytics.clickhouse.schema import events_ddl, rasa_events_ddl
from analytics.clickhouse.store import ChdbStore
from analytics.schema import conform
from analytics.synthetic import generate

pytest.importorskip("chdb")

HOUR, DAY = timedelta(hours=1), timedelta(days=1)


@pytest.fixture(scope="module")
def store():
    store = ChdbStore()
    yield store
    store.close()


def stored(store, log, times: int = 1) -> str:
    table = f"events_{uuid.uuid4().hex[:10]}"
    store.execute(events_ddl(table))
    for _ in range(times):
        store.insert_events(log, table)
    return table


def stored_rasa(store, rows: pl.DataFrame | None, times: int = 1) -> str:
    table = f"rasa_{uuid.uuid4().hex[:10]}"
    store.execute(rasa_events_ddl(table))
    for _ in range(times if rows is not None else 0):
        store.insert_frame(rows, table)
    return table


def rasa_frame(rows: list[tuple]) -> pl.DataFrame:
    """(conversation, time, type, intent, action) rows keyed t:1.. in the order given."""
    return pl.DataFrame([(f"t:{i}", c, ts, t, intent, action)
                         for i, (c, ts, t, intent, action) in enumerate(rows, 1)],
                        schema={"event_key": pl.Utf8, "conversation_id": pl.Utf8,
                                "ts": pl.Datetime("us"), "type": pl.Utf8, "intent": pl.Utf8,
                                "action": pl.Utf8}, orient="row")


def as_conversations(rasa: pl.DataFrame | None) -> pl.DataFrame | None:
    """What analytics.loaders gives the polars engine for these rows (the tracker's order).
    The ClickHouse engine takes an empty rasa_events for no tracker: None."""
    if rasa is None or rasa.is_empty():
        return None
    return (rasa.with_columns(pl.col("event_key").str.len_bytes().alias("_k"))
            .sort("ts", "_k", "event_key").drop("_k", "event_key"))


def assert_same(store, log, *, rasa: pl.DataFrame | None = None, times: int = 1,
                **options) -> pl.DataFrame:
    table, rasa_table = stored(store, log, times), stored_rasa(store, rasa, times)
    try:
        conversations = as_conversations(rasa)
        want = abandoned_carts(log, conversations=conversations, **options)
        got = clickhouse.abandoned_carts(store, table=table, rasa_table=rasa_table, **options)
        assert got.schema == want.schema
        assert got.equals(want), (got, want)
        summary = {k: v for k, v in options.items() if k != "now"}
        assert clickhouse.abandonment_summary(store, table=table, rasa_table=rasa_table,
                                              **options) == \
            abandonment_summary(log, conversations=conversations, carts=want, **summary)
    finally:
        store.execute(f"DROP TABLE {table}")
        store.execute(f"DROP TABLE {rasa_table}")
    return want


# --- hand-made cases ------------------------------------------------------------------------

STATUSES = events(  # test_abandonment's first case: lost, recovered, bought, too recent, ...
    *_cart("A", "u1", at(), ("add_to_cart", 0, 3000), ("add_to_cart", 1, 2000),
           ("remove_from_cart", 2, 2000)),
    *_cart("B", "u2", at(), ("add_to_cart", 0, 4000), ("begin_checkout", 5, 4500),
           ("add_payment_info", 6, 4500), ("purchase", 2 * 24 * 60, 4500)),
    *_cart("C", "u3", at(), ("add_to_cart", 0, 1000), ("purchase", 10, 1000)),
    *_cart("D", "u4", at(days=20, minutes=-30), ("add_to_cart", 0, 999)),
    *_cart("E", "u5", at(days=18), ("add_to_cart", 0, 500), ("view_cart", 1, 700)),
    *_cart("F", "u6", at(), ("add_to_cart", 0, 800), ("purchase", 9 * 24 * 60, 800)),
)

EDGES = events(
    # idle exactly 1 h before the purchase counts; 1 µs less does not
    *_cart("G", "u7", at(), ("add_to_cart", 0, 100), ("purchase", 60, 100)),
    *_cart("H", "u8", at(), ("add_to_cart", 0, 100)),
    dict(ts=at(minutes=60, microseconds=-1), name="purchase", cart_id="H", value=100,
         currency="EUR"),
    # activity after the first purchase is ignored; a second purchase changes nothing
    *_cart("I", "u9", at(), ("add_to_cart", 0, 500), ("begin_checkout", 1, 600),
           ("purchase", 180, 600), ("add_to_cart", 200, 9999), ("purchase", 400, 1)),
    # removes beyond adds: value clipped at 0; a step without value: the net value
    *_cart("J", "u10", at(), ("add_to_cart", 0, 100), ("remove_from_cart", 1, 300),
           ("view_cart", 2, None)),
    # last non-null user, e-mail, channel, currency; the latest valued step wins
    dict(ts=at(minutes=1), name="add_to_cart", cart_id="K", customer_id="u11", value=200,
         currency="USD", channel="web", email="a@example.com"),
    dict(ts=at(minutes=2), name="add_shipping_info", cart_id="K", value=250),
    dict(ts=at(minutes=3), name="view_cart", cart_id="K", customer_id="u12", value=None,
         channel="whatsapp"),
    # a recovery exactly at the window's end; reminders before and at abandonment
    *_cart("L", "u13", at(), ("add_to_cart", 0, 700), ("purchase", 7 * 24 * 60, 700)),
    dict(ts=at(minutes=-5), name="cart_reminder_sent", cart_id="L"),
    dict(ts=at(), name="cart_reminder_sent", cart_id="L"),
    dict(ts=at(hours=3), name="cart_reminder_sent", cart_id="L"),
    # no currency, no channel
    dict(ts=at(days=1), name="add_to_cart", cart_id="M", value=50),
    # purchases and reminders of carts without activity
    dict(ts=at(days=2), name="purchase", cart_id="N", value=10, currency="EUR"),
    dict(ts=at(days=2), name="cart_reminder_sent", cart_id="N"),
)

CHAT = events(
    # the chat events' last turn up to abandoned_at + idle (inclusive), by conversation
    *_cart("P", "u1", at(), ("add_to_cart", 0, 1000), channel="web", conversation="c1"),
    dict(ts=at(minutes=1), name="handoff_requested", conversation_id="c1"),
    dict(ts=at(minutes=60), name="chat_started", conversation_id="c1"),
    dict(ts=at(minutes=61), name="handoff_resolved", conversation_id="c1"),
    *_cart("Q", "u2", at(), ("add_to_cart", 0, 1000), ("begin_checkout", 3, 1100),
           channel="web", conversation="c2"),
    dict(ts=at(minutes=5), name="handoff_requested", conversation_id="c2"),
    *_cart("R", "u3", at(), ("add_to_cart", 0, 1000), channel="web", conversation="c3"),
    dict(ts=at(minutes=-5), name="handoff_requested", conversation_id="c3"),
    dict(ts=at(minutes=-2), name="handoff_resolved", conversation_id="c3"),
    # no conversation: no bot turn, whatever chat events lack one too
    *_cart("S", "u4", at(), ("add_to_cart", 0, 1000), channel="web"),
    dict(ts=at(minutes=1), name="handoff_requested"),
    dict(ts=at(minutes=2), name="cart_reminder_sent"),
)

RASA = rasa_frame([
    ("c1", at(minutes=-1), "action", None, "utter_greet"),
    ("c1", at(seconds=10), "action", None, "action_default_fallback"),
    ("c1", at(seconds=20), "action", None, "action_listen"),
    ("c1", at(hours=2), "action", None, "utter_bye"),
    ("c2", at(minutes=3, seconds=1), "user", "buy", None),
    ("c2", at(minutes=3, seconds=2), "action", None, "action_session_start"),
    ("c2", at(minutes=3, seconds=2), "action", None, "utter_payment_link"),
    ("c2", at(minutes=63), "action", None, "action_two_stage_fallback"),  # exactly at idle
    ("c9", at(), "action", None, "action_default_fallback"),  # no cart
])

CASES = [
    ("statuses", STATUSES, None, dict(now=at(days=20))),
    ("statuses-2h-3d", STATUSES, None, dict(now=at(days=20), idle=2 * HOUR,
                                           recovery_window=3 * DAY)),
    ("statuses-now-is-the-last-event", STATUSES, None, {}),
    ("edges", EDGES, None, dict(now=at(days=7, minutes=0))),
    ("edges-lost-at-deadline", EDGES, None, dict(now=at(days=7, microseconds=1))),
    ("chat-events", CHAT, None, dict(now=at(days=1))),
    ("rasa", CHAT, RASA, dict(now=at(days=1))),
    ("rasa-without-rows", CHAT, RASA.head(0), dict(now=at(days=1))),
    ("idle-2h", events(*_cart("A", "u1", at(), ("add_to_cart", 0, 1000))), None,
     dict(now=at(hours=3), idle=2 * HOUR)),
    ("idle-4h", events(*_cart("A", "u1", at(), ("add_to_cart", 0, 1000))), None,
     dict(now=at(hours=3), idle=4 * HOUR)),
    ("reminders", events(
        *_cart("A", "u1", at(), ("add_to_cart", 0, 1000), ("purchase", 24 * 60, 1000)),
        dict(ts=at(hours=2), name="cart_reminder_sent", cart_id="A"),
        *_cart("B", "u2", at(), ("add_to_cart", 0, 2000)),
        dict(ts=at(hours=2), name="cart_reminder_sent", cart_id="B"),
        *_cart("C", "u3", at(), ("add_to_cart", 0, 3000), ("purchase", 3 * 60, 3000))),
     None, dict(now=at(days=30))),
    ("no-carts", events(dict(ts=at(), name="page_view")), None, {}),
]


@pytest.mark.parametrize("log,rasa,options", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hand_made_cases(store, log, rasa, options):
    assert_same(store, log, rasa=rasa, **options)


def test_the_hand_made_answers_hold(store):
    """A few of the answers worked out by hand, read from ClickHouse itself."""
    table = stored(store, CHAT)
    rows = {r["cart_id"]: r for r in clickhouse.abandoned_carts(
        store, now=at(days=1), table=table, rasa_table=stored_rasa(store, RASA)).to_dicts()}
    assert (rows["P"]["last_bot_turn"], rows["P"]["reason"]) == (
        "action_default_fallback", "bot_did_not_understand")
    assert rows["Q"]["last_bot_turn"] == "action_two_stage_fallback"
    assert rows["R"]["last_bot_turn"] is None
    rows = {r["cart_id"]: r for r in clickhouse.abandoned_carts(
        store, now=at(days=1), table=table, rasa_table=None).to_dicts()}
    assert (rows["P"]["last_bot_turn"], rows["Q"]["reason"], rows["R"]["reason"]) == (
        "chat_started", "waiting_for_agent", "left_with_cart")  # resolved 1 min too late


def test_nothing_selected_gives_the_empty_answer(store):
    table = stored(store, STATUSES)
    got = clickhouse.abandoned_carts(store, table=table, start=datetime(2030, 1, 1))
    assert got.is_empty() and got.schema == abandoned_carts(STATUSES.head(0)).schema
    summary = clickhouse.abandonment_summary(store, table=table, start=datetime(2030, 1, 1))
    assert summary["abandoned_carts"] == 0 and summary["by_currency"] == []


# --- random small logs ------------------------------------------------------------------------

NAMES = ["add_to_cart"] * 3 + [
    "remove_from_cart", "view_cart", "begin_checkout", "add_shipping_info", "add_payment_info",
    "purchase", "cart_reminder_sent", "chat_started", "handoff_requested", "handoff_resolved",
    "view_item"]
ACTIONS = ["utter_greet", "action_default_fallback", "action_listen", "utter_bye",
           "action_session_start", "action_two_stage_fallback"]

event_strategy = st.fixed_dictionaries({
    "minute": st.integers(0, 60 * 24 * 4),
    "name": st.sampled_from(NAMES),
    "cart": st.sampled_from(["A", "B", "C", "A", "B", None]),
    "user": st.sampled_from(["u1", "u2", None]),
    "conversation": st.sampled_from(["c1", "c1", "c2", None]),
    "value": st.one_of(st.none(), st.integers(0, 5000)),
    "currency": st.sampled_from(["EUR", "USD", None]),
    "channel": st.sampled_from(["web", "whatsapp", None]),
})
rasa_strategy = st.lists(st.tuples(st.sampled_from(["c1", "c2", "c3"]),
                                   st.integers(0, 60 * 24 * 4), st.sampled_from(ACTIONS)),
                         max_size=8)


def random_log(rows: list[dict]) -> pl.LazyFrame:
    # distinct minutes: the polars engine leaves the order of equal times open
    seen, unique = set(), []
    for row in rows:
        if row["minute"] not in seen:
            seen.add(row["minute"])
            unique.append(row)
    return events(*[dict(ts=at(minutes=r["minute"]), name=r["name"], cart_id=r["cart"],
                         customer_id=r["user"], conversation_id=r["conversation"],
                         value=r["value"], currency=r["currency"], channel=r["channel"])
                    for r in unique])


@settings(max_examples=120, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=st.lists(event_strategy, min_size=4, max_size=30), rasa=rasa_strategy,
       use_rasa=st.booleans(), twice=st.booleans(), given_now=st.booleans(),
       idle_minutes=st.sampled_from([1, 60, 180]), window_days=st.sampled_from([1, 7]))
def test_random_logs_agree_with_the_polars_engine(store, rows, rasa, use_rasa, twice,
                                                  given_now, idle_minutes, window_days):
    log = random_log(rows)
    seen, actions = set(), []
    for conversation, minute, action in rasa:
        if (conversation, minute) not in seen:  # distinct times within a conversation
            seen.add((conversation, minute))
            actions.append((conversation, at(minutes=minute, seconds=30), "action", None,
                            action))
    options = dict(idle=timedelta(minutes=idle_minutes),
                   recovery_window=timedelta(days=window_days))
    if given_now:
        options["now"] = at(days=5)
    carts = assert_same(store, log, rasa=rasa_frame(actions) if use_rasa and actions else None,
                        times=2 if twice else 1, **options)
    event(f"abandoned carts: {min(carts.height, 2)}{'+' if carts.height > 1 else ''}")
    event(f"with a last bot turn: {carts['last_bot_turn'].is_not_null().any()}")


# --- generated traffic ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def traffic():
    log = conform(generate(30_000, seed=5, start=datetime(2026, 9, 1), days=30).lazy()) \
        .collect()
    # the recovery job's reminders: every third cart, two hours after its first add
    carts = (log.filter(pl.col("name") == "add_to_cart").group_by("cart_id")
             .agg(pl.col("ts").min()).sort("cart_id").gather_every(3))
    reminders = carts.select(
        pl.format("reminder-{}", pl.col("cart_id")).alias("event_id"),
        (pl.col("ts") + pl.duration(hours=2)).alias("ts"),
        pl.lit("cart_reminder_sent").alias("name"), "cart_id")
    return conform(pl.concat([log, reminders], how="diagonal_relaxed").sort("ts").lazy()) \
        .collect()


@pytest.mark.parametrize("options", [
    {}, dict(idle=30 * timedelta(minutes=1), recovery_window=3 * DAY),
    dict(now=datetime(2026, 10, 20)),
    dict(start=datetime(2026, 9, 8), end=datetime(2026, 9, 22), channels=["web", "site"]),
], ids=["defaults", "30m-3d", "later-now", "range-and-channels"])
def test_generated_traffic_agrees(store, traffic, options):
    selection = {k: options.pop(k) for k in ("start", "end", "channels") if k in options}
    log = traffic.lazy()
    if selection:
        log = log.filter(pl.col("ts") >= selection["start"], pl.col("ts") < selection["end"],
                         pl.col("channel").fill_null("site").is_in(selection["channels"]))
    table = stored(store, traffic, times=2)  # every event delivered twice
    want = abandoned_carts(log, **options)
    got = clickhouse.abandoned_carts(store, table=table, rasa_table=None, **selection,
                                     **options)
    assert want.height > 100 and want["reminded_at"].is_not_null().any()
    assert got.equals(want)
    summary = {k: v for k, v in options.items() if k != "now"}
    assert clickhouse.abandonment_summary(store, table=table, rasa_table=None, **selection,
                                          **options) == \
        abandonment_summary(log, carts=want, **summary)


# --- the command ------------------------------------------------------------------------------

def test_the_command_with_a_store(tmp_path, traffic):
    from test_cli import cli
    source = tmp_path / "events.parquet"
    traffic.write_parquet(source)
    url = f"chdb:{tmp_path / 'store'}"
    done = cli("store-load", "--events", source, "--store", url)
    assert done.returncode == 0, done.stderr
    for extra in ([], ["--carts", "--idle", "2h"], ["--from", "2026-09-10", "--channel", "web"]):
        polars = cli("abandonment", "--events", source, *extra)
        inside = cli("abandonment", "--store", url, *extra)
        assert polars.returncode == inside.returncode == 0, inside.stderr
        assert json.loads(inside.stdout) == json.loads(polars.stdout)
    from_env = cli("abandonment", "--store", env={"ANALYTICS_STORE": url})
    assert json.loads(from_env.stdout) == json.loads(cli("abandonment", "--events",
                                                         source).stdout)
    refused = cli("abandonment", "--store", url, "--events", source)
    assert refused.returncode == 2 and "--events" in refused.stderr
