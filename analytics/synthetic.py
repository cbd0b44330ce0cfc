"""Synthetic shop traffic: deterministic by seed, vectorised, fast enough for 100M events.

A *journey* is one visit of one shopper (its ``session_id``); chat journeys also carry a
``conversation_id``. Each journey walks a fixed template of steps (chat start, search, item
views, cart, handoff, checkout, payment link, purchase, return, refund) and every step
happens with a probability that depends on the journey (chat or not, source, device), so
abandonment happens where it does in real shops. Some payment links are paid hours or days
later (recovered carts); returns and refunds follow purchases by days.

The whole journey matrix is built with numpy per chunk of journeys, never one event at a
time, so 10M events take seconds, and ``write_parquet`` streams chunks to disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
from storefront_api.progress import count

from .schema import EVENT_SCHEMA, SITE_CHANNEL, conform

DEFAULT_START = datetime(2026, 9, 1)
JOURNEYS_PER_CHUNK = 250_000  # about 1M events per chunk
CHAT_CHANNELS = ["web", "whatsapp", "telegram", "messenger", "slack"]
CHAT_CHANNEL_WEIGHTS = [0.45, 0.25, 0.12, 0.12, 0.06]
SOURCES = ["direct", "google", "instagram", "facebook", "email", "tiktok", "referral"]
SOURCE_WEIGHTS = [0.28, 0.30, 0.14, 0.10, 0.08, 0.06, 0.04]
DEVICES = ["mobile", "desktop", "tablet"]
DEVICE_WEIGHTS = [0.62, 0.31, 0.07]
CATEGORIES = ["Shoes", "Dresses", "Tops", "Jeans", "Jackets", "Knitwear", "Bags",
              "Accessories", "Sportswear", "Swimwear"]
HANDOFF_REASONS = ["asked_for_human", "payment_problem", "sizing_question", "complaint",
                   "bot_did_not_understand"]
N_ITEMS = 2_000
MAX_VIEWS, MAX_CART = 6, 3

# The journey template, in the order the steps happen.
SLOTS = (["chat_started", "view_item_list"] + ["view_item"] * MAX_VIEWS
         + ["add_to_cart"] * MAX_CART
         + ["remove_from_cart", "view_cart", "handoff_requested", "handoff_resolved",
            "begin_checkout", "add_shipping_info", "add_payment_info", "purchase",
            "return_requested", "refund"])
SLOT = {name: SLOTS.index(name) for name in SLOTS}  # first slot of each name
VIEW0, CART0 = SLOT["view_item"], SLOT["add_to_cart"]
CART_VALUE_SLOTS = [SLOT[n] for n in ("view_cart", "begin_checkout", "add_shipping_info",
                                      "add_payment_info", "purchase", "return_requested",
                                      "refund")]
EVENTS_PER_JOURNEY = 4.3  # measured average, to size the user pool


class _Catalog:
    def __init__(self, rng: np.random.Generator):
        self.category = rng.integers(0, len(CATEGORIES), N_ITEMS)
        base = np.array([8900, 6900, 2900, 5900, 11900, 6900, 7900, 2500, 4900, 3900])
        self.price = (base[self.category] * rng.lognormal(0, 0.35, N_ITEMS)).astype(np.int64)
        self.price = self.price // 100 * 100 + 99  # shelf prices end in .99
        popularity = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.9
        self.popularity = popularity / popularity.sum()


def _pick(rng, n, weights):
    return rng.choice(len(weights), n, p=np.asarray(weights) / np.sum(weights))


def _journey_attributes(rng, n, n_users, days, start):
    chat = rng.random(n) < 0.32
    user = np.minimum((n_users * rng.random(n) ** 1.6).astype(np.int64), n_users - 1)
    # traffic grows over the period, dips at the weekend and peaks in the evening
    day_weights = np.linspace(1.0, 1.4, days) * np.where(
        (np.arange(days) + start.weekday()) % 7 >= 5, 0.8, 1.0)
    day = _pick(rng, n, day_weights)
    hour = _pick(rng, n, [1, 1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 7, 7, 6, 6, 6, 6, 7, 8, 9, 10, 9,
                          6, 3])
    start_us = (np.datetime64(start, "us").astype(np.int64)
                + (day * 86_400 + hour * 3_600) * 1_000_000
                + rng.integers(0, 3_600_000_000, n))
    return {
        "chat": chat, "user": user, "start_us": start_us,
        "channel": np.where(chat, _pick(rng, n, CHAT_CHANNEL_WEIGHTS), -1),
        "source": _pick(rng, n, SOURCE_WEIGHTS), "device": _pick(rng, n, DEVICE_WEIGHTS),
        "known": (user % 100) < 45,  # signed-in customers who consented
    }


def _journey_steps(rng, j) -> np.ndarray:
    """A (journeys x slots) mask of the steps each journey takes."""
    n, chat = len(j["chat"]), j["chat"]
    u = lambda: rng.random(n)  # noqa: E731 - one fresh uniform per decision
    mask = np.zeros((n, len(SLOTS)), dtype=bool)
    mask[:, SLOT["chat_started"]] = chat
    mask[:, SLOT["view_item_list"]] = u() < np.where(chat, 0.85, 0.55)
    views = np.minimum(1 + rng.geometric(0.42, n) - 1, MAX_VIEWS)
    mask[:, VIEW0:VIEW0 + MAX_VIEWS] = np.arange(MAX_VIEWS) < views[:, None]
    p_cart = (0.24 + 0.10 * chat + 0.08 * (j["source"] == SOURCES.index("email"))
              - 0.04 * (j["device"] == DEVICES.index("mobile")))
    carted = u() < p_cart
    in_cart = np.minimum(1 + (u() < 0.3) + (u() < 0.1), views) * carted
    mask[:, CART0:CART0 + MAX_CART] = np.arange(MAX_CART) < in_cart[:, None]
    mask[:, SLOT["remove_from_cart"]] = carted & (u() < np.where(in_cart > 1, 0.25, 0.06))
    mask[:, SLOT["view_cart"]] = carted & (u() < 0.7)
    handoff = chat & (u() < 0.12)
    mask[:, SLOT["handoff_requested"]] = handoff
    mask[:, SLOT["handoff_resolved"]] = handoff & (u() < 0.8)
    checkout = carted & (u() < np.where(chat, 0.66, 0.55))
    shipping = checkout & (u() < 0.88)
    payment = shipping & (u() < 0.85)
    paid_now = payment & (u() < np.where(chat, 0.8, 0.72))
    paid_later = payment & ~paid_now & (u() < 0.3)  # came back to the payment link
    mask[:, SLOT["begin_checkout"]] = checkout
    mask[:, SLOT["add_shipping_info"]] = shipping
    mask[:, SLOT["add_payment_info"]] = payment
    mask[:, SLOT["purchase"]] = paid_now | paid_later
    returned = mask[:, SLOT["purchase"]] & (u() < 0.07)
    mask[:, SLOT["return_requested"]] = returned
    mask[:, SLOT["refund"]] = returned & (u() < 0.7)
    return mask, paid_later


def _gaps(rng, n, chat, paid_later) -> np.ndarray:
    """Seconds between a journey's consecutive steps (only taken steps count)."""
    mean = np.array([0, 20] + [45] * MAX_VIEWS + [30] * MAX_CART
                    + [20, 15, 60, 600, 40, 50, 60, 90, 0, 0], dtype=np.float64)
    gaps = rng.exponential(1.0, (n, len(SLOTS))) * mean
    gaps[:, SLOT["purchase"]] += np.where(chat, 200, 0)  # paying a link takes a while
    gaps[:, SLOT["purchase"]] += paid_later * rng.uniform(2 * 3600, 72 * 3600, n)
    gaps[:, SLOT["return_requested"]] = rng.uniform(3, 20, n) * 86_400
    gaps[:, SLOT["refund"]] = rng.uniform(2, 10, n) * 86_400
    return gaps + 1  # at least a second apart


