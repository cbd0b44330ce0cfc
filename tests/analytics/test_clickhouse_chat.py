"""Chat outcomes computed inside ClickHouse (analytics/clickhouse/chat.py), run in chdb, give
the polars engine's numbers: on test_chat_metrics.py's logs and the rules' edges, on random
small logs with Rasa's events, on generated shop traffic, with every event delivered twice,
and through ``python -m analytics chat-metrics --store``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from segments_frames import at, events
from test_chat_metrics import _log
from test_clickhouse_abandonment import as_conversations, rasa_frame, stored, stored_rasa

from analytics.chat import chat_metrics
from analytics.clickhouse.chat import chat_metrics as clickhouse_chat_metrics
from analytics.clickhouse.store import ChdbStore
from analytics.schema import conform
from analytics.synthetic import generate

pytest.importorskip("chdb")


@pytest.fixture(scope="module")
def store():
    store = ChdbStore()
    yield store
    store.close()


def same(got: dict, want: dict) -> None:
    """Equal, the medians to the last bit of a float (the same arithmetic, another order)."""
    got_reply, want_reply = got.pop("first_agent_reply"), want.pop("first_agent_reply")
    assert got == want
    assert got_reply.keys() == want_reply.keys()
    for key, w in want_reply.items():
        g = got_reply[key]
        assert (g is None and w is None) or abs(g - w) <= 1e-9 * max(1.0, abs(w)), (key, g, w)


def assert_same(store, log, rasa: pl.DataFrame | None = None, *, times: int = 1,
                **options) -> dict:
    table, rasa_table = stored(store, log, times), stored_rasa(store, rasa, times)
    try:
        want = chat_metrics(log, as_conversations(rasa), **options)
        got = clickhouse_chat_metrics(store, table=table, rasa_table=rasa_table, **options)
        same(dict(got), dict(want))
    finally:
        store.execute(f"DROP TABLE {table}")
        store.execute(f"DROP TABLE {rasa_table}")
    return want


# --- hand-made cases ------------------------------------------------------------------------

RASA = rasa_frame([  # test_chat_metrics' tracker, and more
    ("c1", at(minutes=0), "user", "greet", None),
    ("c1", at(minutes=0.1), "action", None, "utter_greet"),
    ("c1", at(minutes=1), "user", "nlu_fallback", None),
    ("c1", at(minutes=1.1), "action", None, "action_default_fallback"),
    ("c1", at(minutes=2), "user", "buy", None),
    ("c1", at(minutes=2.1), "action", None, "action_default_fallback"),
    ("c1", at(minutes=3), "user", "buy", None),
    ("c1", at(minutes=3.1), "action", None, "action_search"),
    ("c4", at(minutes=0), "user", "human", None),
    ("c4", at(minutes=0.5), "pause", None, None),
    ("c4", at(minutes=2.5), "bot", None, None),
    ("c4", at(minutes=4), "resume", None, None),
    ("c4", at(minutes=5), "bot", None, None),  # the bot again: not an agent
    ("c4", at(minutes=6), "pause", None, None),
    ("c4", at(minutes=6), "bot", None, None),  # same instant, after the pause (tracker id)
])
MORE = rasa_frame([
    # a fallback action before any user message answers none; an intent-less user message
    ("c5", at(minutes=0), "action", None, "action_default_fallback"),
    ("c5", at(minutes=1), "user", None, None),
    ("c5", at(minutes=1), "action", None, "action_two_stage_fallback"),
    ("c6", at(minutes=0), "bot", None, None),  # a bot message before any pause
    ("c6", at(minutes=1), "pause", None, None),
    ("c6", at(minutes=2), "resume", None, None),
    ("c6", at(minutes=3), "bot", None, None),
    ("c6", at(minutes=4), "pause", None, None),
    ("c6", at(minutes=9), "bot", None, None),
])

EDGES = events(
    # reasons: text, number, empty, null, missing, an object
    *[dict(ts=at(minutes=i), name="handoff_requested", conversation_id=f"h{i}",
           properties=p)
      for i, p in enumerate([{"reason": "complaint"}, {"reason": 5}, {"reason": ""},
                             {"reason": None}, {}, {"reason": {"a": 1}},
                             {"reason": "complaint"}])],
    dict(ts=at(minutes=8), name="handoff_requested", properties={"reason": "no_chat"}),
    # replies before the handoff do not count; six waits (p90 on a half rank)
    dict(ts=at(minutes=-1), name="agent_replied", conversation_id="h0"),
    *[dict(ts=at(minutes=i, seconds=10 * (i + 1)), name="agent_message",
           conversation_id=f"h{i}") for i in range(6)],
    # attribution: a touch exactly a window before, one a µs too early, a purchase at the
    # touch's instant, a purchase without a user, without an order number, refunds
    dict(ts=at(), name="chat_started", conversation_id="k1", customer_id="u1"),
    dict(ts=at(days=7), name="purchase", customer_id="u1", order_number="O1", value=100,
         currency="EUR"),
    dict(ts=at(), name="chat_started", conversation_id="k2", customer_id="u2"),
    dict(ts=at(days=7, microseconds=1), name="purchase", customer_id="u2",
         order_number="O2", value=200, currency="EUR"),
    dict(ts=at(days=1), name="chat_started", conversation_id="k3", customer_id="u3"),
    dict(ts=at(days=1), name="purchase", customer_id="u3", value=300, currency="USD"),
    dict(ts=at(days=1), name="purchase", value=400, currency="USD", conversation_id="k9"),
    dict(ts=at(days=1), name="purchase", value=500, currency=None, conversation_id="k8",
         order_number="O5"),
    dict(ts=at(days=2), name="refund", order_number="O1", value=30),
    dict(ts=at(days=2), name="refund", order_number="O1", value=None),
    dict(ts=at(days=3), name="refund", order_number="O5", value=50),
    dict(ts=at(days=3), name="purchase", customer_id="u1", order_number="O1", value=10,
         currency="EUR"),  # the same order twice: its refund counts twice, as in polars
)

CASES = [
    ("test_chat_metrics", _log(), None, {}),
    ("test_chat_metrics-30d", _log(), None, dict(attribution_window=timedelta(days=30))),
    ("test_chat_metrics-rasa", events(dict(ts=at(), name="chat_started",
                                           conversation_id="c1")), RASA, {}),
    ("rasa-edges", _log(), pl.concat([RASA, MORE.with_columns(
        pl.format("m:{}", pl.col("event_key")).alias("event_key"))]), dict(top=3)),
    ("rasa-without-rows", _log(), RASA.head(0), {}),
    ("edges", EDGES, None, {}),
    ("edges-1d-top0", EDGES, MORE, dict(attribution_window=timedelta(days=1), top=0)),
    ("no-chat", events(dict(ts=at(), name="page_view")), None, {}),
]


@pytest.mark.parametrize("log,rasa,options", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hand_made_cases(store, log, rasa, options):
    assert_same(store, log, rasa, **options)


def test_the_hand_made_answers_hold(store):
    got = clickhouse_chat_metrics(store, table=stored(store, _log()), rasa_table=None)
    assert (got["conversations"], got["handoffs"], got["contained"]) == (3, 2, 1)
    assert got["first_agent_reply"] == {"replied_handoffs": 2, "median_seconds": 210.0,
                                        "p90_seconds": 300.0}
    assert got["attributed_revenue"] == [{"currency": "EUR", "orders": 2, "gross": 7000,
                                          "refunded": 1000, "net": 6000}]
    got = clickhouse_chat_metrics(store, table=stored(store, EDGES), rasa_table=None)
    # waits 10, 20, .. 60 s: rank round(0.9 * 5) = round(4.5) = 5 (half up, as polars)
    assert got["first_agent_reply"]["p90_seconds"] == 60.0
    assert {r["reason"] for r in got["handoff_reasons"]} == {
        "complaint", "5", "", "unspecified", '{"a":1}', "no_chat"}


# --- random small logs ------------------------------------------------------------------------

NAMES = ["chat_started", "handoff_requested", "handoff_resolved", "agent_replied",
         "agent_message", "purchase", "refund", "view_item"]
TYPES = ["user", "bot", "action", "pause", "resume", "slot"]

event_strategy = st.fixed_dictionaries({
    "minute": st.integers(0, 60 * 24 * 10),
    "name": st.sampled_from(NAMES),
    "user": st.sampled_from(["u1", "u2", "u3", None]),
    "conversation": st.sampled_from(["c1", "c2", "c3", None]),
    "order": st.sampled_from(["O1", "O2", "O3", None]),
    "value": st.one_of(st.none(), st.integers(0, 5000)),
    "currency": st.sampled_from(["EUR", "USD", None]),
    "reason": st.sampled_from([None, "complaint", "sizing"]),
})
rasa_strategy = st.lists(st.tuples(
    st.sampled_from(["c1", "c2", "r1"]), st.integers(0, 60 * 24 * 10), st.sampled_from(TYPES),
    st.sampled_from(["greet", "buy", "nlu_fallback", None]),
    st.sampled_from(["action_default_fallback", "action_two_stage_fallback", "utter_x",
                     "action_listen"])), max_size=20)


def random_log(rows: list[dict]) -> pl.LazyFrame:
    return events(*[dict(ts=at(minutes=r["minute"]), name=r["name"], customer_id=r["user"],
                         conversation_id=r["conversation"], order_number=r["order"],
                         value=r["value"], currency=r["currency"],
                         properties={"reason": r["reason"]} if r["reason"] else {})
                    for r in rows])


def random_rasa(rows: list[tuple]) -> pl.DataFrame:
    # times may repeat within a conversation: the tracker's id orders them
    return rasa_frame([(c, at(minutes=m), t, intent if t == "user" else None,
                        action if t == "action" else None)
                       for c, m, t, intent, action in rows])


@settings(max_examples=120, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=st.lists(event_strategy, min_size=4, max_size=30), rasa=rasa_strategy,
       use_rasa=st.booleans(), twice=st.booleans(), window_days=st.sampled_from([1, 7]),
       top=st.sampled_from([0, 2, 10]))
def test_random_logs_agree_with_the_polars_engine(store, rows, rasa, use_rasa, twice,
                                                  window_days, top):
    want = assert_same(store, random_log(rows), random_rasa(rasa) if use_rasa else None,
                       times=2 if twice else 1, attribution_window=timedelta(days=window_days),
                       top=top)
    event(f"handoffs: {bool(want['handoffs'])}")
    event(f"agent replies: {bool(want['first_agent_reply']['replied_handoffs'])}")
    event(f"fallbacks: {bool((want['fallback'] or {}).get('fallback_messages'))}")
    event(f"attributed revenue: {bool(want['attributed_revenue'])}")


# --- generated traffic ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def traffic():
    return conform(generate(30_000, seed=7, start=datetime(2026, 9, 1), days=30).lazy()) \
        .collect()


@pytest.mark.parametrize("selection", [
    {}, dict(start=datetime(2026, 9, 8), end=datetime(2026, 9, 22), channels=["web"]),
], ids=["everything", "range-and-channel"])
def test_generated_traffic_agrees(store, traffic, selection):
    log = traffic.lazy()
    if selection:
        log = log.filter(pl.col("ts") >= selection["start"], pl.col("ts") < selection["end"],
                         pl.col("channel").fill_null("site").is_in(selection["channels"]))
    table = stored(store, traffic, times=2)  # every event delivered twice
    want = chat_metrics(log)
    assert want["conversations"] > 100 and want["attributed_revenue"]
    same(clickhouse_chat_metrics(store, table=table, rasa_table=None, **selection), want)


# --- the command ------------------------------------------------------------------------------

def test_the_command_with_a_store(tmp_path, traffic):
    from test_cli import cli
    source = tmp_path / "events.parquet"
    traffic.write_parquet(source)
    url = f"chdb:{tmp_path / 'store'}"
    done = cli("store-load", "--events", source, "--store", url)
    assert done.returncode == 0, done.stderr
    for extra in ([], ["--attribution-window", "2d", "--channel", "web"]):
        polars = json.loads(cli("chat-metrics", "--events", source, *extra).stdout)
        inside = cli("chat-metrics", "--store", url, *extra)
        assert inside.returncode == 0, inside.stderr
        same(json.loads(inside.stdout), polars)
    funnel = ["funnel", "--steps", "view_item,add_to_cart,purchase", "--breakdown", "device"]
    assert json.loads(cli(*funnel, "--store", url).stdout) == \
        json.loads(cli(*funnel, "--events", source).stdout)
    refused = cli("chat-metrics", "--store", url, "--tracker", "sqlite:///nothing.db")
    assert refused.returncode == 2 and "--tracker" in refused.stderr


def rasa_messages(traffic: pl.DataFrame, n: int = 300) -> list[dict]:
    """Rasa's broker messages for the first ``n`` conversations of the traffic: a user
    message and the bot's action after each chat start, some fallbacks, some handoffs
    (pause, an agent's message, resume)."""
    starts = (traffic.filter(pl.col("name") == "chat_started").sort("ts")
              .unique("conversation_id", keep="first", maintain_order=True).head(n))
    messages, key = [], 0
    intents = ["greet", "buy", "nlu_fallback", "track_order", "human"]
    for i, row in enumerate(starts.iter_rows(named=True)):
        t0 = (row["ts"] - datetime(1970, 1, 1)).total_seconds()
        intent = intents[i % len(intents)]
        action = "action_default_fallback" if i % 7 == 0 else f"utter_{intent}"
        turn = [("user", {"parse_data": {"intent": {"name": intent, "confidence": 0.9}}}),
                ("action", {"name": "action_listen"}), ("action", {"name": action})]
        if intent == "human":
            turn += [("pause", {}), ("bot", {"text": "an agent"}), ("resume", {})]
        for j, (event, extra) in enumerate(turn):
            key += 1
            messages.append({"sender_id": row["conversation_id"], "event": event,
                             "timestamp": t0 + 1 + 30 * j, "aisle_event_id": key, **extra})
    return messages


def test_the_commands_with_rasa_events_in_the_store(tmp_path, traffic):
    """Rasa's events loaded into the store (store-load --rasa-events) give the numbers the
    polars engine gives from the same events read from the analytics database."""
    import sqlite3

    from test_cli import cli

    from analytics.rasa_events import row_of
    source, lines = tmp_path / "events.parquet", tmp_path / "rasa.jsonl"
    traffic.write_parquet(source)
    messages = rasa_messages(traffic)
    lines.write_text("".join(json.dumps(m) + "\n" for m in messages + messages))  # twice
    tracker = tmp_path / "analytics.db"
    with sqlite3.connect(tracker) as db:
        db.execute("CREATE TABLE rasa_events (event_key TEXT PRIMARY KEY, "
                   "conversation_id TEXT, ts TIMESTAMP, type TEXT, intent TEXT, action TEXT, "
                   "confidence REAL, input_channel TEXT, policy TEXT, slot TEXT, "
                   "slot_value TEXT)")
        for message in messages:
            row = row_of(json.dumps(message).encode(), datetime(2026, 12, 1))
            row["ts"] = row["ts"].strftime("%Y-%m-%d %H:%M:%S.%f")
            row.pop("received_at")
            db.execute(f"INSERT INTO rasa_events ({', '.join(row)}) "
                       f"VALUES ({', '.join('?' * len(row))})", list(row.values()))
    url = f"chdb:{tmp_path / 'store'}"
    done = cli("store-load", "--events", source, "--rasa-events", lines, "--store", url)
    assert done.returncode == 0, done.stderr
    polars = json.loads(cli("chat-metrics", "--events", source, "--tracker",
                            f"sqlite:///{tracker}").stdout)
    assert polars["fallback"]["fallback_messages"] > 0 and polars["top_intents"]
    inside = cli("chat-metrics", "--store", url)
    assert inside.returncode == 0, inside.stderr
    same(json.loads(inside.stdout), polars)
    for extra in ([], ["--carts"]):
        polars = cli("abandonment", "--events", source, "--tracker", f"sqlite:///{tracker}",
                     *extra)
        inside = cli("abandonment", "--store", url, *extra)
        assert inside.returncode == 0, inside.stderr
        assert json.loads(inside.stdout) == json.loads(polars.stdout)
    turns = {c["last_bot_turn"] for c in json.loads(inside.stdout)}
    assert "action_default_fallback" in turns and any(str(t).startswith("utter_") for t in turns)


# --- the dashboard's selection of Rasa's events ---------------------------------------------

DASHBOARD_CHANNELS = {"socketio": "web", "telegram": "telegram", "twilio": "whatsapp"}


def _dashboard_tracker(rasa: pl.DataFrame, log: pl.DataFrame, start, end,
                       channels: list[str]) -> pl.DataFrame | None:
    """dashboard.data.tracker_rows's rule on these rows: Rasa's events of the period; with
    channels, those of the conversations the period's events name or whose first input
    channel maps to one of them."""
    rows = as_conversations(rasa).filter(pl.col("ts") >= start, pl.col("ts") < end)
    if channels:
        ids = (log.filter(pl.col("ts") >= start, pl.col("ts") < end,
                          pl.col("channel").fill_null("site").is_in(channels))
               .get_column("conversation_id").drop_nulls().unique())
        channel = (pl.col("input_channel").drop_nulls().first().over("conversation_id")
                   .replace_strict(DASHBOARD_CHANNELS, default=None))
        rows = rows.filter(pl.col("conversation_id").is_in(ids.implode())
                           | channel.is_in(channels))
    return rows if rows.height else None


def test_the_dashboards_selection_of_rasa_events(store):
    """With ``rasa_channel_names`` (the dashboard) only Rasa's events of the period count,
    and with channels only those of the conversations on them: the dashboard's polars rule."""
    log = conform(events(
        dict(ts=at(), name="chat_started", conversation_id="w1", channel="web"),
        dict(ts=at(minutes=1), name="handoff_requested", conversation_id="w1", channel="web"),
        dict(ts=at(minutes=2), name="agent_replied", conversation_id="w1", channel="web"),
        dict(ts=at(minutes=3), name="chat_started", conversation_id="t1", channel="telegram"),
        dict(ts=at(days=3), name="chat_started", conversation_id="late", channel="web"),
    ).lazy()).collect()
    rows = [
        ("w1", at(seconds=10), "user", "greet", None, "socketio"),
        ("w1", at(seconds=20), "action", None, "action_default_fallback", "socketio"),
        ("t1", at(minutes=4), "user", "nlu_fallback", None, "telegram"),
        ("r1", at(minutes=5), "user", "order_status", None, None),  # only in Rasa, no channel
        ("r1", at(minutes=6), "user", "order_status", None, "twilio"),
        ("old", at(days=-2), "user", "greet", None, "socketio"),  # before the period
        ("late", at(days=3, minutes=1), "user", "greet", None, "socketio"),  # after it
    ]
    rasa = pl.DataFrame([(f"t:{i}", *row) for i, row in enumerate(rows, 1)], orient="row",
                        schema={"event_key": pl.Utf8, "conversation_id": pl.Utf8,
                                "ts": pl.Datetime("us"), "type": pl.Utf8, "intent": pl.Utf8,
                                "action": pl.Utf8, "input_channel": pl.Utf8})
    table, rasa_table = stored(store, log), stored_rasa(store, rasa, 2)  # delivered twice
    try:
        start, end = at(days=-1), at(days=1)
        for channels in ([], ["web"], ["telegram"], ["whatsapp"], ["web", "whatsapp"]):
            selected = log.filter(pl.col("ts") >= start, pl.col("ts") < end,
                                  pl.col("channel").fill_null("site").is_in(channels)
                                  if channels else pl.lit(True))
            want = chat_metrics(selected.lazy(),
                                _dashboard_tracker(rasa, log, start, end, channels))
            got = clickhouse_chat_metrics(store, table=table, rasa_table=rasa_table,
                                          start=start, end=end, channels=channels,
                                          rasa_channel_names=DASHBOARD_CHANNELS)
            same(dict(got), dict(want))
        everything = clickhouse_chat_metrics(store, table=table, rasa_table=rasa_table,
                                             start=start, end=end)
        assert everything["conversations"] == 5  # the command reads all of Rasa's events
        assert clickhouse_chat_metrics(store, table=table, rasa_table=rasa_table, start=start,
                                       end=end, rasa_channel_names=DASHBOARD_CHANNELS
                                       )["conversations"] == 3  # w1, t1, r1
    finally:
        store.execute(f"DROP TABLE {table}")
        store.execute(f"DROP TABLE {rasa_table}")
