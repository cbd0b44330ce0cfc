"""Cart and checkout abandonment: which carts were left, what they were worth, which came back.

For each cart (``cart_id``), its *activity* is its cart events (add/remove, view_cart and the
checkout steps) up to its first ``purchase``. The cart is *abandoned* when its last activity
was followed by ``idle`` without activity: either nothing happened since (and ``now`` is at
least ``idle`` later) or the purchase came at least ``idle`` later. ``abandoned_at`` is the
time of that last activity (when the shopper left).

- kind: ``checkout`` when the shopper reached begin_checkout, add_shipping_info or
  add_payment_info (the payment link was sent), else ``cart``;
- value: the cart value of its latest view_cart / checkout step, else the net of its
  add_to_cart minus remove_from_cart values (minor units, with the cart's currency);
- status: ``recovered`` (a purchase within ``recovery_window`` of abandoned_at), ``lost`` (the
  window passed without one) or ``open`` (the window is still running);
- last_bot_turn: the bot's last action (Rasa tracker, when given) or chat event
  (chat_started, handoff_requested, handoff_resolved) in the cart's conversation before
  abandoned_at + idle (the bot's answer to the last message comes after the last cart event);
- reason: from the furthest step reached and the last bot turn (see REASONS);
- reminded_at: the first ``cart_reminder_sent`` event after abandoned_at (the recovery job).

One row per cart: a cart left twice before its purchase counts once, at its last departure.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from .durations import parse_duration

STEP_RANK = {"add_to_cart": 1, "remove_from_cart": 1, "view_cart": 2, "begin_checkout": 3,
             "add_shipping_info": 4, "add_payment_info": 5}
STEP_NAMES = {1: "add_to_cart", 2: "view_cart", 3: "begin_checkout", 4: "add_shipping_info",
              5: "add_payment_info"}
VALUE_STEPS = ["view_cart", "begin_checkout", "add_shipping_info", "add_payment_info"]
CHAT_EVENTS = ["chat_started", "handoff_requested", "handoff_resolved"]
REMINDER_EVENT = "cart_reminder_sent"
# Rasa actions that are no turn of their own (the bot listening, a session starting)
QUIET_ACTIONS = ["action_listen", "action_session_start"]


def _now(events: pl.LazyFrame, now: datetime | None) -> datetime | None:
    if now is not None:
        return now
    return events.select(pl.col("ts").max()).collect().item()


def _cart_activity(events: pl.LazyFrame) -> pl.LazyFrame:
    carts = events.filter(pl.col("cart_id").is_not_null())
    first_purchase = (carts.filter(pl.col("name") == "purchase").group_by("cart_id")
                      .agg(pl.col("ts").min().alias("purchased_at")))
    steps = carts.filter(pl.col("name").is_in(list(STEP_RANK)))
    return (steps.join(first_purchase, on="cart_id", how="left")
            .filter(pl.col("purchased_at").is_null() | (pl.col("ts") <= pl.col("purchased_at")))
            .sort("ts"))


def _per_cart(activity: pl.LazyFrame) -> pl.LazyFrame:
    name, value = pl.col("name"), pl.col("value").fill_null(0)
    last = lambda column: pl.col(column).drop_nulls().last()  # noqa: E731
    return activity.group_by("cart_id").agg(
        last("user_id"), last("email"), last("channel"), last("conversation_id"),
        last("currency"),
        pl.col("ts").max().alias("abandoned_at"),
        pl.col("name").replace_strict(STEP_RANK, return_dtype=pl.Int8).max().alias("rank"),
        pl.col("value").filter(name.is_in(VALUE_STEPS) & pl.col("value").is_not_null())
        .last().alias("step_value"),
        (value.filter(name == "add_to_cart").sum()
         - value.filter(name == "remove_from_cart").sum()).alias("net_value"),
    )


def _purchases(events: pl.LazyFrame) -> pl.LazyFrame:
    return (events.filter((pl.col("name") == "purchase") & pl.col("cart_id").is_not_null())
            .sort("ts").group_by("cart_id")
            .agg(pl.col("ts").first().alias("purchased_at"),
                 pl.col("value").first().alias("purchase_value")))


def departures(events: pl.LazyFrame) -> pl.LazyFrame:
    """Per cart with activity: ``abandoned_at`` (its last activity up to its first
    purchase) and ``purchased_at`` (that purchase, if any): all that decides whether the
    cart counts as abandoned (``abandoned_count``)."""
    last = (_cart_activity(events).group_by("cart_id")
            .agg(pl.col("ts").max().alias("abandoned_at")))
    return (last.join(_purchases(events).select("cart_id", "purchased_at"), on="cart_id",
                      how="left").select("abandoned_at", "purchased_at"))


def abandoned_count(departures: pl.DataFrame, *, now: datetime,
                    idle: timedelta = timedelta(hours=1)) -> int:
    """``abandoned_carts(...).height`` from the carts' ``departures`` (the rule of
    ``abandoned_carts``: quiet for ``idle`` after the last activity, until the purchase or
    ``now``)."""
    quiet_until = pl.coalesce(pl.col("purchased_at"), pl.lit(now))
    return departures.filter(quiet_until - pl.col("abandoned_at") >= idle).height


def _first_reminders(events: pl.LazyFrame) -> pl.LazyFrame:
    return (events.filter((pl.col("name") == REMINDER_EVENT) & pl.col("cart_id").is_not_null())
            .select("cart_id", pl.col("ts").alias("reminder_ts")))


def _bot_turns(events: pl.LazyFrame, conversations: pl.DataFrame | None) -> pl.LazyFrame:
    """(conversation_id, ts, turn): Rasa's bot actions when given, else the chat events."""
    if conversations is not None and conversations.height:
        turns = (conversations.lazy()
                 .filter(pl.col("action").is_not_null() & ~pl.col("action").is_in(QUIET_ACTIONS))
                 .select("conversation_id", "ts", pl.col("action").alias("turn")))
    else:
        turns = (events.filter(pl.col("name").is_in(CHAT_EVENTS)
                               & pl.col("conversation_id").is_not_null())
                 .select("conversation_id", "ts", pl.col("name").alias("turn")))
    return turns.drop_nulls("conversation_id").sort("ts")


