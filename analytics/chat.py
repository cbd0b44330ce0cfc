"""Chat outcomes: how the assistant performs (definitions in docs/analytics.md).

From the events (``chat_started``, ``handoff_requested`` with ``properties.reason``,
``handoff_resolved``, ``agent_replied`` when the support inbox records it) and, when given,
Rasa's tracker events (``loaders.load_conversations``):

- conversations: distinct conversation ids (events and tracker);
- handoff: a conversation with a ``handoff_requested`` event or a Rasa ``pause``;
  handoff_rate = handoffs / conversations; containment = 1 - handoff_rate (resolved without
  a human);
- fallback_rate (tracker only): user messages classified ``nlu_fallback`` or answered by a
  fallback action (``action_default_fallback``, ``action_two_stage_fallback``), over user
  messages;
- top intents: user messages per intent (tracker only);
- time to first agent reply: from the first handoff request of a conversation to the first
  agent reply after it: an ``agent_replied`` event, or a bot message while the tracker is
  paused (how Aisle delivers agents' messages);
- attributed revenue: purchases made in a conversation, or by a user within
  ``attribution_window`` after one of their conversation events; net of refunds of the same
  orders (refunds are excluded), per currency.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from .durations import parse_duration

FALLBACK_INTENTS = ["nlu_fallback"]
FALLBACK_ACTIONS = ["action_default_fallback", "action_two_stage_fallback"]
AGENT_REPLY_EVENTS = ["agent_replied", "agent_message"]


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _conversation_ids(events: pl.LazyFrame, conversations: pl.DataFrame | None) -> pl.Series:
    ids = events.select(pl.col("conversation_id").drop_nulls().unique()).collect().to_series()
    if conversations is not None:
        ids = pl.concat([ids, conversations["conversation_id"].drop_nulls().unique()])
    return ids.unique()


def conversation_count(events: pl.LazyFrame, conversations: pl.DataFrame | None = None) -> int:
    """``chat_metrics(...)["conversations"]`` alone: it needs no event properties."""
    return _conversation_ids(events, conversations).len()


def _handoffs(events: pl.LazyFrame, conversations: pl.DataFrame | None) -> pl.DataFrame:
    """First handoff time per conversation (events or Rasa pauses)."""
    from_events = (events.filter((pl.col("name") == "handoff_requested")
                                 & pl.col("conversation_id").is_not_null())
                   .select("conversation_id", "ts").collect())
    frames = [from_events]
    if conversations is not None:
        frames.append(conversations.filter(pl.col("type") == "pause")
                      .select("conversation_id", "ts"))
    return (pl.concat(frames).group_by("conversation_id")
            .agg(pl.col("ts").min().alias("handoff_at")))


def handoff_reasons(events: pl.LazyFrame) -> list[dict]:
    return (events.filter(pl.col("name") == "handoff_requested")
            .select(pl.col("properties").str.json_path_match("$.reason")
                    .fill_null("unspecified").alias("reason"))
            .group_by("reason").agg(pl.len().alias("handoffs"))
            .sort("handoffs", "reason", descending=[True, False]).collect().to_dicts())


def _user_turns(conversations: pl.DataFrame) -> pl.DataFrame:
    """One row per user message with whether the bot fell back on it."""
    ordered = conversations.with_row_index("order").with_columns(
        (pl.col("type") == "user").cum_sum().over("conversation_id").alias("turn"))
    fell_back = (ordered.filter(pl.col("action").is_in(FALLBACK_ACTIONS))
                 .select("conversation_id", "turn").unique()
                 .with_columns(pl.lit(True).alias("fallback_action")))
    users = ordered.filter(pl.col("type") == "user")
    return (users.join(fell_back, on=["conversation_id", "turn"], how="left")
            .with_columns((pl.col("intent").is_in(FALLBACK_INTENTS)
                           | pl.col("fallback_action").fill_null(False)).alias("fallback")))


def fallback_metrics(conversations: pl.DataFrame | None) -> dict | None:
    if conversations is None:
        return None
    turns = _user_turns(conversations)
    fallbacks = int(turns["fallback"].sum())
    with_fallback = turns.filter(pl.col("fallback"))["conversation_id"].n_unique()
    return {"user_messages": turns.height, "fallback_messages": fallbacks,
            "fallback_rate": _rate(fallbacks, turns.height),
            "conversations_with_fallback": with_fallback}


def top_intents(conversations: pl.DataFrame | None, top: int = 10) -> list[dict]:
    if conversations is None:
        return []
    return (conversations.filter((pl.col("type") == "user") & pl.col("intent").is_not_null())
            .group_by("intent").agg(pl.len().alias("messages"))
            .sort("messages", "intent", descending=[True, False]).head(top).to_dicts())


def _agent_replies(events: pl.LazyFrame, conversations: pl.DataFrame | None) -> pl.DataFrame:
    frames = [events.filter(pl.col("name").is_in(AGENT_REPLY_EVENTS)
                            & pl.col("conversation_id").is_not_null())
              .select("conversation_id", "ts").collect()]
    if conversations is not None:  # bot messages while paused are the agent's
        paused = conversations.sort("ts").with_columns(
            pl.when(pl.col("type") == "pause").then(True)
            .when(pl.col("type") == "resume").then(False)
            .forward_fill().over("conversation_id").fill_null(False).alias("paused"))
        frames.append(paused.filter(pl.col("paused") & (pl.col("type") == "bot"))
                      .select("conversation_id", "ts"))
    return pl.concat(frames).sort("ts")


def first_agent_reply(events: pl.LazyFrame, conversations: pl.DataFrame | None,
                      handoffs: pl.DataFrame) -> dict:
    replies = _agent_replies(events, conversations).rename({"ts": "reply_at"})
    waits = (handoffs.join(replies, on="conversation_id")
             .filter(pl.col("reply_at") >= pl.col("handoff_at"))
             .group_by("conversation_id")
             .agg((pl.col("reply_at").min() - pl.col("handoff_at").first())
                  .dt.total_seconds(fractional=True).alias("seconds")))
    seconds = waits["seconds"]
    return {"replied_handoffs": waits.height,
            "median_seconds": seconds.median() if waits.height else None,
            "p90_seconds": seconds.quantile(0.9, "nearest") if waits.height else None}


def attributed_revenue(events: pl.LazyFrame, window: timedelta) -> list[dict]:
    touches = (events.filter(pl.col("conversation_id").is_not_null()
                             & pl.col("user_id").is_not_null()
                             & (pl.col("name") != "purchase"))
               .select("user_id", pl.col("ts").alias("touch_at")).sort("touch_at"))
    purchases = events.filter(pl.col("name") == "purchase").sort("ts")
    matched = purchases.join_asof(touches, left_on="ts", right_on="touch_at", by="user_id",
                                  strategy="backward", check_sortedness=False)
    attributed = matched.filter(pl.col("conversation_id").is_not_null()
                                | (pl.col("ts") - pl.col("touch_at") <= window))
    refunds = (events.filter((pl.col("name") == "refund") & pl.col("order_number").is_not_null())
               .group_by("order_number").agg(pl.col("value").sum().alias("refunded")))
    return (attributed.join(refunds, on="order_number", how="left")
            .group_by("currency").agg(
                pl.coalesce("order_number", "event_id").n_unique().alias("orders"),
                pl.col("value").sum().alias("gross"),
                pl.col("refunded").fill_null(0).sum().alias("refunded"))
            .with_columns((pl.col("gross") - pl.col("refunded")).alias("net"))
            .sort("currency").collect().to_dicts())


def chat_metrics(events: pl.LazyFrame, conversations: pl.DataFrame | None = None, *,
                 attribution_window: timedelta = timedelta(days=7), top: int = 10) -> dict:
    ids = _conversation_ids(events, conversations)
    handoffs = _handoffs(events, conversations)
    total, handed = ids.len(), handoffs.height
    return {
        "conversations": total, "handoffs": handed, "contained": total - handed,
        "containment_rate": _rate(total - handed, total),
        "handoff_rate": _rate(handed, total),
        "handoff_reasons": handoff_reasons(events),
        "fallback": fallback_metrics(conversations),
        "top_intents": top_intents(conversations, top),
        "first_agent_reply": first_agent_reply(events, conversations, handoffs),
        "attribution_window_seconds": attribution_window.total_seconds(),
        "attributed_revenue": attributed_revenue(events, attribution_window),
    }


def register(subparsers) -> None:
    parser = subparsers.add_parser("chat-metrics", help="conversations, containment, handoffs, "
                                   "fallbacks, intents, agent replies, attributed revenue")
    parser.add_argument("--tracker", metavar="URL", help="Rasa SQL tracker store (fallbacks, "
                        "intents); e.g. sqlite:///var/rasa_tracker.db")
    parser.add_argument("--attribution-window", default="7d")
    parser.add_argument("--top", type=int, default=10, help="top intents to list")
    from .clickhouse.command import add_store_option
    add_store_option(parser)
    parser.set_defaults(handler=_command)


def _command(args) -> dict:
    from .cli import events_from_args
    from .clickhouse.command import range_from_args, store_from_args, wants_store
    from .loaders import load_conversations
    window = parse_duration(args.attribution_window, option="--attribution-window")
    if wants_store(args):  # computed inside ClickHouse (analytics/clickhouse/chat.py)
        from .clickhouse.chat import chat_metrics as in_store
        selection = range_from_args(args)
        with store_from_args(args) as store:
            return in_store(store, attribution_window=window, top=args.top, **selection)
    conversations = load_conversations(args.tracker) if args.tracker else None
    return chat_metrics(events_from_args(args), conversations, attribution_window=window,
                        top=args.top)
