"""The Overview's headline numbers for one period, from conformed events.

It lives in the analytics package, like every other computation, so that the dashboard only
displays. Definitions (also in dashboard/README.md):
- sessions: distinct ``session_id``; conversations: as ``analytics.chat`` counts them
  (conversation ids of the events and of Rasa's tracker store);
- orders: distinct ``order_number`` of ``purchase`` events; revenue: their value, in the
  shop's main currency (the one most orders are in), refunds not deducted;
- conversion rate: sessions with a purchase / sessions; AOV: revenue / orders in that
  currency;
- cart abandonment rate: abandoned carts (``analytics.abandonment``) / carts started
  (distinct ``cart_id`` of ``add_to_cart`` events).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

PURCHASE = "purchase"
# An outside log may have purchases without an order number: each such event is one order.
ORDER_KEY = pl.coalesce("order_number", "event_id")


@dataclass(frozen=True)
class Kpis:
    sessions: int
    conversations: int
    orders: int
    revenue: int  # minor units of ``currency``
    currency: str | None
    converted_sessions: int
    carts: int
    abandoned_carts: int
    currency_orders: int = 0  # orders in ``currency``, the base of the AOV

    @property
    def conversion_rate(self) -> float | None:
        return self.converted_sessions / self.sessions if self.sessions else None

    @property
    def average_order_value(self) -> float | None:
        return self.revenue / self.currency_orders if self.currency_orders else None

    @property
    def cart_abandonment_rate(self) -> float | None:
        return self.abandoned_carts / self.carts if self.carts else None


def main_currency(events: pl.LazyFrame) -> str | None:
    """The currency most purchases are in (ties: alphabetical); without purchases, the one
    most events with a value are in."""
    counts = (events.filter(pl.col("currency").is_not_null()).group_by("currency")
              .agg(pl.len().alias("events"), (pl.col("name") == PURCHASE).sum()
                   .alias("purchases")))
    return currency_of(counts.collect())


def currency_of(counts: pl.DataFrame) -> str | None:
    """``main_currency`` from per-currency counts (columns currency, events, purchases)."""
    for column in ("purchases", "events"):
        ranked = (counts.filter(pl.col(column) > 0)
                  .sort([column, "currency"], descending=[True, False]))
        if ranked.height:
            return ranked["currency"][0]
    return None


def _in(currency: str | None) -> pl.Expr:
    return pl.col("currency").eq_missing(currency)


def _one_row_per_order(purchases: pl.LazyFrame) -> pl.LazyFrame:
    return (purchases.with_columns(ORDER_KEY.alias("order_key"))
            .unique("order_key", keep="first", maintain_order=True))


def kpis(events: pl.LazyFrame, *, abandoned_carts: int, currency: str | None = None,
         conversations: int | None = None) -> Kpis:
    """KPIs of ``events`` (already filtered to the period and channels). ``conversations``
    overrides the count of conversation ids in the events (Rasa's tracker knows chats that
    never touched the shop)."""
    currency = currency or main_currency(events)
    counts = events.select(
        pl.col("session_id").drop_nulls().n_unique().alias("sessions"),
        pl.col("conversation_id").drop_nulls().n_unique().alias("conversations"),
        pl.col("cart_id").filter(pl.col("name") == "add_to_cart").drop_nulls()
        .n_unique().alias("carts")).collect().row(0, named=True)
    if conversations is None:
        conversations = counts["conversations"]
    return kpis_of(counts["sessions"], counts["carts"],
                   events.filter(pl.col("name") == PURCHASE), abandoned_carts=abandoned_carts,
                   currency=currency, conversations=conversations)


def kpis_of(sessions: int, carts: int, purchases: pl.LazyFrame, *, abandoned_carts: int,
            currency: str | None, conversations: int) -> Kpis:
    """The KPIs from what needs every event (distinct sessions, carts started,
    conversations) and the period's purchase events (their rows: orders are told apart
    and revenue taken one row per order, the first one in time)."""
    in_currency = _one_row_per_order(purchases.filter(_in(currency)))
    row = pl.concat([
        purchases.select(ORDER_KEY.n_unique().alias("orders"),
                         pl.col("session_id").drop_nulls().n_unique()
                         .alias("converted_sessions")),
        in_currency.select(pl.col("value").sum().alias("revenue"),
                           pl.len().alias("currency_orders")),
    ], how="horizontal").collect().row(0, named=True)
    return Kpis(sessions=sessions, conversations=conversations,
                orders=row["orders"], revenue=int(row["revenue"] or 0), currency=currency,
                converted_sessions=row["converted_sessions"], carts=carts,
                abandoned_carts=abandoned_carts, currency_orders=row["currency_orders"])


def daily_sales(events: pl.LazyFrame, currency: str | None,
                start: datetime, end: datetime) -> pl.DataFrame:
    """Orders and revenue (minor units) per day of the period, days without sales as 0."""
    sales = (_one_row_per_order(events.filter(pl.col("name") == PURCHASE, _in(currency)))
             .group_by(pl.col("ts").dt.date().alias("day"))
             .agg(pl.len().alias("orders"), pl.col("value").sum().alias("revenue")))
    days = pl.LazyFrame({"day": pl.date_range(start.date(), end.date(), "1d", closed="left",
                                              eager=True)})
    return (days.join(sales, on="day", how="left")
            .with_columns(pl.col("orders").fill_null(0), pl.col("revenue").fill_null(0))
            .sort("day").collect())