def _reason() -> pl.Expr:
    turn, step = pl.col("last_bot_turn").fill_null(""), pl.col("last_step")
    return (pl.when(turn.str.contains("fallback")).then(pl.lit("bot_did_not_understand"))
            .when(turn == "handoff_requested").then(pl.lit("waiting_for_agent"))
            .when(step == "add_payment_info").then(pl.lit("left_at_payment"))
            .when(step == "add_shipping_info").then(pl.lit("left_after_shipping"))
            .when(step == "begin_checkout").then(pl.lit("left_at_checkout_details"))
            .otherwise(pl.lit("left_with_cart")))


# reason: why a cart was left, as far as the events tell (in order of precedence)
REASONS = {
    "bot_did_not_understand": "the last bot turn was a fallback (NLU or action fallback)",
    "waiting_for_agent": "the shopper asked for a human and left before the handoff resolved",
    "left_at_payment": "a payment link was sent and not paid",
    "left_after_shipping": "shipping was chosen, the payment link never requested",
    "left_at_checkout_details": "checkout started, details (address, shipping) not completed",
    "left_with_cart": "items in the cart, checkout never started",
}


def abandoned_carts(events: pl.LazyFrame, *, idle: timedelta = timedelta(hours=1),
                    recovery_window: timedelta = timedelta(days=7),
                    now: datetime | None = None,
                    conversations: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per abandoned cart (see the module docstring for every column's rule)."""
    now = _now(events, now)
    if now is None:  # no events at all
        return _empty()
    carts = (_per_cart(_cart_activity(events)).join(_purchases(events), on="cart_id",
                                                    how="left")
             .with_columns(
                 pl.coalesce(pl.col("purchased_at"), pl.lit(now)).alias("quiet_until"),
                 pl.coalesce("step_value", "net_value").clip(lower_bound=0).alias("value"),
                 pl.col("rank").replace_strict(STEP_NAMES, return_dtype=pl.Utf8)
                 .alias("last_step"))
             .filter(pl.col("quiet_until") - pl.col("abandoned_at") >= idle))
    deadline = pl.col("abandoned_at") + recovery_window
    recovered = pl.col("purchased_at").is_not_null() & (pl.col("purchased_at") <= deadline)
    carts = carts.with_columns(
        pl.when(pl.col("rank") >= 3).then(pl.lit("checkout")).otherwise(pl.lit("cart"))
        .alias("kind"),
        pl.when(recovered).then(pl.lit("recovered"))
        .when(pl.lit(now) > deadline).then(pl.lit("lost")).otherwise(pl.lit("open"))
        .alias("status"),
        pl.when(recovered).then(pl.col("purchased_at")).alias("recovered_at"),
        pl.when(recovered).then(pl.col("purchase_value")).alias("recovered_value"),
    )
    carts = _with_last_bot_turn(carts, _bot_turns(events, conversations), idle)
    carts = _with_reminder(carts, _first_reminders(events))
    return (carts.with_columns(_reason().alias("reason"))
            .select(COLUMNS).sort("abandoned_at", "cart_id").collect())


def _with_last_bot_turn(carts: pl.LazyFrame, turns: pl.LazyFrame,
                        idle: timedelta) -> pl.LazyFrame:
    """The bot's last turn before the cart counted as abandoned: its answer to the shopper's
    last message comes seconds *after* the last cart event, so it counts up to ``idle``."""
    chat = (carts.filter(pl.col("conversation_id").is_not_null())
            .with_columns((pl.col("abandoned_at") + idle).alias("idle_until"))
            .sort("idle_until")
            .join_asof(turns.rename({"ts": "turn_ts"}), left_on="idle_until",
                       right_on="turn_ts", by="conversation_id", strategy="backward",
                       check_sortedness=False)  # both sides are sorted by time
            .select("cart_id", pl.col("turn").alias("last_bot_turn")))
    return carts.join(chat, on="cart_id", how="left")


def _with_reminder(carts: pl.LazyFrame, reminders: pl.LazyFrame) -> pl.LazyFrame:
    first = (carts.select("cart_id", "abandoned_at").join(reminders, on="cart_id")
             .filter(pl.col("reminder_ts") >= pl.col("abandoned_at"))
             .group_by("cart_id").agg(pl.col("reminder_ts").min().alias("reminded_at")))
    return carts.join(first, on="cart_id", how="left")


COLUMNS = ["cart_id", "user_id", "email", "channel", "conversation_id", "kind", "abandoned_at",
           "value", "currency", "last_step", "last_bot_turn", "reason", "status",
           "recovered_at", "recovered_value", "reminded_at"]
_TYPES = {"cart_id": pl.Utf8, "user_id": pl.Utf8, "email": pl.Utf8, "channel": pl.Utf8,
          "conversation_id": pl.Utf8, "kind": pl.Utf8, "abandoned_at": pl.Datetime("us"),
          "value": pl.Int64, "currency": pl.Utf8, "last_step": pl.Utf8,
          "last_bot_turn": pl.Utf8, "reason": pl.Utf8, "status": pl.Utf8,
          "recovered_at": pl.Datetime("us"), "recovered_value": pl.Int64,
          "reminded_at": pl.Datetime("us")}


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=_TYPES)


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _breakdown(carts: pl.DataFrame, *by: str) -> list[dict]:
    status = pl.col("status")
    keys = [*by, "currency"]
    table = carts.group_by(keys).agg(
        pl.len().alias("carts"), pl.col("value").sum().alias("value"),
        (status == "recovered").sum().alias("recovered"),
        (status == "lost").sum().alias("lost"), (status == "open").sum().alias("open"),
        pl.col("recovered_value").sum().alias("recovered_value"),
        pl.col("value").filter(status != "recovered").sum().alias("value_at_risk"),
    ).sort(keys, nulls_last=True)
    return [{**row, "recovery_rate": _rate(row["recovered"], row["recovered"] + row["lost"])}
            for row in table.to_dicts()]


def _reminder_split(carts: pl.DataFrame) -> dict:
    reminded = carts.filter(pl.col("reminded_at").is_not_null())
    after = reminded.filter((pl.col("status") == "recovered")
                            & (pl.col("recovered_at") >= pl.col("reminded_at")))
    others = carts.filter(pl.col("reminded_at").is_null())
    settled = lambda f: f.filter(pl.col("status") != "open").height  # noqa: E731
    recovered = lambda f: f.filter(pl.col("status") == "recovered").height  # noqa: E731
    return {"reminded_carts": reminded.height, "recovered_after_reminder": after.height,
            "reminded_recovery_rate": _rate(after.height, settled(reminded)),
            "not_reminded_carts": others.height,
            "not_reminded_recovery_rate": _rate(recovered(others), settled(others))}


def abandonment_summary(events: pl.LazyFrame, *, idle: timedelta = timedelta(hours=1),
                        recovery_window: timedelta = timedelta(days=7),
                        now: datetime | None = None,
                        conversations: pl.DataFrame | None = None,
                        carts: pl.DataFrame | None = None) -> dict:
    """Counts and values by kind and channel, reasons, and what reminders recovered.
    ``recovery_rate`` = recovered / (recovered + lost): open carts may still come back."""
    if carts is None:
        carts = abandoned_carts(events, idle=idle, recovery_window=recovery_window, now=now,
                                conversations=conversations)
    by_status = {s: carts.filter(pl.col("status") == s).height
                 for s in ("recovered", "lost", "open")}
    reasons = (carts.group_by("reason").agg(pl.len().alias("carts"),
                                             pl.col("value").sum().alias("value"))
               .sort("carts", "reason", descending=[True, False]))
    return {
        "idle_seconds": idle.total_seconds(),
        "recovery_window_seconds": recovery_window.total_seconds(),
        "abandoned_carts": carts.height, **by_status,
        "recovery_rate": _rate(by_status["recovered"], by_status["recovered"] + by_status["lost"]),
        "by_currency": _breakdown(carts),
        "by_kind": _breakdown(carts, "kind"),
        "by_channel": _breakdown(carts, "channel"),
        "reasons": reasons.to_dicts(),
        "reminders": _reminder_split(carts),
    }


def register(subparsers) -> None:
    parser = subparsers.add_parser("abandonment", help="abandoned carts and checkouts, value "
                                   "at risk, recovered vs lost, reasons")
    parser.add_argument("--idle", default="1h", help="inactivity that makes a cart abandoned "
                        "(default 1h)")
    parser.add_argument("--recovery-window", default="7d",
                        help="a purchase this soon after abandonment is a recovery (default 7d)")
    parser.add_argument("--carts", action="store_true",
                        help="one row per abandoned cart instead of the summary")
    parser.add_argument("--tracker", metavar="URL", help="Rasa SQL tracker store, for the last "
                        "bot turn of chat carts (default: none; e.g. $TRACKER_STORE_URL)")
    from .clickhouse.command import add_store_option
    add_store_option(parser)
    parser.set_defaults(handler=_command)


def _command(args):
    from .cli import events_from_args
    from .clickhouse.command import wants_store
    from .loaders import load_conversations
    idle = parse_duration(args.idle, option="--idle")
    window = parse_duration(args.recovery_window, option="--recovery-window")
    if wants_store(args):
        return _in_store(args, idle, window)
    conversations = load_conversations(args.tracker) if args.tracker else None
    carts = abandoned_carts(events_from_args(args), idle=idle, recovery_window=window,
                            conversations=conversations)
    if args.carts:
        return carts
    return abandonment_summary(pl.LazyFrame(), idle=idle, recovery_window=window, carts=carts)


def _in_store(args, idle: timedelta, window: timedelta):
    """The same answer computed inside ClickHouse (analytics/clickhouse/abandonment.py)."""
    from .clickhouse import abandonment as clickhouse
    from .clickhouse.command import range_from_args, store_from_args
    selection = range_from_args(args)
    with store_from_args(args) as store:
        compute = clickhouse.abandoned_carts if args.carts else clickhouse.abandonment_summary
        return compute(store, idle=idle, recovery_window=window, **selection)
