"""``import-events``: outside event logs (a GA4 export, a Segment dump, a clickstream sample)
turned into Aisle's event schema, so every analytics command runs on them.

``--map target=source,...`` names the file's column for each event column (at least ts and
name, and one of user_id/session_id/customer_id). Columns that are not mapped go into the
``properties`` JSON, so step filters can still use them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from .schema import EVENT_SCHEMA, InputError, conform

IDENTITY_COLUMNS = ("user_id", "session_id", "customer_id")
# Segment's e-commerce spec names -> the GA4 names Aisle uses
SEGMENT_NAMES = {
    "Products Searched": "view_item_list", "Product List Viewed": "view_item_list",
    "Product Viewed": "view_item", "Product Added": "add_to_cart",
    "Product Removed": "remove_from_cart", "Cart Viewed": "view_cart",
    "Checkout Started": "begin_checkout", "Checkout Step Completed": "add_shipping_info",
    "Payment Info Entered": "add_payment_info", "Order Completed": "purchase",
    "Order Refunded": "refund",
}
PRESETS = {"segment": SEGMENT_NAMES}
_EPOCH_UNITS = [(1e11, "s"), (1e14, "ms"), (1e17, "us")]


def parse_mapping(text: str) -> dict[str, str]:
    mapping = {}
    for pair in [p for p in (text or "").split(",") if p.strip()]:
        target, eq, source = pair.partition("=")
        if not eq or not target.strip() or not source.strip():
            raise InputError(f"--map {pair!r}: write it as column=source_column, e.g. "
                             "--map user_id=user_pseudo_id,name=event_name,ts=event_timestamp")
        mapping[target.strip()] = source.strip()
    return mapping


def _scan(path: Path) -> pl.LazyFrame:
    if not path.exists():
        raise InputError(f"there is no file {path}; check the path")
    if path.suffix == ".parquet":
        return pl.scan_parquet(path)
    if path.suffix in (".csv", ".tsv"):
        return pl.scan_csv(path, separator="\t" if path.suffix == ".tsv" else ",",
                           infer_schema_length=10_000)
    if path.suffix in (".jsonl", ".ndjson"):
        return pl.scan_ndjson(path)
    raise InputError(f"{path}: import reads .csv, .tsv, .parquet or .jsonl files")


def _check_mapping(mapping: dict[str, str], columns: list[str], path: Path) -> None:
    unknown = [t for t in mapping if t not in EVENT_SCHEMA]
    if unknown:
        raise InputError(f"--map: {', '.join(unknown)} is not an event column; map to "
                         f"{', '.join(EVENT_SCHEMA)}")
    needed = [t for t in ("ts", "name") if t not in mapping]
    if needed:
        raise InputError(f"--map must say which column holds {' and '.join(needed)} "
                         f"(e.g. {needed[0]}=...)")
    if not any(t in mapping for t in IDENTITY_COLUMNS):
        raise InputError("--map must name who did each event: user_id=..., session_id=... "
                         "or customer_id=...")
    missing = [s for s in mapping.values() if s not in columns]
    if missing:
        shown = ", ".join(columns[:30]) + (", ..." if len(columns) > 30 else "")
        raise InputError(f"{path.name} has no column {', '.join(map(repr, missing))}; "
                         f"its columns are: {shown}")


def _timestamps(source: str, dtype: pl.DataType, ts_format: str | None,
                sample: pl.Series) -> pl.Expr:
    column = pl.col(source)
    if dtype.is_numeric():  # epoch seconds, milliseconds or microseconds (GA4: µs)
        biggest = float(sample.abs().max() or 0)
        unit = next((u for limit, u in _EPOCH_UNITS if biggest < limit), "ns")
        factor = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0.001}[unit]
        return (column.cast(pl.Float64) * factor).cast(pl.Int64).cast(pl.Datetime("us"))
    if isinstance(dtype, pl.Datetime) or dtype == pl.Date:
        return column
    text = column.cast(pl.Utf8).str.strip_chars()
    if ts_format:
        return text.str.to_datetime(ts_format, time_unit="us", strict=False)
    return text.str.to_datetime(time_unit="us", time_zone="UTC", strict=False) \
        .dt.replace_time_zone(None)


def _check_timestamps(lf: pl.LazyFrame, source: str, parsed: pl.Expr, path: Path) -> None:
    bad = lf.select(pl.col(source), parsed.alias("_ts")) \
        .filter(pl.col(source).is_not_null() & pl.col("_ts").is_null())
    counts = bad.select(pl.len(), pl.col(source).first()).collect()
    if counts.item(0, 0):
        raise InputError(
            f"{path.name}: {counts.item(0, 0):,} value(s) of column {source!r} are not "
            f"timestamps (first: {counts.item(0, 1)!r}); pass --ts-format, e.g. "
            "--ts-format '%d/%m/%Y %H:%M:%S'")


def _minor_units_per_unit(currency_column: str | None) -> pl.Expr:
    """10 ** the minor-unit exponent of each row's currency (100 for an unknown one)."""
    if currency_column is None:
        return pl.lit(100)
    from babel.numbers import list_currencies

    from storefront_api.money import minor_unit_exponent
    factors = {code: 10 ** minor_unit_exponent(code) for code in list_currencies()}
    return (pl.col(currency_column).cast(pl.Utf8).str.to_uppercase()
            .replace_strict(factors, default=100, return_dtype=pl.Int64))


