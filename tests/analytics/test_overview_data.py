"""The Overview without loading its events (issue 18): ``OverviewWindow`` gives the same
KPIs and sales per day as the full-load path (every event of the window loaded, then
``overview.kpis`` and ``abandonment.abandoned_carts``), on SQLite, PostgreSQL and Parquet,
for any run of whole days and channels, and after a refresh that brings new events."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import polars as pl
import pytest
from databases import create_postgres_database, drop_postgres_database

from analytics.abandonment import abandoned_carts
from analytics.chat import conversation_count
from analytics.event_cache import LIGHT_COLUMNS
from analytics.filters import apply_filters
from analytics.loaders import load_events
from analytics.overview import daily_sales, kpis, main_currency
from analytics import overview_data
from analytics.overview_data import OverviewWindow, period_kpis
from analytics.synthesize import append_to_database
from storefront_api.db import Database
from storefront_api.events.service import EventContext, event_row, record_rows
from storefront_api.migrations import upgrade

START = datetime(2026, 9, 1)
DAY = timedelta(days=1)


async def _record(url: str, rows: list[dict]) -> None:
    db = Database(url)
    try:
        async with db.write() as session:
            await record_rows(session, rows)
    finally:
        await db.dispose()


def _row(name: str, when: datetime, *, session: str, channel: str | None = None,
         cart: str | None = None, order: str | None = None, value: int | None = None,
         currency: str | None = None, conversation: str | None = None) -> dict:
    ctx = EventContext(session_id=session, channel=channel, conversation_id=conversation)
    row = event_row(name, ctx, cart_id=cart, order_number=order, value=value,
                    currency=currency)
    row["ts"] = when
    return row


# Hand-made events the synthetic traffic lacks: a purchase without an order number (each
# counts as an order), an order recorded twice (counted once, its first value), a purchase
# in another currency (the synthetic shop's is USD), a cart bought exactly an hour after
# its last step (abandoned), a lone GBP cart on a day without purchases (the main currency
# then comes from the events).
EXTRA = [
    _row("add_to_cart", START + timedelta(days=35, hours=9), session="x1", cart="xc1",
         value=1000, currency="USD"),
    _row("purchase", START + timedelta(days=35, hours=10), session="x1", cart="xc1",
         value=1000, currency="USD"),
    _row("purchase", START + timedelta(days=36), session="x2", order="X-2", value=500,
         currency="USD", channel="whatsapp", conversation="xconv"),
    _row("purchase", START + timedelta(days=36, seconds=5), session="x2", order="X-2",
         value=700, currency="USD", channel="whatsapp", conversation="xconv"),
    _row("purchase", START + timedelta(days=37), session="x3", order="X-3", value=9000,
         currency="EUR"),
    _row("add_to_cart", START - timedelta(days=20), session="x4", cart="xc4", value=300,
         currency="GBP"),
]


@pytest.fixture
def shop(empty_url):
    append_to_database(empty_url, 6_000, seed=11, start=START, days=45)
    asyncio.run(_record(empty_url, EXTRA))
    return empty_url


@pytest.fixture
def parquet_shop(shop, tmp_path):
    path = tmp_path / "events.parquet"
    load_events(shop).collect().write_parquet(path)
    return str(path)


def _full_load(source: str, start: datetime, end: datetime, channels: list[str],
               tracker: pl.DataFrame | None = None):
    """What the Overview computed before: every event of the window loaded."""
    previous = start - (end - start)
    everything = load_events(source, start=previous, columns=LIGHT_COLUMNS).collect()
    last = everything["ts"].max()
    now_events = apply_filters(everything.lazy(), start=start, end=end, channels=channels)
    currency = main_currency(now_events) or main_currency(everything.lazy())

    def period(a, b):
        events = apply_filters(everything.lazy(), start=a, end=b, channels=channels)
        carts = abandoned_carts(events, now=min(b, last)).height
        return kpis(events, abandoned_carts=carts, currency=currency,
                    conversations=conversation_count(events, tracker))

    return (period(start, end), period(previous, start),
            daily_sales(now_events, currency, start, end))


def _from_window(window: OverviewWindow, start, end, channels, tracker=None):
    previous = start - (end - start)
    currency = window.main_currency(start, end, channels)
    ids = None if tracker is None else tracker["conversation_id"]

    def period(a, b):
        return period_kpis(window.period(a, b, channels), currency=currency,
                           now=min(b, window.last), tracker_ids=ids)

    sales = daily_sales(window.period(start, end, channels).purchases.lazy(), currency,
                        start, end)
    return period(start, end), period(previous, start), sales


PERIODS = [
    (START + timedelta(days=15), START + timedelta(days=45), []),  # 30 days
    (START + timedelta(days=15), START + timedelta(days=45), ["web", "whatsapp"]),
    (START + timedelta(days=30), START + timedelta(days=38), ["site"]),
    (START + timedelta(days=35), START + timedelta(days=37), []),  # the hand-made orders
]


@pytest.mark.parametrize("visits", ["auto", "scan"])
@pytest.mark.parametrize("start,end,channels", PERIODS)
def test_same_kpis_and_daily_sales_as_loading_every_event(shop, start, end, channels, visits,
                                                          monkeypatch):
    """On PostgreSQL ``auto`` reads the daily visits the triggers keep (migration 0012),
    ``scan`` reduces the events themselves; SQLite always scans."""
    monkeypatch.setattr(overview_data, "VISITS", visits)
    window = OverviewWindow(shop, start - (end - start))
    new_now, new_before, new_sales = _from_window(window, start, end, channels)
    old_now, old_before, old_sales = _full_load(shop, start, end, channels)
    assert new_now == old_now and new_before == old_before
    assert new_sales.equals(old_sales)
    assert new_now.sessions > 0 and new_now.orders > 0 and new_now.carts > 0
    postgres = shop.startswith("postgresql")
    assert (window.reads[0]["plan"] == "visits") == (postgres and visits == "auto")
    if not channels:
        assert new_now.abandoned_carts > 0 and new_now.conversations > 0


def test_hand_made_orders_count_as_the_overview_says(shop):
    start, end = START + timedelta(days=35), START + timedelta(days=37)
    window = OverviewWindow(shop, start - (end - start))
    both = _from_window(window, start, end, ["whatsapp"])[0]
    alone = _from_window(OverviewWindow(shop, start - 2 * DAY), start, end, ["whatsapp"])[0]
    assert both == alone
    synthetic = load_events(shop, start=start, end=end, channels=["whatsapp"]).filter(
        pl.col("name") == "purchase", pl.col("session_id") != "x2").collect()
    # X-2 recorded twice counts once, at its first value (500, not 700)
    assert both.orders == synthetic["order_number"].n_unique() + 1
    assert both.revenue == synthetic["value"].sum() + 500


def test_same_numbers_from_parquet(parquet_shop):
    start, end, channels = PERIODS[1]
    window = OverviewWindow(parquet_shop, start - (end - start))
    assert _from_window(window, start, end, channels)[:2] == \
        _full_load(parquet_shop, start, end, channels)[:2]


def test_tracker_conversations_are_counted_once(shop):
    start, end, channels = PERIODS[0]
    in_events = (load_events(shop, start=start, end=end, columns=["conversation_id"])
                 .drop_nulls().unique().collect()["conversation_id"].head(3).to_list())
    tracker = pl.DataFrame({"conversation_id": in_events + ["only-in-rasa-1", "only-in-rasa-2"]})
    window = OverviewWindow(shop, start - (end - start))
    new = _from_window(window, start, end, channels, tracker)[0]
    old = _full_load(shop, start, end, channels, tracker)[0]
    plain = _from_window(window, start, end, channels)[0]
    assert new == old and new.conversations == plain.conversations + 2


def test_a_period_without_purchases_takes_the_currency_of_its_events(shop):
    start, end = START - timedelta(days=20), START - timedelta(days=19)
    window = OverviewWindow(shop, start - DAY)
    new_now, new_before, _ = _from_window(window, start, end, [])
    assert new_now.currency == "GBP" and new_now.carts == 1 and new_now.orders == 0
    assert new_before.sessions == 0 and new_before.abandoned_carts == 0
    assert (new_now, new_before) == _full_load(shop, start, end, [])[:2]


def test_refresh_reads_the_last_day_again_and_sees_new_events(shop):
    clock = [0.0]
    window = OverviewWindow(shop, START, ttl=30, clock=lambda: clock[0])
    last = window.last  # the dashboard's default: the last 30 days with data
    end = datetime.combine(last.date(), datetime.min.time()) + DAY
    start = end - 30 * DAY
    before = _from_window(window, start, end, [])[0]
    asyncio.run(_record(shop, [
        _row("add_to_cart", last + timedelta(minutes=1), session="late", cart="late-cart",
             value=2000, currency="USD"),
        _row("purchase", last + timedelta(minutes=2), session="late", cart="late-cart",
             order="LATE-1", value=2000, currency="USD")]))
    assert _from_window(window, start, end, [])[0] == before  # within the ttl: as held
    clock[0] = 31.0
    after = _from_window(window, start, end, [])[0]
    assert window.reads[-1]["start"] == datetime.combine(last.date(), datetime.min.time())
    assert (after.sessions, after.orders, after.revenue) == (
        before.sessions + 1, before.orders + 1, before.revenue + 2000)
    assert after == _full_load(shop, start, end, [])[0]


def test_periods_are_whole_days_inside_the_window(shop):
    window = OverviewWindow(shop, START + 10 * DAY)
    with pytest.raises(ValueError):
        window.period(START + 10 * DAY + timedelta(hours=1), START + 12 * DAY)
    with pytest.raises(ValueError):
        window.period(START + 9 * DAY, START + 12 * DAY)


def _analyze(url: str) -> None:
    """What autovacuum does on a live shop: the planner's statistics, among them how
    closely the rows' order follows ts."""
    from sqlalchemy import create_engine, text

    from analytics.loaders import sync_url
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE events"))
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=["time", "shuffled"])
def laid_out_shop(request):
    """A PostgreSQL shop whose rows lie in time order (as a live shop appends them, the
    hand-made events written late) or shuffled (the worst case)."""
    url = create_postgres_database()
    upgrade(url)
    append_to_database(url, 6_000, seed=11, start=START, days=45, layout=request.param)
    asyncio.run(_record(url, EXTRA))
    _analyze(url)
    yield url, request.param
    drop_postgres_database(url)


