"""Cart and checkout abandonment computed inside ClickHouse, with exactly the rules of
analytics.abandonment (its docstring and docs/analytics.md, "Abandonment").

1. ``now``: the given time, else the latest event of the selection (one row back);
2. ``ev`` (a Memory table for the query's life): the selected events a cart or a chat turn
   needs (cart steps, purchases and reminders of a cart; chat events of a conversation),
   read ``FINAL`` so a redelivered event counts once;
3. ``carts`` (a Memory table, one row per abandoned cart): per cart, its activity (its steps
   up to its first purchase) gives the last non-null user, e-mail, channel, conversation
   and currency, ``abandoned_at`` (its last activity), the furthest step, the value of its
   latest view_cart/checkout step with a value, else adds minus removes (clipped at 0);
   the first purchase (time and value) decides idle, status and recovery; the last bot turn
   is the latest turn of the cart's conversation up to ``abandoned_at + idle`` (Rasa's
   actions from ``rasa_events`` when that table has rows, else the chat events); the first
   reminder at or after ``abandoned_at``; the reason from both. Ties in time are broken by
   the position in the log (``seq``, then the event id; Rasa: the tracker's id);
4. the summary is aggregated in SQL over ``carts`` (counts, the three breakdowns, reasons,
   reminders: a few dozen rows back); only the rates are divided here, with the polars
   engine's rounding. The per-cart rows leave ClickHouse only for ``--carts``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

import polars as pl

from ..abandonment import (_TYPES, CHAT_EVENTS, COLUMNS, QUIET_ACTIONS, REMINDER_EVENT,
                           STEP_NAMES, STEP_RANK, VALUE_STEPS, _empty, _rate)
from .funnel import filters_sql, quote

_US = timedelta(microseconds=1)


def _names(names: Iterable[str]) -> str:
    return "(" + ", ".join(quote(n) for n in names) + ")"


def source_sql(table: str, filters: list[str]) -> str:
    """The selected events of ``table``, each once (FINAL)."""
    where = f" WHERE {' AND '.join(filters)}" if filters else ""
    return f"(SELECT * FROM {table} FINAL{where})"


def has_rows(store, table: str | None) -> bool:
    """Whether ``table`` exists in the store's database and holds a row."""
    if not table:
        return False
    exists = store.query(f"SELECT count() AS n FROM system.tables WHERE name = {quote(table)} "
                         "AND database = currentDatabase()")["n"][0]
    return bool(exists) and store.query(f"SELECT count() AS n FROM (SELECT 1 FROM {table} "
                                        "LIMIT 1)")["n"][0] > 0


def _when_us(value: datetime) -> int:
    return (value - datetime(1970, 1, 1)) // _US


def latest_us(store, source: str) -> int | None:
    row = store.query(f"SELECT count() AS n, toUnixTimestamp64Micro(max(ts)) AS t "
                      f"FROM {source}").row(0)
    return int(row[1]) if row[0] else None


def _turns_sql(ev: str, rasa_table: str | None) -> str:
    """(tconv, t, o1, o2, turn): the conversation, and o1, o2 order the turns of one
    instant. (Aliases never take a column's name: ClickHouse would read the alias in WHERE.)"""
    if rasa_table:
        return f"""SELECT conversation_id AS tconv, toUnixTimestamp64Micro(ts) AS t,
       toUInt64(length(event_key)) AS o1, event_key AS o2, assumeNotNull(action) AS turn
FROM {rasa_table} FINAL
WHERE action IS NOT NULL AND action NOT IN {_names(QUIET_ACTIONS)}"""
    return f"""SELECT assumeNotNull(conversation_id) AS tconv,
       toUnixTimestamp64Micro(ts) AS t, seq AS o1, event_id AS o2, name AS turn
FROM {ev}
WHERE name IN {_names(CHAT_EVENTS)} AND conversation_id IS NOT NULL"""