def _journey_values(rng, catalog, n, mask):
    items = rng.choice(N_ITEMS, (n, MAX_VIEWS), p=catalog.popularity)
    item = np.full((n, len(SLOTS)), -1, dtype=np.int64)
    item[:, VIEW0:VIEW0 + MAX_VIEWS] = items
    item[:, CART0:CART0 + MAX_CART] = items[:, :MAX_CART]  # people add what they viewed
    item[:, SLOT["remove_from_cart"]] = items[:, 0]
    price = np.where(item >= 0, catalog.price[np.maximum(item, 0)], 0)
    cart_value = (price[:, CART0:CART0 + MAX_CART] * mask[:, CART0:CART0 + MAX_CART]).sum(1)
    value = np.where(item >= 0, price, -1)
    value[:, CART_VALUE_SLOTS] = cart_value[:, None]
    for slot in (SLOT["chat_started"], SLOT["view_item_list"], SLOT["handoff_requested"],
                 SLOT["handoff_resolved"]):
        value[:, slot] = -1
    return item, value


def _chunk(seed: int, index: int, journeys: int, n_users: int, days: int,
           start: datetime, catalog: _Catalog, limit: int, currency: str) -> pl.DataFrame:
    rng = np.random.default_rng([seed, index])
    j = _journey_attributes(rng, journeys, n_users, days, start)
    mask, paid_later = _journey_steps(rng, j)
    gaps = _gaps(rng, journeys, j["chat"], paid_later)
    offsets = np.cumsum(gaps * mask, axis=1)
    offsets -= offsets[np.arange(journeys), mask.argmax(1)][:, None]  # first step at start
    item, value = _journey_values(rng, catalog, journeys, mask)
    row, slot = np.nonzero(mask)
    ts = j["start_us"][row] + (offsets[row, slot] * 1e6).astype(np.int64)
    frame = pl.DataFrame({
        "journey": row.astype(np.int64) + index * JOURNEYS_PER_CHUNK,
        "slot": slot.astype(np.int16), "ts": ts, "user": j["user"][row],
        "known": j["known"][row], "chat": j["chat"][row], "channel": j["channel"][row],
        "source": j["source"][row], "device": j["device"][row],
        "item": item[row, slot], "value": value[row, slot],
        "reason": rng.integers(0, len(HANDOFF_REASONS), len(row)),
    })
    # rows are in journey order here: a cut keeps whole journeys over the whole period
    frame = frame.head(limit)
    return _to_events(frame, seed, catalog, currency)