def import_events(path: str | Path, mapping: dict[str, str], *, ts_format: str | None = None,
                  rename: dict[str, str] | None = None) -> pl.LazyFrame:
    """Events in EVENT_SCHEMA from an outside log; raises InputError for missing columns or
    timestamps that do not parse (nothing is written then)."""
    path = Path(path)
    lf = _scan(path)
    schema = lf.collect_schema()
    _check_mapping(mapping, list(schema), path)
    sample = lf.select(pl.col(mapping["ts"])).head(10_000).collect().to_series() \
        if schema[mapping["ts"]].is_numeric() else None
    ts = _timestamps(mapping["ts"], schema[mapping["ts"]], ts_format, sample)
    _check_timestamps(lf, mapping["ts"], ts, path)
    columns = [ts.alias("ts")] + [pl.col(s).alias(t) for t, s in mapping.items() if t != "ts"]
    if "value" in mapping and schema[mapping["value"]].is_float():
        # a decimal amount (12.34) is in major units: the schema keeps minor units, as many
        # as the row's currency has (storefront_api.money; cents without a currency column)
        columns = [c for c in columns if c.meta.output_name() != "value"] + [
            (pl.col(mapping["value"]) * _minor_units_per_unit(mapping.get("currency")))
            .round(0).cast(pl.Int64).alias("value")]
    rest = [c for c in schema if c not in mapping.values()]
    if "properties" not in mapping and rest:
        columns.append(pl.struct(rest).struct.json_encode().alias("properties"))
    out = lf.select(columns).with_columns(pl.col("name").cast(pl.Utf8))
    if rename:
        out = out.with_columns(pl.col("name").replace(rename))
    return conform(out)


def _summary(events: pl.DataFrame, output: Path, source: Path) -> dict:
    names = events.group_by("name").len().sort("len", descending=True)
    return {
        "file": str(source), "output": str(output), "events": events.height,
        "users": events["user_id"].n_unique(), "from": events["ts"].min(),
        "to": events["ts"].max(), "event_names": dict(names.iter_rows()),
        "next": f"python -m analytics funnel --events {output} --steps ...",
    }


def _rename_from_args(args) -> dict[str, str]:
    rename = dict(PRESETS.get(args.preset or "", {}))
    for pair in [p for p in (args.rename or "").split(",") if p.strip()]:
        old, eq, new = pair.partition("=")
        if not eq:
            raise InputError(f"--rename {pair!r}: write it as OLD=NEW")
        rename[old.strip()] = new.strip()
    return rename


def _run(args) -> dict:
    source = Path(args.file)
    events = import_events(source, parse_mapping(args.map), ts_format=args.ts_format,
                           rename=_rename_from_args(args)).collect()
    output = Path(args.output or Path("var") / "imports" / f"{source.stem}.parquet")
    output.parent.mkdir(parents=True, exist_ok=True)
    events.write_parquet(output)
    print(f"imported {events.height:,} events into {output}", file=sys.stderr)
    return _summary(events, output, source)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "import-events", help="turn an outside CSV/Parquet event log into Aisle's schema",
        description="Example (GA4 BigQuery export as CSV): import-events ga4.csv --map "
                    "ts=event_timestamp,name=event_name,user_id=user_pseudo_id")
    parser.add_argument("file", metavar="FILE")
    parser.add_argument("--map", required=True, metavar="column=source,...")
    parser.add_argument("--ts-format", metavar="STRFTIME",
                        help="format of text timestamps when they are not ISO 8601")
    parser.add_argument("--preset", choices=sorted(PRESETS),
                        help="rename event names of a known tracking plan to GA4 names")
    parser.add_argument("--rename", metavar="OLD=NEW,...", help="rename event names")
    parser.add_argument("--output", metavar="FILE.parquet",
                        help="where to write (default var/imports/<name>.parquet)")
    parser.set_defaults(handler=_run)
