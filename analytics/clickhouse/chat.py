"""Chat outcomes computed inside ClickHouse, with exactly the rules of analytics.chat
(docs/analytics.md, "Chat outcomes"), over the store's ``events`` (read FINAL, with the
command's range and channels) and its ``rasa_events`` (Rasa's tracker events, read FINAL,
all of them, as the polars engine reads the tracker; used when the table has rows, else
the numbers are those of the polars engine without a tracker).

Each figure is one aggregate query whose answer is a row or a short list:

- conversations: distinct conversation ids of the events and of Rasa's events;
- handoffs: per conversation the first ``handoff_requested`` event or Rasa ``pause``;
- handoff reasons: ``properties.reason`` (JSON) of ``handoff_requested``;
- fallbacks: Rasa's events of a conversation in order (time, then the tracker's id, as
  analytics.loaders reads them); the user message a fallback action answers is the last
  user message before it (a running count of user messages);
- top intents: user messages per intent;
- first agent reply: the first ``agent_replied``/``agent_message`` event, or Rasa bot
  message while the conversation's latest pause/resume before it is a pause, at or after
  the conversation's first handoff; median (linear between ranks, as polars' median) and
  90th percentile ("nearest" rank, rounding half up, as polars) computed in SQL;
- attributed revenue: an ASOF join of each purchase to its user's latest conversation event
  at or before it; refunds per order; per currency.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from ..chat import AGENT_REPLY_EVENTS, FALLBACK_ACTIONS, FALLBACK_INTENTS, _rate
from .abandonment import _names, has_rows, source_sql
from .funnel import filters_sql, quote

_US = timedelta(microseconds=1)
# Rasa's events of one conversation in the order analytics.loaders reads them
RASA_ORDER = "ts, length(event_key), event_key"


def _reason_sql() -> str:
    """polars' ``str.json_path_match("$.reason")``: a string unquoted, a number or boolean
    as written, an object or array as JSON, null or missing as NULL."""
    kind = "toString(JSONType(properties, 'reason'))"
    return f"""multiIf(properties IS NULL OR NOT JSONHas(properties, 'reason')
           OR {kind} = 'Null', NULL,
       {kind} IN ('Object', 'Array'), JSONExtractRaw(properties, 'reason'),
       JSON_VALUE(properties, '$.reason'))"""


def _rasa_selection(rasa_table: str, source: str, start: datetime | None,
                    end: datetime | None, channels: Iterable[str] | None,
                    names: dict[str, str]) -> str:
    """Rasa's events of the range, and with channels those of the conversations the
    selected events name or whose first input channel (in the range, Rasa's order) maps to
    one of the channels."""
    in_range = filters_sql(start, end)
    where = f" WHERE {' AND '.join(in_range)}" if in_range else ""
    rows = f"(SELECT * FROM {rasa_table} FINAL{where})"
    wanted = [c for c in channels or [] if c]
    if not wanted:
        return rows
    keys = ", ".join(quote(k) for k in names)
    values = ", ".join(quote(v) for v in names.values())
    first = (f"SELECT conversation_id FROM {rows} WHERE input_channel IS NOT NULL "
             f"GROUP BY conversation_id HAVING transform(argMin(assumeNotNull(input_channel), "
             f"({RASA_ORDER})), [{keys}], [{values}], '') IN "
             f"({', '.join(quote(c) for c in wanted)})")
    named = (f"SELECT assumeNotNull(conversation_id) FROM {source} "
             "WHERE conversation_id IS NOT NULL")
    return (f"(SELECT * FROM {rows} WHERE conversation_id IN ({named}) "
            f"OR conversation_id IN ({first}))")


def _handoffs_sql(source: str, rasa: str | None) -> str:
    """(conversation_id, handoff_at in µs): each conversation's first handoff."""
    parts = [f"SELECT assumeNotNull(conversation_id) AS c, toUnixTimestamp64Micro(ts) AS t "
             f"FROM {source} WHERE name = 'handoff_requested' AND conversation_id IS NOT NULL"]
    if rasa:
        parts.append(f"SELECT conversation_id AS c, toUnixTimestamp64Micro(ts) AS t "
                     f"FROM {rasa} WHERE type = 'pause'")
    return f"SELECT c, min(t) AS handoff_at FROM ({' UNION ALL '.join(parts)}) GROUP BY c"


def _replies_sql(source: str, rasa: str | None) -> str:
    """(c, t): agent replies, from the events and Rasa's bot messages while paused."""
    parts = [f"SELECT assumeNotNull(conversation_id) AS c, toUnixTimestamp64Micro(ts) AS t "
             f"FROM {source} WHERE name IN {_names(AGENT_REPLY_EVENTS)} "
             "AND conversation_id IS NOT NULL"]
    if rasa:
        ordered = f"""SELECT conversation_id, ts, type,
       row_number() OVER (PARTITION BY conversation_id ORDER BY {RASA_ORDER}) AS pos
FROM {rasa}"""
        toggles = """SELECT conversation_id, ts, type,
       max(if(type = 'pause', pos, 0)) OVER w AS paused_at,
       max(if(type = 'resume', pos, 0)) OVER w AS resumed_at
FROM ({ordered})
WINDOW w AS (PARTITION BY conversation_id ORDER BY pos
             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)""".format(ordered=ordered)
        parts.append(f"SELECT conversation_id AS c, toUnixTimestamp64Micro(ts) AS t "
                     f"FROM ({toggles}) WHERE type = 'bot' AND paused_at > resumed_at")
    return " UNION ALL ".join(parts)


def _first_agent_reply(store, source: str, rasa: str | None) -> dict:
    waits = f"""SELECT h.c, toFloat64(min(r.t) - any(h.handoff_at)) / 1e6 AS seconds
FROM ({_handoffs_sql(source, rasa)}) AS h
INNER JOIN ({_replies_sql(source, rasa)}) AS r ON h.c = r.c
WHERE r.t >= h.handoff_at
GROUP BY h.c"""
    # polars' quantile(0.9, "nearest"): the value at rank round(0.9 * (n - 1)), half up
    row = store.query(f"""SELECT count() AS n, quantileExactInclusive(0.5)(seconds) AS median,
       arraySort(groupArray(seconds)) AS sorted,
       0.9 * (n - 1) AS h,
       arrayElement(sorted, toUInt64(if(h - floor(h) >= 0.5, ceil(h), floor(h))) + 1) AS p90
FROM ({waits})""").select("n", "median", "p90").row(0, named=True)
    n = int(row["n"])
    return {"replied_handoffs": n, "median_seconds": row["median"] if n else None,
            "p90_seconds": row["p90"] if n else None}


def _fallback(store, rasa: str | None) -> dict | None:
    if not rasa:
        return None
    turns = f"""SELECT conversation_id, type, intent, action,
       sum(type = 'user') OVER (PARTITION BY conversation_id ORDER BY {RASA_ORDER}
                                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS turn
FROM {rasa}"""
    per_turn = f"""SELECT conversation_id, turn, countIf(type = 'user') AS users,
       max(type = 'user' AND ifNull(intent IN {_names(FALLBACK_INTENTS)}, 0)
           OR ifNull(action IN {_names(FALLBACK_ACTIONS)}, 0)) AS fallback
FROM ({turns}) GROUP BY conversation_id, turn"""
    row = store.query(f"""SELECT sum(users) AS messages, sumIf(users, fallback) AS fallbacks,
       uniqExactIf(conversation_id, fallback AND users > 0) AS with_fallback
FROM ({per_turn})""").row(0, named=True)
    messages, fallbacks = int(row["messages"] or 0), int(row["fallbacks"] or 0)
    return {"user_messages": messages, "fallback_messages": fallbacks,
            "fallback_rate": _rate(fallbacks, messages),
            "conversations_with_fallback": int(row["with_fallback"] or 0)}


def _top_intents(store, rasa: str | None, top: int) -> list[dict]:
    if not rasa:
        return []
    rows = store.query(f"""SELECT intent, count() AS messages
FROM {rasa} WHERE type = 'user' AND intent IS NOT NULL
GROUP BY intent ORDER BY messages DESC, intent ASC
{f'LIMIT {int(top)}' if top >= 0 else ''}""").to_dicts()
    return rows if top >= 0 else rows[:top]


def _attributed_revenue(store, source: str, window: timedelta) -> list[dict]:
    window_us = window // _US
    touches = f"""SELECT assumeNotNull(user_id) AS tu, ts AS touch_at FROM {source}
WHERE conversation_id IS NOT NULL AND user_id IS NOT NULL AND name != 'purchase'"""
    purchases = f"SELECT * FROM {source} WHERE name = 'purchase'"
    matched = f"""SELECT p.*, t.touch_at AS touch_at
FROM (SELECT *, assumeNotNull(user_id) AS pu FROM ({purchases}) WHERE user_id IS NOT NULL)
    AS p
ASOF LEFT JOIN ({touches}) AS t ON p.pu = t.tu AND p.ts >= t.touch_at
UNION ALL
SELECT *, NULL AS pu, NULL AS touch_at FROM ({purchases}) WHERE user_id IS NULL"""
    refunds = f"""SELECT assumeNotNull(order_number) AS ro, sum(ifNull(value, 0)) AS rsum
FROM {source} WHERE name = 'refund' AND order_number IS NOT NULL GROUP BY ro"""
    attributed = f"""SELECT * FROM ({matched})
WHERE conversation_id IS NOT NULL
   OR (touch_at IS NOT NULL
       AND toUnixTimestamp64Micro(ts) - toUnixTimestamp64Micro(touch_at) <= {window_us})"""
    rows = store.query(f"""SELECT currency, uniqExact(coalesce(order_number, event_id)) AS orders,
       sum(ifNull(value, 0)) AS gross, sum(ifNull(r.rsum, 0)) AS refunded,
       gross - refunded AS net
FROM ({attributed}) AS a
LEFT JOIN ({refunds}) AS r ON a.order_number = r.ro
GROUP BY currency ORDER BY currency ASC NULLS FIRST
SETTINGS join_use_nulls = 1""")
    return rows.select("currency", "orders", "gross", "refunded", "net").to_dicts()


def chat_metrics(store, *, attribution_window: timedelta = timedelta(days=7), top: int = 10,
                 start: datetime | None = None, end: datetime | None = None,
                 channels: Iterable[str] | None = None, table: str = "events",
                 rasa_table: str | None = "rasa_events",
                 rasa_channel_names: dict[str, str] | None = None) -> dict:
    """analytics.chat.chat_metrics over ``table`` (and ``rasa_table`` when it holds rows,
    as the polars engine's ``conversations``) in ``store``.

    Rasa's events are all read, as the command reads the tracker, unless
    ``rasa_channel_names`` is given (Rasa's input channel -> the shop's channel): then only
    those of the range, and with channels only the conversations the selected events name
    or whose first input channel in the range is one of them (the dashboard's rule,
    dashboard.data.tracker_rows)."""
    source = source_sql(table, filters_sql(start, end, channels))
    rasa = None
    if has_rows(store, rasa_table):
        rasa = f"{rasa_table} FINAL"
        if rasa_channel_names is not None:
            rasa = _rasa_selection(rasa_table, source, start, end, channels,
                                   rasa_channel_names)
    ids = [f"SELECT assumeNotNull(conversation_id) AS c FROM {source} "
           "WHERE conversation_id IS NOT NULL"]
    if rasa:
        ids.append(f"SELECT conversation_id AS c FROM {rasa}")
    total = int(store.query(f"SELECT uniqExact(c) AS n FROM ({' UNION ALL '.join(ids)})")["n"][0])
    handed = int(store.query(f"SELECT count() AS n FROM ({_handoffs_sql(source, rasa)})")
                 ["n"][0])
    reasons = store.query(f"""SELECT ifNull(reason, 'unspecified') AS reason, count() AS handoffs
FROM (SELECT {_reason_sql()} AS reason FROM {source} WHERE name = 'handoff_requested')
GROUP BY reason ORDER BY handoffs DESC, reason ASC""").to_dicts()
    return {
        "conversations": total, "handoffs": handed, "contained": total - handed,
        "containment_rate": _rate(total - handed, total),
        "handoff_rate": _rate(handed, total),
        "handoff_reasons": reasons,
        "fallback": _fallback(store, rasa),
        "top_intents": _top_intents(store, rasa, top),
        "first_agent_reply": _first_agent_reply(store, source, rasa),
        "attribution_window_seconds": attribution_window.total_seconds(),
        "attributed_revenue": _attributed_revenue(store, source, attribution_window),
    }
