"""How numbers read on the dashboard: money from minor units, rates, changes."""

from __future__ import annotations

from storefront_api.money import format_money, in_units, minor_unit_exponent


def exponent(currency: str | None) -> int:
    """Minor units per unit as a power of ten (the API's table: storefront_api.money)."""
    return minor_unit_exponent(currency or "USD")


def units(minor: int | float | None, currency: str | None) -> float:
    """Minor units as currency units (for charts; labels use ``money``)."""
    return float(in_units(int(minor or 0), currency or "USD"))


def money(minor: int | float | None, currency: str | None) -> str:
    """``12345, "EUR"`` -> ``€123.45``: the same text the API, the chat and e-mails show."""
    if minor is None:
        return "–"
    if not currency:  # no currency known: a plain number with cents
        return f"{in_units(int(round(minor)), 'USD'):,.2f}"
    return format_money(int(round(minor)), currency)


def percent(rate: float | None, digits: int = 1) -> str:
    return "–" if rate is None else f"{rate * 100:.{digits}f}%"


def count(n: int | float | None) -> str:
    return "–" if n is None else f"{int(n):,}"


def change(current: float | None, previous: float | None) -> str | None:
    """Relative change for st.metric's delta, or None when there is nothing to compare."""
    if current is None or previous in (None, 0):
        return None
    return f"{(current - previous) / abs(previous) * 100:+.1f}%"


def points_change(current: float | None, previous: float | None) -> str | None:
    """Change of a rate in percentage points (a rate's relative change misleads)."""
    if current is None or previous is None:
        return None
    return f"{(current - previous) * 100:+.1f} pp"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def rating(average: float | None) -> str:
    """A mean 1-5 rating: ``4.25`` -> ``4.3 / 5``."""
    return "–" if average is None else f"{average:.1f} / 5"


def support_table(rows: list[dict], key: str, title: str):
    """The support inbox's figures per agent or per reason, as the dashboard's table."""
    import polars as pl
    return pl.DataFrame([{
        title: row[key], "Handoffs": row["handoffs"], "Resolved": row["resolved"],
        "Backlog": row["backlog"],
        "First reply (median)": duration(row["first_reply_median_seconds"]),
        "Resolution (median)": duration(row["resolution_median_seconds"]),
        "CSAT": rating(row["csat_average"]), "Ratings": row["csat_responses"],
    } for row in rows], schema_overrides={title: pl.Utf8})


# st.metric options for a delta that is a note ("115 carts"), not a change
NOTE = {"delta_color": "off", "delta_arrow": "off"}