def left_sql(ev: str, *, now_us: int, idle: timedelta) -> str:
    """Per cart left for ``idle`` (until its first purchase or ``now``): its activity's
    facts and that purchase."""
    idle_us = idle // _US
    rank = "multiIf(" + ", ".join(f"name = {quote(n)}, {r}" for n, r in STEP_RANK.items()) \
        + ", 0)"
    key = "(t, seq, event_id)"
    last = lambda c: f"argMaxIf({c}, {key}, {c} IS NOT NULL) AS last_{c}"  # noqa: E731
    purchases = f"""SELECT assumeNotNull(cart_id) AS pc, min(t) AS pt,
       argMin(tuple(value), {key}).1 AS pv
FROM (SELECT *, toUnixTimestamp64Micro(ts) AS t FROM {ev})
WHERE name = 'purchase' AND cart_id IS NOT NULL GROUP BY pc"""
    activity = f"""SELECT a.*, p.pt AS pt, p.pv AS pv
FROM (SELECT *, toUnixTimestamp64Micro(ts) AS t FROM {ev}
      WHERE cart_id IS NOT NULL AND name IN {_names(STEP_RANK)}) AS a
LEFT JOIN ({purchases}) AS p ON a.cart_id = p.pc
WHERE p.pt IS NULL OR a.t <= p.pt"""
    return f"""SELECT assumeNotNull(cart_id) AS left_cart,
       {last('user_id')}, {last('email')}, {last('channel')}, {last('conversation_id')},
       {last('currency')},
       max(t) AS left_at, max({rank}) AS rank,
       argMaxIf(value, {key}, name IN {_names(VALUE_STEPS)} AND value IS NOT NULL)
           AS step_value,
       sumIf(ifNull(value, 0), name = 'add_to_cart')
           - sumIf(ifNull(value, 0), name = 'remove_from_cart') AS net_value,
       any(pt) AS purchased, any(pv) AS purchase_value
FROM ({activity})
GROUP BY left_cart
HAVING coalesce(purchased, {now_us}) - left_at >= {idle_us}
SETTINGS join_use_nulls = 1"""


def carts_sql(ev: str, left: str, *, now_us: int, idle: timedelta, window: timedelta,
              rasa_table: str | None) -> str:
    """The abandoned carts of ``left`` with status, last bot turn, reminder and reason,
    in the polars engine's columns."""
    idle_us, window_us = idle // _US, window // _US
    step_names = "[" + ", ".join(quote(STEP_NAMES[r]) for r in sorted(STEP_NAMES)) + "]"
    recovered = f"(purchased IS NOT NULL AND purchased <= left_at + {window_us})"
    statuses = f"""SELECT *,
       toUInt8({recovered}) AS rec,
       multiIf(rec, 'recovered', {now_us} > left_at + {window_us}, 'lost', 'open') AS status
FROM {left}"""
    turns = f"""SELECT c.left_cart AS tc, argMax(r.turn, (r.t, r.o1, r.o2)) AS last_bot_turn
FROM (SELECT left_cart, assumeNotNull(last_conversation_id) AS cconv, left_at
      FROM {left} WHERE last_conversation_id IS NOT NULL) AS c
INNER JOIN ({_turns_sql(ev, rasa_table)}) AS r ON c.cconv = r.tconv
WHERE r.t <= c.left_at + {idle_us}
GROUP BY tc"""
    reminders = f"""SELECT c.left_cart AS rc, min(r.t) AS reminded
FROM (SELECT left_cart, left_at FROM {left}) AS c
INNER JOIN (SELECT assumeNotNull(cart_id) AS rcart, toUnixTimestamp64Micro(ts) AS t
            FROM {ev} WHERE name = {quote(REMINDER_EVENT)} AND cart_id IS NOT NULL) AS r
    ON c.left_cart = r.rcart
WHERE r.t >= c.left_at
GROUP BY rc"""
    ts = lambda us: f"fromUnixTimestamp64Micro({us}, 'UTC')"  # noqa: E731
    turn = "ifNull(last_bot_turn, '')"
    step = f"arrayElement({step_names}, rank)"
    reason = f"""multiIf(position({turn}, 'fallback') > 0, 'bot_did_not_understand',
       {turn} = 'handoff_requested', 'waiting_for_agent',
       rank = 5, 'left_at_payment', rank = 4, 'left_after_shipping',
       rank = 3, 'left_at_checkout_details', 'left_with_cart')"""
    return f"""SELECT left_cart AS cart_id, last_user_id AS user_id, last_email AS email,
       last_channel AS channel, last_conversation_id AS conversation_id,
       if(rank >= 3, 'checkout', 'cart') AS kind, {ts('left_at')} AS abandoned_at,
       toInt64(greatest(coalesce(step_value, net_value), 0)) AS value, last_currency AS currency,
       {step} AS last_step, last_bot_turn, {reason} AS reason, status,
       if(rec, {ts('purchased')}, NULL) AS recovered_at,
       if(rec, purchase_value, NULL) AS recovered_value,
       if(reminded IS NULL, NULL, {ts('reminded')}) AS reminded_at
FROM ({statuses}) AS s
LEFT JOIN ({turns}) AS b ON s.left_cart = b.tc
LEFT JOIN ({reminders}) AS m ON s.left_cart = m.rc
SETTINGS join_use_nulls = 1"""