@pytest.mark.parametrize("plan", ["time", "pages"])
def test_each_scan_plan_gives_the_same_numbers_on_each_layout(laid_out_shop, plan,
                                                              monkeypatch):
    """Slices of time or ranges of pages: each row is read once, whatever the layout."""
    url, _ = laid_out_shop
    monkeypatch.setattr(overview_data, "VISITS", "scan")
    monkeypatch.setattr(overview_data, "SCAN_PLAN", plan)
    for start, end, channels in PERIODS:
        window = OverviewWindow(url, start - (end - start))
        new_now, new_before, new_sales = _from_window(window, start, end, channels)
        old_now, old_before, old_sales = _full_load(url, start, end, channels)
        assert window.reads[0]["plan"] == plan
        assert (new_now, new_before) == (old_now, old_before)
        assert new_sales.equals(old_sales) and new_now.sessions > 0


def test_the_scan_follows_the_tables_order(laid_out_shop, monkeypatch):
    """Time order (PostgreSQL's correlation of ts with the rows' places) reads slices of
    time through the index; a shuffled table is read page range by page range."""
    url, layout = laid_out_shop
    monkeypatch.setattr(overview_data, "VISITS", "scan")
    window = OverviewWindow(url, START + 15 * DAY)
    window.channels()
    assert window.reads[0]["plan"] == ("time" if layout == "time" else "pages")


