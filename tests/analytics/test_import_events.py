"""import_events: outside logs (GA4 export, Segment dump) into the event schema."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from analytics.funnel import Funnel, Step, compute_funnel
from analytics.imports import SEGMENT_NAMES, import_events, parse_mapping
from analytics.schema import EVENT_SCHEMA, InputError

GA4_MAP = parse_mapping("ts=event_timestamp,name=event_name,user_id=user_pseudo_id,"
                        "device=device_category,source=traffic_source_source")


def _ga4(tmp_path, suffix=".csv"):
    # BigQuery's GA4 export flattened: microsecond epoch timestamps
    frame = pl.DataFrame({
        "event_timestamp": [1788000000000000, 1788000060000000, 1788000120000000,
                            1788000000000000],
        "event_name": ["view_item", "add_to_cart", "purchase", "view_item"],
        "user_pseudo_id": ["111.222", "111.222", "111.222", "333.444"],
        "device_category": ["mobile", "mobile", "mobile", "desktop"],
        "traffic_source_source": ["google", "google", "google", "(direct)"],
        "ecommerce_purchase_revenue": [None, None, 59.9, None],
    })
    path = tmp_path / f"ga4{suffix}"
    frame.write_csv(path) if suffix == ".csv" else frame.write_parquet(path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_ga4_export(tmp_path, suffix):
    events = import_events(_ga4(tmp_path, suffix), {**GA4_MAP,
                                                   "value": "ecommerce_purchase_revenue"})
    frame = events.collect()
    assert frame.schema == pl.Schema(EVENT_SCHEMA)
    assert frame["ts"][0] == datetime(2026, 8, 29, 10, 40)
    assert frame["value"].to_list() == [None, None, 5990, None]  # decimal -> minor units
    funnel = compute_funnel(events, Funnel([Step("view_item"), Step("purchase")]))
    assert funnel["entered"].to_list() == [2, 1]


def test_decimal_amounts_become_the_minor_units_of_their_currency(tmp_path):
    """59.9 USD is 5990 cents, 5990 JPY is 5990 yen, 5.125 KWD is 5125 fils."""
    path = tmp_path / "orders.csv"
    pl.DataFrame({"ts": ["2026-08-29 10:40:00"] * 4, "event": ["purchase"] * 4,
                  "who": ["a", "b", "c", "d"], "revenue": [59.9, 5990.0, 5.125, 12.5],
                  "cur": ["USD", "jpy", "KWD", "XXX"]}).write_csv(path)
    frame = import_events(path, parse_mapping(
        "ts=ts,name=event,user_id=who,value=revenue,currency=cur")).collect()
    assert frame["value"].to_list() == [5990, 5990, 5125, 1250]  # unknown: cents


def test_segment_dump_with_renamed_events_and_unmapped_columns_in_properties(tmp_path):
    path = tmp_path / "tracks.csv"
    pl.DataFrame({"timestamp": ["2026-09-01T10:00:00.000Z", "2026-09-01T10:02:00.000Z"],
                  "event": ["Product Viewed", "Product Added"],
                  "anonymous_id": ["anon-1", "anon-1"],
                  "category": ["Shoes", "Shoes"]}).write_csv(path)
    events = import_events(path, parse_mapping("ts=timestamp,name=event,session_id="
                                               "anonymous_id"), rename=SEGMENT_NAMES)
    frame = events.collect()
    assert frame["name"].to_list() == ["view_item", "add_to_cart"]
    assert frame["category"].to_list() == ["Shoes", "Shoes"]  # from properties
    assert frame["user_id"].to_list() == ["anon-1", "anon-1"]


def test_missing_columns_are_named_with_what_the_file_has(tmp_path):
    with pytest.raises(InputError, match=r"no column 'client_id'.*event_timestamp"):
        import_events(_ga4(tmp_path), {**GA4_MAP, "user_id": "client_id"})


def test_mapping_must_name_time_name_and_who(tmp_path):
    with pytest.raises(InputError, match="ts"):
        import_events(_ga4(tmp_path), {"name": "event_name", "user_id": "user_pseudo_id"})
    with pytest.raises(InputError, match="who"):
        import_events(_ga4(tmp_path), {"name": "event_name", "ts": "event_timestamp"})
    with pytest.raises(InputError, match="not an event column"):
        import_events(_ga4(tmp_path), {**GA4_MAP, "colour": "event_name"})


def test_unparseable_timestamps_are_counted_and_shown(tmp_path):
    path = tmp_path / "log.csv"
    pl.DataFrame({"when": ["2026-09-01 10:00:00", "yesterday", "31/12/2026 10:00"],
                  "what": ["view_item"] * 3, "who": ["a"] * 3}).write_csv(path)
    with pytest.raises(InputError, match=r"2 value\(s\).*'yesterday'.*--ts-format"):
        import_events(path, parse_mapping("ts=when,name=what,user_id=who"))


def test_explicit_timestamp_format(tmp_path):
    path = tmp_path / "log.csv"
    pl.DataFrame({"when": ["31/12/2026 10:00:05"], "what": ["view_item"],
                  "who": ["a"]}).write_csv(path)
    frame = import_events(path, parse_mapping("ts=when,name=what,user_id=who"),
                          ts_format="%d/%m/%Y %H:%M:%S").collect()
    assert frame["ts"][0] == datetime(2026, 12, 31, 10, 0, 5)


@pytest.mark.parametrize("bad", ["user_id", "=x", "ts=,name=n"])
def test_bad_map_syntax(bad):
    with pytest.raises(InputError, match="column=source_column"):
        parse_mapping(bad)