def _label(codes: str, names: list[str]) -> pl.Expr:
    return pl.col(codes).replace_strict(list(range(len(names))), names, default=None)


def _json(key: str, value: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit(f'{{"{key}":"'), value, pl.lit('"}')])


def _to_events(f: pl.DataFrame, seed: int, catalog: _Catalog, currency: str) -> pl.DataFrame:
    name = _label("slot", SLOTS)
    journey = pl.col("journey").cast(pl.Utf8)
    category = pl.col("item").replace_strict(list(range(N_ITEMS)),
                                             [CATEGORIES[c] for c in catalog.category],
                                             default=None)
    email = pl.when(pl.col("known")).then(pl.format("shopper{}@example.com", pl.col("user")))
    item_named = name.is_in(["view_item", "add_to_cart", "remove_from_cart"])
    contact = name.is_in(["begin_checkout", "add_payment_info", "purchase"])
    properties = (
        pl.when(item_named).then(_json("item_category", category))
        .when(name == "handoff_requested")
        .then(_json("reason", _label("reason", HANDOFF_REASONS)))
        .when(contact & pl.col("known")).then(_json("email", email))
        .otherwise(pl.lit("{}")))
    carted = name.is_in(SLOTS[CART0:SLOT["purchase"] + 1] + ["return_requested", "refund"])
    ordered = name.is_in(["purchase", "return_requested", "refund"])
    events = f.sort("ts").select(
        pl.format("syn{}-{}-{}", pl.lit(seed), pl.col("journey"), pl.col("slot"))
        .alias("event_id"),
        pl.col("ts").cast(pl.Datetime("us")),
        name.alias("name"),
        pl.format("s{}-{}", pl.lit(seed), journey).alias("session_id"),
        pl.when(pl.col("known")).then(pl.format("c{}", pl.col("user"))).alias("customer_id"),
        pl.when(carted & ~name.is_in(["view_item", "view_item_list"]))
        .then(pl.format("cart-{}-{}", pl.lit(seed), journey)).alias("cart_id"),
        pl.when(ordered).then(pl.format("SY{}-{}", pl.lit(seed), journey))
        .alias("order_number"),
        pl.when(pl.col("chat")).then(pl.format("conv-{}-{}", pl.lit(seed), journey))
        .alias("conversation_id"),
        pl.when(pl.col("chat")).then(_label("channel", CHAT_CHANNELS))
        .otherwise(pl.lit(SITE_CHANNEL)).alias("channel"),
        _label("source", SOURCES).alias("source"),
        _label("device", DEVICES).alias("device"),
        pl.when(pl.col("item") >= 0).then(pl.format("P{}", pl.col("item"))).alias("item_id"),
        pl.when(pl.col("value") >= 0).then(pl.col("value")).alias("value"),
        pl.when(pl.col("value") >= 0).then(pl.lit(currency)).alias("currency"),
        pl.col("known").alias("consent"),
        properties.alias("properties"),
        pl.coalesce(pl.when(pl.col("known")).then(pl.format("c{}", pl.col("user"))),
                    pl.format("s{}-{}", pl.lit(seed), journey)).alias("user_id"),
        pl.when(item_named).then(category).alias("category"),
        pl.when(contact).then(email).alias("email"),
    )
    return events.cast(EVENT_SCHEMA)


