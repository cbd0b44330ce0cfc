"""Loading only what is needed (issue 18): the columnar PostgreSQL reader, date range and
channels pushed into SQL, only the columns asked for, give the same events as the
row-by-row reader on the same data (SQLite and PostgreSQL); the dashboard's cache refreshes
with only the new events."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import polars as pl
import pytest

from analytics.event_cache import LIGHT_COLUMNS, EventCache
from analytics.loaders import event_bounds, load_events, load_events_by_rows
from analytics.schema import EVENT_SCHEMA, InputError
from analytics.synthesize import append_to_database
from storefront_api.db import Database
from storefront_api.events.service import EventContext, event_row, record_rows

START = datetime(2026, 9, 1)


@pytest.fixture
def shop_events(empty_url):
    """A migrated shop with 4,000 synthetic events over 40 days and two of the shop's own
    (one with properties that are not a string: a number and a nested object)."""
    asyncio.run(_record(empty_url, "add_to_cart", START + timedelta(days=3),
                        {"item_category": "Shoes", "quantity": 2, "email": "a@example.com"}))
    asyncio.run(_record(empty_url, "view_item", START + timedelta(days=4),
                        {"category": 7, "nested": {"a": [1, 2]}}))
    append_to_database(empty_url, 4_000, seed=5, start=START, days=40)
    return empty_url


async def _record(url: str, name: str, when: datetime | None, properties: dict,
                  channel: str | None = None) -> None:
    db = Database(url)
    try:
        async with db.write() as session:
            ctx = EventContext(session_id=f"s-{name}", customer_id="42", consent=True,
                               channel=channel)
            row = event_row(name, ctx, cart_id="9", item_id="SKU-1", value=4999,
                            currency="EUR", properties=properties)
            if when is not None:
                row["ts"] = when
            await record_rows(session, [row])
    finally:
        await db.dispose()


def _by_id(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("event_id")


def test_every_column_reads_the_same_as_row_by_row(shop_events):
    old = load_events_by_rows(shop_events).collect()
    new = load_events(shop_events).collect()
    assert old.height == 4_002 and new.schema == old.schema == pl.Schema(EVENT_SCHEMA)
    assert _by_id(new).equals(_by_id(old))
    shoes = new.filter(pl.col("item_id") == "SKU-1", pl.col("name") == "add_to_cart")
    assert shoes.select("category", "email", "user_id").row(0) == ("Shoes", "a@example.com",
                                                                   "42")


@pytest.mark.parametrize("channels", [None, ["site"], ["web", "whatsapp"]])
def test_range_channels_and_columns_pushed_down_give_the_same_rows(shop_events, channels):
    start, end = START + timedelta(days=10), START + timedelta(days=25)
    old = load_events_by_rows(shop_events).collect()
    expected = old.filter(pl.col("ts") >= start, pl.col("ts") < end)
    if channels:
        expected = expected.filter(pl.col("channel").is_in(channels))
    columns = ["event_id", "ts", "name", "user_id", "channel", "value", "category", "email"]
    new = load_events(shop_events, start=start, end=end, channels=channels,
                      columns=columns).collect()
    assert new.columns == columns and new.height > 0
    assert _by_id(new).equals(_by_id(expected.select(columns)))
    if channels:
        assert set(new["channel"].unique()) <= set(channels)


def test_without_properties_asked_the_json_is_not_read(shop_events):
    light = load_events(shop_events, columns=LIGHT_COLUMNS).collect()
    assert "properties" not in light.columns
    full = load_events(shop_events).collect()
    assert _by_id(light).equals(_by_id(full.select(LIGHT_COLUMNS)))


def test_the_shops_own_channel_name_site_matches_events_without_a_channel(shop_events):
    # the shop's pages record no channel; analytics calls them "site", in SQL as in polars
    site = load_events(shop_events, channels=["site"], columns=["event_id"]).collect()
    assert "s-add_to_cart" in set(load_events(shop_events, channels=["site"],
                                              columns=["session_id"]).collect()["session_id"])
    assert site.height == load_events_by_rows(shop_events).filter(
        pl.col("channel") == "site").collect().height


def test_unknown_column_is_refused_and_bad_url_says_so(shop_events):
    with pytest.raises(InputError, match="no column nope"):
        load_events(shop_events, columns=["ts", "nope"])
    wrong = shop_events.rsplit("/", 1)[0] + "/no_such_database_here"
    if wrong.startswith("postgresql"):
        with pytest.raises(InputError, match="could not read"):
            load_events(wrong, columns=["ts"])


def test_empty_window_has_the_schema(shop_events):
    none = load_events(shop_events, start=datetime(2030, 1, 1), columns=LIGHT_COLUMNS).collect()
    assert none.height == 0 and none.schema == pl.Schema({c: EVENT_SCHEMA[c]
                                                           for c in LIGHT_COLUMNS})


def test_bounds(shop_events):
    first, last = event_bounds(shop_events)
    ts = load_events_by_rows(shop_events).select("ts").collect()["ts"]
    assert (first, last) == (ts.min(), ts.max())


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_cache_refreshes_with_only_the_new_events(shop_events):
    clock = FakeClock()
    cache = EventCache(shop_events, columns=LIGHT_COLUMNS, ttl=30, clock=clock)
    window = START + timedelta(days=20)
    first = cache.events(window)
    assert cache.reads == [{"start": window, "rows": first.height}]
    read_at = cache.read_at
    # a new event, recorded now by the shop (later than every synthetic one)
    asyncio.run(_record(shop_events, "purchase", None, {"n": 1}, channel="web"))
    clock.now = 10
    assert cache.events(window).height == first.height  # within the ttl: no read
    assert len(cache.reads) == 1
    clock.now = 31
    refreshed = cache.events(window)
    assert len(cache.reads) == 2 and cache.reads[1]["rows"] < 20  # only the tail was read
    assert refreshed.height == first.height + 1 and cache.read_at >= read_at
    expected = load_events(shop_events, start=window, columns=LIGHT_COLUMNS).collect()
    assert _by_id(refreshed).equals(_by_id(expected))
    # an earlier day extends the window backwards, reading only the missing days
    earlier = START + timedelta(days=5)
    extended = cache.events(earlier)
    assert cache.reads[2]["start"] == earlier and cache.reads[2]["end"] == window
    assert _by_id(extended).equals(_by_id(
        load_events(shop_events, start=earlier, columns=LIGHT_COLUMNS).collect()))
    # a second refresh with nothing new adds nothing, twice over
    clock.now = 62
    assert cache.events(earlier).height == extended.height


def test_a_channel_name_is_data_never_sql(shop_events):
    # PostgreSQL's query carries the names as literals (COPY takes no parameters)
    for odd in ["it's", "web' OR '1'='1", "back\\slash", "{0}"]:
        assert load_events(shop_events, channels=[odd], columns=["event_id"]).collect() \
            .height == 0
    assert load_events(shop_events, channels=["web", "x'y"], columns=["event_id"]).collect() \
        .height == load_events(shop_events, channels=["web"], columns=["event_id"]) \
        .collect().height > 0
    nul = ["a\x00b"]
    if shop_events.startswith("postgresql"):  # a PostgreSQL text cannot hold a NUL
        with pytest.raises(InputError, match="NUL"):
            load_events(shop_events, channels=nul, columns=["ts"])
    else:
        assert load_events(shop_events, channels=nul, columns=["ts"]).collect().height == 0


def test_a_funnel_reads_the_properties_only_when_a_step_filters_on_one():
    from analytics.funnel import Funnel, Step, needed_columns
    plain = Funnel([Step("view_item"), Step("purchase")], breakdown="chat")
    assert needed_columns(plain) == ["ts", "name", "conversation_id", "user_id"]
    assert "properties" not in needed_columns(Funnel([Step("view_item",
                                                           {"channel": "web"})]))
    filtered = Funnel([Step("view_item"), Step("add_to_cart", {"size": "M"})],
                      unit="session", breakdown="category")
    assert needed_columns(filtered) == ["ts", "name", "session_id", "properties", "category"]


def test_the_funnel_command_gives_the_same_table_from_fewer_columns(shop_events):
    from analytics.cli import main
    import contextlib
    import io
    import json as _json
    from analytics.funnel import Funnel, Step, compute_funnel
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["funnel", "--events", shop_events, "--steps",
                     "view_item,add_to_cart,purchase", "--where", "add_to_cart:item_category=Jeans",
                     "--breakdown", "device"]) == 0
    funnel = Funnel([Step("view_item"), Step("add_to_cart", {"item_category": "Jeans"}),
                     Step("purchase")], breakdown="device")
    expected = compute_funnel(load_events_by_rows(shop_events), funnel)
    assert expected.filter(pl.col("step_index") == 2)["entered"].sum() > 0
    assert _json.loads(out.getvalue()) == _json.loads(_json.dumps(expected.to_dicts()))
