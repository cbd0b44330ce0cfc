"""Segments for retargeting: RFM scores with named segments, and rule-based segments.

RFM (over buyers: users with at least one ``purchase``), as of ``now`` (default: the last
event's time):
- recency_days: days since the last purchase; frequency: purchases (distinct orders);
  monetary: purchase value minus refunded value (minor units, the shop's currency);
- each becomes a 1-5 score by rank quintile: score = 1 + floor(5 * (rank - 1) / buyers),
  ranked so that 5 is best (most recent, most frequent, highest value). Ties share the
  *lowest* rank (``method="min"``): equal values always get the same score, so when half the
  buyers bought once, all of them get F = 1 and no F score is given by chance of row order;
- named segment from R and FM = ceil((F + M) / 2), see ``RFM_SEGMENTS``.

Rule-based segments (a user can be in several), thresholds as parameters:
- high_value_cart_abandoners: unrecovered abandoned carts worth at least ``high_value_cart``
  (default: the 75th percentile of abandoned cart values) in the last ``recent_days``;
- browse_abandoners: viewed items in the last ``recent_days`` but added nothing to a cart
  and bought nothing then;
- one_time_buyers: exactly one purchase, at least ``one_time_after_days`` ago;
- lapsed_vips: monetary in the top ``vip_share`` of buyers and no purchase for
  ``lapsed_days``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

import polars as pl

from .abandonment import abandoned_carts

# (segment, rule on r and fm), first match wins; together they cover all 25 (r, fm) pairs.
RFM_SEGMENTS: list[tuple[str, str]] = [
    ("champions", "r = 5 and fm >= 4"),
    ("loyal", "r in 3-4 and fm >= 4"),
    ("potential_loyalists", "r >= 4 and fm in 2-3"),
    ("new", "r = 5 and fm = 1"),
    ("promising", "r = 4 and fm = 1"),
    ("need_attention", "r = 3 and fm = 3"),
    ("about_to_sleep", "r = 3 and fm <= 2"),
    ("cant_lose", "r <= 2 and fm = 5"),
    ("at_risk", "r <= 2 and fm in 3-4"),
    ("lost", "r = 1 and fm = 1"),
    ("hibernating", "r <= 2 and fm <= 2"),
]


def _segment_expr() -> pl.Expr:
    r, fm = pl.col("r"), pl.col("fm")
    conditions = [
        (r == 5) & (fm >= 4), r.is_between(3, 4) & (fm >= 4),
        (r >= 4) & fm.is_between(2, 3), (r == 5) & (fm == 1), (r == 4) & (fm == 1),
        (r == 3) & (fm == 3), (r == 3) & (fm <= 2), (r <= 2) & (fm == 5),
        (r <= 2) & fm.is_between(3, 4), (r == 1) & (fm == 1), (r <= 2) & (fm <= 2),
    ]
    expr = pl.when(conditions[0]).then(pl.lit(RFM_SEGMENTS[0][0]))
    for condition, (name, _) in zip(conditions[1:], RFM_SEGMENTS[1:]):
        expr = expr.when(condition).then(pl.lit(name))
    return expr.otherwise(pl.lit(None))


def quintile_score(column: str, *, descending: bool = False) -> pl.Expr:
    """1-5 by rank; ties share the lowest rank. ``descending``: smaller values score higher."""
    rank = pl.col(column).rank(method="min", descending=descending)
    return (1 + (rank - 1) * 5 // pl.len()).cast(pl.Int8)


def _now(events: pl.LazyFrame, now: datetime | None) -> datetime | None:
    return now or events.select(pl.col("ts").max()).collect().item()


def contacts(events: pl.LazyFrame) -> pl.LazyFrame:
    """Per user: the latest e-mail seen and the latest consent flag."""
    return (events.filter(pl.col("user_id").is_not_null()).sort("ts").group_by("user_id")
            .agg(pl.col("email").drop_nulls().last(),
                 pl.col("consent").drop_nulls().last().fill_null(False)))


def _buyers(events: pl.LazyFrame) -> pl.LazyFrame:
    name, value = pl.col("name"), pl.col("value").fill_null(0)
    money = events.filter(name.is_in(["purchase", "refund"]) & pl.col("user_id").is_not_null())
    return money.group_by("user_id").agg(
        pl.col("ts").filter(name == "purchase").max().alias("last_purchase"),
        pl.col("ts").filter(name == "purchase").min().alias("first_purchase"),
        pl.coalesce("order_number", "event_id").filter(name == "purchase").n_unique()
        .alias("frequency"),
        (value.filter(name == "purchase").sum() - value.filter(name == "refund").sum())
        .alias("monetary"),
    ).filter(pl.col("frequency") > 0)


def rfm(events: pl.LazyFrame, *, now: datetime | None = None) -> pl.DataFrame:
    """One row per buyer: user_id, email, consent, recency_days, frequency, monetary, r, f,
    m, rfm_score ("545"), segment."""
    now = _now(events, now)
    if now is None:
        return pl.DataFrame(schema=RFM_SCHEMA)
    buyers = (_buyers(events).with_columns(
        ((pl.lit(now) - pl.col("last_purchase")).dt.total_seconds() / 86400)
        .round(2).alias("recency_days"))
        .with_columns(quintile_score("recency_days", descending=True).alias("r"),
                      quintile_score("frequency").alias("f"),
                      quintile_score("monetary").alias("m"))
        .with_columns(((pl.col("f") + pl.col("m") + 1) // 2).alias("fm"))
        .with_columns(pl.format("{}{}{}", "r", "f", "m").alias("rfm_score"),
                      _segment_expr().alias("segment")))
    return (buyers.join(contacts(events), on="user_id", how="left")
            .select(list(RFM_SCHEMA)).sort("user_id").collect().cast(RFM_SCHEMA))


RFM_SCHEMA = {"user_id": pl.Utf8, "email": pl.Utf8, "consent": pl.Boolean,
              "recency_days": pl.Float64, "frequency": pl.UInt32, "monetary": pl.Int64,
              "r": pl.Int8, "f": pl.Int8, "m": pl.Int8, "rfm_score": pl.Utf8,
              "segment": pl.Utf8}
RULE_SCHEMA = {"user_id": pl.Utf8, "email": pl.Utf8, "consent": pl.Boolean,
               "segment": pl.Utf8, "value": pl.Int64}
RULE_SEGMENTS = ["high_value_cart_abandoners", "browse_abandoners", "one_time_buyers",
                 "lapsed_vips"]


def _high_value_abandoners(events, now, recent, high_value_cart, idle) -> pl.LazyFrame:
    carts = abandoned_carts(events, idle=idle, now=now)
    carts = carts.filter((pl.col("status") != "recovered")
                         & (pl.col("abandoned_at") >= now - recent)
                         & pl.col("user_id").is_not_null())
    if high_value_cart is None:
        high_value_cart = carts["value"].quantile(0.75, "nearest") if carts.height else 0
    return (carts.filter(pl.col("value") >= high_value_cart).group_by("user_id")
            .agg(pl.col("value").sum()).lazy()
            .with_columns(pl.lit("high_value_cart_abandoners").alias("segment")))


def _browse_abandoners(events, now, recent) -> pl.LazyFrame:
    name = pl.col("name")
    recent_events = events.filter((pl.col("ts") >= now - recent) & pl.col("user_id").is_not_null())
    return (recent_events.group_by("user_id").agg(
        (name == "view_item").sum().alias("views"),
        name.is_in(["add_to_cart", "purchase"]).sum().alias("carted"))
        .filter((pl.col("views") > 0) & (pl.col("carted") == 0))
        .select("user_id", pl.lit(None, pl.Int64).alias("value"),
                pl.lit("browse_abandoners").alias("segment")))


def _buyer_rules(events, now, one_time_after, lapsed, vip_share) -> pl.LazyFrame:
    buyers = _buyers(events)
    one_time = (buyers.filter((pl.col("frequency") == 1)
                              & (pl.col("last_purchase") <= now - one_time_after))
                .select("user_id", pl.col("monetary").alias("value"),
                        pl.lit("one_time_buyers").alias("segment")))
    vip_floor = pl.col("monetary").quantile(1 - vip_share, "nearest")
    lapsed_vips = (buyers.filter((pl.col("monetary") >= vip_floor) & (pl.col("monetary") > 0))
                   .filter(pl.col("last_purchase") <= now - lapsed)
                   .select("user_id", pl.col("monetary").alias("value"),
                           pl.lit("lapsed_vips").alias("segment")))
    return pl.concat([one_time, lapsed_vips])


def rule_segments(events: pl.LazyFrame, *, now: datetime | None = None,
                  high_value_cart: int | None = None, recent_days: int = 30,
                  one_time_after_days: int = 30, lapsed_days: int = 90,
                  vip_share: float = 0.1, idle: timedelta = timedelta(hours=1)) -> pl.DataFrame:
    """One row per (user, rule segment): user_id, email, consent, segment, value."""
    if not 0 < vip_share <= 1:
        raise ValueError("vip_share must be in (0, 1]")
    now = _now(events, now)
    if now is None:
        return pl.DataFrame(schema=RULE_SCHEMA)
    recent = timedelta(days=recent_days)
    parts = [
        _high_value_abandoners(events, now, recent, high_value_cart, idle)
        .select("user_id", pl.col("value").cast(pl.Int64), "segment"),
        _browse_abandoners(events, now, recent),
        _buyer_rules(events, now, timedelta(days=one_time_after_days),
                     timedelta(days=lapsed_days), vip_share)
        .select("user_id", pl.col("value").cast(pl.Int64), "segment"),
    ]
    return (pl.concat(parts).join(contacts(events), on="user_id", how="left")
            .select(list(RULE_SCHEMA)).sort("segment", "user_id").collect().cast(RULE_SCHEMA))


def segment_summary(rfm_frame: pl.DataFrame, rule_frame: pl.DataFrame,
                    advertising: Collection[str] = frozenset()) -> pl.DataFrame:
    """Per segment: kind (rfm|rule), users, users reachable (an e-mail whose hash is in
    ``advertising``: consented to ad audiences, analytics.consent), value."""
    from .audience import with_advertising
    frames = [rfm_frame.select("segment", pl.lit("rfm").alias("kind"), "email",
                               pl.col("monetary").alias("value")),
              rule_frame.select("segment", pl.lit("rule").alias("kind"), "email", "value")]
    members_frame = with_advertising(pl.concat(frames), advertising)
    return (members_frame.group_by("kind", "segment").agg(
        pl.len().alias("users"), pl.col("advertising").sum().alias("reachable"),
        pl.col("value").sum().alias("value"))
        .sort("kind", "users", "segment", descending=[False, True, False]))


def members(rfm_frame: pl.DataFrame, rule_frame: pl.DataFrame, segment: str) -> pl.DataFrame:
    """The users of one named segment (RFM or rule-based), with email and consent."""
    frames = [rfm_frame.select("user_id", "email", "consent", "segment",
                               pl.col("monetary").alias("value")), rule_frame]
    found = pl.concat(frames).filter(pl.col("segment") == segment)
    return found


def known_segments() -> list[str]:
    return [name for name, _ in RFM_SEGMENTS] + RULE_SEGMENTS


def register(subparsers) -> None:
    seg = subparsers.add_parser("segments", help="segment sizes and value; --list or "
                                "--audience for one segment")
    seg.add_argument("--list", metavar="SEGMENT", help="the members of one segment")
    seg.add_argument("--audience", metavar="SEGMENT", help="write an ad-platform audience CSV "
                     "(hashed e-mails of members who consented to advertising) to --output")
    seg.add_argument("--output", metavar="FILE.csv")
    seg.add_argument("--consents", metavar="SOURCE",
                     help="consent decisions: database URL or .csv/.parquet file (default: "
                          "$ANALYTICS_CONSENTS_URL, else the events database)")
    seg.add_argument("--platform", choices=["google", "meta"], default="google",
                     help="audience CSV header style (default google)")
    seg.add_argument("--high-value-cart", type=int, metavar="MINOR_UNITS",
                     help="abandoned cart value for high_value_cart_abandoners "
                          "(default: 75th percentile)")
    seg.add_argument("--recent-days", type=int, default=30)
    seg.add_argument("--lapsed-days", type=int, default=90)
    seg.set_defaults(handler=_segments_command)
    rfm_parser = subparsers.add_parser("rfm", help="RFM scores and named segment per buyer")
    rfm_parser.set_defaults(handler=lambda args: rfm(_events(args)))


def _events(args) -> pl.LazyFrame:
    from .cli import events_from_args
    return events_from_args(args)


def _segments_command(args):
    from .schema import InputError
    wanted = args.list or args.audience
    if wanted and wanted not in known_segments():
        raise InputError(f"unknown segment {wanted!r}; choose one of "
                         + ", ".join(known_segments()))
    if args.audience and not args.output:
        raise InputError("--audience needs --output FILE.csv")
    from .consent import advertising_consents
    from .loaders import default_events_source
    events = _events(args).collect().lazy()  # read once, used by several computations
    try:
        advertising = advertising_consents(args.events or default_events_source(),
                                           args.consents)
    except InputError:
        if args.audience or args.consents:  # an export must not guess: say what failed
            raise
        advertising = frozenset()  # an events-only database: nobody counts as reachable
    rfm_frame = rfm(events)
    rule_frame = rule_segments(events, high_value_cart=args.high_value_cart,
                               recent_days=args.recent_days, lapsed_days=args.lapsed_days)
    if args.audience:
        from .audience import write_audience
        return write_audience(members(rfm_frame, rule_frame, args.audience), args.output,
                              advertising, platform=args.platform, segment=args.audience)
    if args.list:
        return members(rfm_frame, rule_frame, args.list)
    return segment_summary(rfm_frame, rule_frame, advertising)