def iter_chunks(n_events: int, *, seed: int = 0, start: datetime = DEFAULT_START,
                days: int = 90, currency: str = "EUR",
                until: datetime | None = None) -> Iterator[pl.DataFrame]:
    """Chunks of events (EVENT_SCHEMA), about ``n_events`` in all, each sorted by time, with
    values in ``currency``. With ``until`` (the demo's "now"), nothing after it: a refund
    or a late payment due later has simply not happened yet."""
    if n_events < 0 or days < 1:
        raise ValueError("n_events must be >= 0 and days >= 1")
    if until is not None and until <= start:
        raise ValueError("until must come after start")
    catalog = _Catalog(np.random.default_rng([seed, 2**31]))
    n_users = max(1, int(n_events / EVENTS_PER_JOURNEY / 2.2))
    produced, index = 0, 0
    while produced < n_events:
        wanted = n_events - produced
        journeys = min(JOURNEYS_PER_CHUNK, int(wanted / EVENTS_PER_JOURNEY * 1.2) + 10)
        chunk = _chunk(seed, index, journeys, n_users, days, start, catalog, wanted, currency)
        if until is not None:
            chunk = chunk.filter(pl.col("ts") <= until)
        produced += chunk.height
        index += 1
        yield chunk


def generate(n_events: int, *, seed: int = 0, start: datetime = DEFAULT_START,
             days: int = 90) -> pl.DataFrame:
    """``n_events`` synthetic events in EVENT_SCHEMA, sorted by time within each chunk of
    up to 250,000 journeys (the same seed and size always give the same events)."""
    chunks = list(iter_chunks(n_events, seed=seed, start=start, days=days))
    if not chunks:
        return conform(pl.LazyFrame(schema=EVENT_SCHEMA)).collect()
    return pl.concat(chunks)


def write_parquet(path: str | Path, n_events: int, *, seed: int = 0,
                  start: datetime = DEFAULT_START, days: int = 90, files: int = 1,
                  progress=None) -> list[Path]:
    """Write ``n_events`` synthetic events to ``path`` (one file), or, with ``files > 1``, to
    ``path/part-0000.parquet``...; chunk by chunk, so memory stays flat. Returns the files."""
    import pyarrow.parquet as pq
    path = Path(path)
    per_file = -(-n_events // files)
    targets = [path] if files == 1 else [path / f"part-{i:04d}.parquet" for i in range(files)]
    targets[0].parent.mkdir(parents=True, exist_ok=True)
    done, writer, current = 0, None, -1
    try:
        for chunk in iter_chunks(n_events, seed=seed, start=start, days=days):
            while chunk.height:
                file_index = min(done // per_file, files - 1)
                if file_index != current:
                    if writer:
                        writer.close()
                    table = chunk.head(0).to_arrow()
                    writer = pq.ParquetWriter(targets[file_index], table.schema,
                                              compression="zstd")
                    current = file_index
                room = per_file * (file_index + 1) - done if file_index < files - 1 \
                    else chunk.height
                part, chunk = chunk.head(room), chunk.slice(room)
                writer.write_table(part.to_arrow(), row_group_size=256_000)
                done += part.height
            count(progress, "events", done, n_events)
    finally:
        if writer:
            writer.close()
    return targets
