"""The support inbox's outcomes: time to first reply, resolution time, CSAT and backlog, per
agent and per reason (definitions in docs/analytics.md, "Support inbox").

From the shop's events (storefront_api/support/handoffs.py writes them):

- ``handoff_requested`` (``properties.handoff`` the reference, ``reason``): a conversation
  came to the queue; counted once per handoff;
- ``agent_joined`` / ``agent_left`` (``agent``): who holds it; the last of them says whose
  backlog an open handoff is in (none: the queue's);
- ``agent_message`` with ``first: true`` (``seconds_since_request``): the time to first
  reply, also of handoffs still open;
- ``handoff_resolved`` (``resolution_seconds``, ``agent``, ``outcome``): resolution time,
  from the request to the hand-back or resolution;
- ``handoff_rated`` (``csat`` 1-5): the shopper's rating; CSAT is the mean rating and the
  share of 4s and 5s.

Backlog: handoffs requested and not resolved by the last event looked at. Reasons are
grouped in four kinds as the inbox shows them (``reason_kind``, the same rules as
storefront_api/inbox/documents.py): asked for a person, repeated misunderstanding,
complaint, payment trouble. An agent is named as the event names them ("(queue)" for an
open handoff nobody holds).
"""

from __future__ import annotations

import polars as pl

REASON_LABELS = {"asked": "Asked for a person", "misunderstanding": "Repeated misunderstanding",
                 "complaint": "Complaint", "payment": "Payment trouble"}
QUEUE = "(queue)"


def reason_kind(reason: pl.Expr) -> pl.Expr:
    """The kind of a handoff's reason, as the inbox groups them."""
    text = reason.fill_null("").str.to_lowercase()
    return (pl.when(text.str.contains("fallback") | text.str.contains("misunderst"))
            .then(pl.lit("misunderstanding"))
            .when(text.str.contains("complaint")).then(pl.lit("complaint"))
            .when(text.str.contains("checkout") | text.str.contains("payment"))
            .then(pl.lit("payment"))
            .otherwise(pl.lit("asked")))


def _prop(name: str, dtype: pl.DataType = pl.Utf8) -> pl.Expr:
    return pl.col("properties").str.json_path_match(f"$.{name}").cast(dtype, strict=False)


def _of(events: pl.LazyFrame, name: str, **columns: pl.Expr) -> pl.DataFrame:
    return (events.filter((pl.col("name") == name) & _prop("handoff").is_not_null())
            .select(pl.col("ts"), _prop("handoff").alias("handoff"), **columns)
            .collect())


def _frames(events: pl.LazyFrame) -> dict[str, pl.DataFrame]:
    requested = (_of(events, "handoff_requested", reason=_prop("reason"))
                 .sort("ts").unique("handoff", keep="first")
                 .with_columns(reason_kind(pl.col("reason")).alias("kind")))
    holders = pl.concat([
        _of(events, "agent_joined", agent=_prop("agent")),
        _of(events, "agent_left", agent=pl.lit(None, pl.Utf8))])
    holder = (holders.sort("ts").group_by("handoff")
              .agg(pl.col("agent").last().alias("holder")))
    first = (_of(events, "agent_message", first=_prop("first") == "true",
                 seconds=_prop("seconds_since_request", pl.Float64), agent=_prop("agent"))
             .filter(pl.col("first")).sort("ts").unique("handoff", keep="first")
             .select("handoff", pl.col("seconds").alias("first_reply_seconds"),
                     pl.col("agent").alias("replied_by")))
    resolved = (_of(events, "handoff_resolved", agent=_prop("agent"),
                    seconds=_prop("resolution_seconds", pl.Float64))
                .sort("ts").unique("handoff", keep="first")
                .select("handoff", pl.col("seconds").alias("resolution_seconds"),
                        pl.col("agent").alias("resolved_by")))
    rated = (_of(events, "handoff_rated", csat=_prop("csat", pl.Float64), agent=_prop("agent"))
             .filter(pl.col("csat").is_between(1, 5)).sort("ts").unique("handoff", keep="first")
             .select("handoff", "csat", pl.col("agent").alias("rated_agent")))
    return {"requested": requested, "holder": holder, "first": first, "resolved": resolved,
            "rated": rated}


def handoff_table(events: pl.LazyFrame) -> pl.DataFrame:
    """One row per handoff requested in ``events``: its reason kind, agent, first-reply and
    resolution seconds, rating, and whether it is still open."""
    f = _frames(events)
    table = (f["requested"].join(f["holder"], on="handoff", how="left")
             .join(f["first"], on="handoff", how="left")
             .join(f["resolved"], on="handoff", how="left")
             .join(f["rated"], on="handoff", how="left"))
    return table.with_columns(
        pl.col("resolution_seconds").is_null().alias("open"),
        pl.coalesce("resolved_by", "holder", "replied_by", "rated_agent").alias("agent"))


def _summary(table: pl.DataFrame) -> dict:
    answered = table["first_reply_seconds"].drop_nulls()
    resolved = table["resolution_seconds"].drop_nulls()
    ratings = table["csat"].drop_nulls()
    return {
        "handoffs": table.height,
        "resolved": resolved.len(),
        "backlog": int(table["open"].sum()),
        "first_reply_median_seconds": answered.median() if answered.len() else None,
        "first_reply_p90_seconds": answered.quantile(0.9, "nearest") if answered.len() else None,
        "resolution_median_seconds": resolved.median() if resolved.len() else None,
        "resolution_p90_seconds": resolved.quantile(0.9, "nearest") if resolved.len() else None,
        "csat_average": round(ratings.mean(), 2) if ratings.len() else None,
        "csat_responses": ratings.len(),
        "csat_satisfied_rate": (round(float((ratings >= 4).sum()) / ratings.len(), 4)
                                if ratings.len() else None),
    }


def _breakdown(table: pl.DataFrame, key: str) -> list[dict]:
    rows = []
    for value in sorted(table[key].drop_nulls().unique().to_list()):
        rows.append({key: value, **_summary(table.filter(pl.col(key) == value))})
    if key == "agent":
        waiting = table.filter(pl.col("agent").is_null())
        if waiting.height:
            rows.append({key: QUEUE, **_summary(waiting)})
    return rows


def support_metrics(events: pl.LazyFrame) -> dict:
    """The inbox's figures over every handoff requested in ``events``, in all, per agent
    and per reason kind."""
    table = handoff_table(events)
    by_reason = _breakdown(table.drop("reason").rename({"kind": "reason"}), "reason")
    for row in by_reason:
        row["label"] = REASON_LABELS.get(row["reason"], row["reason"])
    return {**_summary(table), "by_agent": _breakdown(table, "agent"), "by_reason": by_reason}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "support-metrics", help="the support inbox: time to first reply, resolution time, "
                                "CSAT and backlog, per agent and per reason")
    parser.set_defaults(handler=_command)


def _command(args) -> dict:
    from .cli import events_from_args
    return support_metrics(events_from_args(args))