def test_a_window_after_the_last_event_is_empty_with_either_plan(laid_out_shop,
                                                                 monkeypatch):
    url, _ = laid_out_shop
    for visits, plan in (("scan", "time"), ("scan", "pages"), ("table", "time")):
        monkeypatch.setattr(overview_data, "VISITS", visits)
        monkeypatch.setattr(overview_data, "SCAN_PLAN", plan)
        window = OverviewWindow(url, START + 120 * DAY)  # refunds come up to 30 days late
        period = window.period(START + 120 * DAY, START + 121 * DAY)
        assert (period.events, period.sessions, window.channels()) == (0, 0, [])


def test_a_period_asked_again_is_not_worked_out_again_until_the_next_read(shop):
    """The Overview asks for its period for the KPIs and again for the sales per day."""
    clock = [0.0]
    start, end, channels = PERIODS[1]
    window = OverviewWindow(shop, start, ttl=30, clock=lambda: clock[0])
    first = window.period(start, end, channels)
    assert window.period(start, end, list(reversed(channels))) is first
    assert window.period(start, end, []) is not first
    clock[0] = 31.0  # a refresh: the answers are worked out from the new read
    again = window.period(start, end, channels)
    assert again is not first  # no new events: the same numbers
    assert (again.events, again.sessions, again.carts) == (first.events, first.sessions,
                                                           first.carts)
    assert again.purchases.equals(first.purchases)