class _Tables:
    """The query's Memory tables, dropped on exit."""

    def __init__(self, store):
        self.store, self.names = store, []

    def create(self, prefix: str, sql: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.store.execute(f"CREATE TABLE {name} ENGINE = Memory AS {sql}")
        self.names.append(name)
        return name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for name in self.names:
            self.store.execute(f"DROP TABLE IF EXISTS {name}")


def _cart_tables(tables: _Tables, *, idle, recovery_window, now, start, end, channels,
                 table, rasa_table) -> str | None:
    """The Memory table of abandoned carts, or None when no event is selected."""
    source = source_sql(table, filters_sql(start, end, channels))
    latest = latest_us(tables.store, source)
    if latest is None:
        return None
    wanted = f"""(cart_id IS NOT NULL AND name IN
           {_names([*STEP_RANK, 'purchase', REMINDER_EVENT])})
       OR (conversation_id IS NOT NULL AND name IN {_names(CHAT_EVENTS)})"""
    ev = tables.create("abandon_ev", f"""SELECT ts, seq, event_id, name, cart_id, user_id,
       email, channel, conversation_id, currency, value FROM {source} WHERE {wanted}""")
    rasa = rasa_table if has_rows(tables.store, rasa_table) else None
    now_us = _when_us(now) if now is not None else latest
    left = tables.create("abandon_left", left_sql(ev, now_us=now_us, idle=idle))
    return tables.create("abandon_carts", carts_sql(
        ev, left, now_us=now_us, idle=idle, window=recovery_window, rasa_table=rasa))


def _frame(rows: pl.DataFrame) -> pl.DataFrame:
    """ClickHouse's rows in the polars engine's schema (naive UTC times)."""
    if rows.height == 0:
        return _empty()
    return rows.select(COLUMNS).with_columns(
        [pl.col(c).dt.replace_time_zone(None) for c in COLUMNS
         if isinstance(rows.schema[c], pl.Datetime) and rows.schema[c].time_zone]
    ).cast(_TYPES)


def abandoned_carts(store, *, idle: timedelta = timedelta(hours=1),
                    recovery_window: timedelta = timedelta(days=7),
                    now: datetime | None = None, start: datetime | None = None,
                    end: datetime | None = None, channels: Iterable[str] | None = None,
                    table: str = "events", rasa_table: str | None = "rasa_events"
                    ) -> pl.DataFrame:
    """analytics.abandonment.abandoned_carts over ``table`` in ``store``: one row per
    abandoned cart. Rasa's actions come from ``rasa_table`` when it holds rows (as the
    polars engine's ``conversations``), else the chat events give the last bot turn."""
    with _Tables(store) as tables:
        carts = _cart_tables(tables, idle=idle, recovery_window=recovery_window, now=now,
                             start=start, end=end, channels=channels, table=table,
                             rasa_table=rasa_table)
        if carts is None:
            return _empty()
        return _frame(store.query(f"SELECT * FROM {carts} ORDER BY abandoned_at, cart_id"))


# over (SELECT *, value AS v, recovered_value AS rv): the results take the columns' names
_BREAKDOWN = """count() AS carts, sum(v) AS value, countIf(status = 'recovered') AS recovered,
       countIf(status = 'lost') AS lost, countIf(status = 'open') AS open,
       sum(ifNull(rv, 0)) AS recovered_value, sumIf(v, status != 'recovered') AS value_at_risk"""


def _breakdown(store, carts: str, *by: str) -> list[dict]:
    keys = ", ".join([*by, "currency"])
    order = ", ".join(f"{k} ASC NULLS LAST" for k in [*by, "currency"])
    rows = store.query(f"SELECT {keys}, {_BREAKDOWN} FROM (SELECT *, value AS v, "
                       f"recovered_value AS rv FROM {carts}) GROUP BY {keys} "
                       f"ORDER BY {order}").to_dicts()
    return [{**row, "recovery_rate": _rate(row["recovered"], row["recovered"] + row["lost"])}
            for row in rows]


def _summary(store, carts: str | None, idle: timedelta, window: timedelta) -> dict:
    if carts is None:
        from ..abandonment import abandonment_summary
        return abandonment_summary(pl.LazyFrame(), idle=idle, recovery_window=window,
                                   carts=_empty())
    counts = store.query(f"""SELECT count() AS carts,
       countIf(status = 'recovered') AS recovered, countIf(status = 'lost') AS lost,
       countIf(status = 'open') AS open,
       countIf(reminded_at IS NOT NULL) AS reminded,
       countIf(reminded_at IS NOT NULL AND status = 'recovered'
               AND recovered_at >= reminded_at) AS after,
       countIf(reminded_at IS NOT NULL AND status != 'open') AS reminded_settled,
       countIf(reminded_at IS NULL) AS others,
       countIf(reminded_at IS NULL AND status = 'recovered') AS others_recovered,
       countIf(reminded_at IS NULL AND status != 'open') AS others_settled
FROM {carts}""").row(0, named=True)
    reasons = store.query(f"SELECT reason, count() AS carts, sum(v) AS value FROM (SELECT "
                          f"reason, value AS v FROM {carts}) GROUP BY reason "
                          "ORDER BY carts DESC, reason ASC").to_dicts()
    by_status = {s: counts[s] for s in ("recovered", "lost", "open")}
    return {
        "idle_seconds": idle.total_seconds(),
        "recovery_window_seconds": window.total_seconds(),
        "abandoned_carts": counts["carts"], **by_status,
        "recovery_rate": _rate(by_status["recovered"], by_status["recovered"] + by_status["lost"]),
        "by_currency": _breakdown(store, carts),
        "by_kind": _breakdown(store, carts, "kind"),
        "by_channel": _breakdown(store, carts, "channel"),
        "reasons": reasons,
        "reminders": {
            "reminded_carts": counts["reminded"], "recovered_after_reminder": counts["after"],
            "reminded_recovery_rate": _rate(counts["after"], counts["reminded_settled"]),
            "not_reminded_carts": counts["others"],
            "not_reminded_recovery_rate": _rate(counts["others_recovered"],
                                                counts["others_settled"])},
    }


def abandonment_summary(store, *, idle: timedelta = timedelta(hours=1),
                        recovery_window: timedelta = timedelta(days=7),
                        now: datetime | None = None, start: datetime | None = None,
                        end: datetime | None = None, channels: Iterable[str] | None = None,
                        table: str = "events", rasa_table: str | None = "rasa_events") -> dict:
    """analytics.abandonment.abandonment_summary over ``table`` in ``store``, aggregated
    in ClickHouse over its table of abandoned carts."""
    with _Tables(store) as tables:
        carts = _cart_tables(tables, idle=idle, recovery_window=recovery_window, now=now,
                             start=start, end=end, channels=channels, table=table,
                             rasa_table=rasa_table)
        return _summary(store, carts, idle, recovery_window)
