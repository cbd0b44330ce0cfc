"""An in-memory, columnar copy of the search projection, one per server process.

Filters, facets and sorting run on these numpy arrays (a few dozen bytes per product), so a
search asks the database only for what only the database knows: which products match the
words. The copy follows the database by version: at most once a second a search checks
``search_state``, and reloads just the rows re-indexed since (all of them after a rebuild).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

CHECK_EVERY = 1.0  # seconds between version checks; the most a search can lag the catalog

_COLUMNS = ("id, category_id, min_price, rating, rating_count, created_at, in_stock, active,"
            " color_mask, size_mask, stock_color_mask, stock_size_mask")


@dataclass
class Snapshot:
    version: int
    text_version: int         # cached text matches are valid while this stays the same
    checked_at: float
    position: np.ndarray      # product id -> row (-1: unknown)
    ids: np.ndarray
    category: np.ndarray      # -1 for none
    min_price: np.ndarray
    rating: np.ndarray
    rating_count: np.ndarray
    created: np.ndarray       # sortable timestamp
    in_stock: np.ndarray
    active: np.ndarray
    color_mask: np.ndarray
    size_mask: np.ndarray
    stock_color_mask: np.ndarray
    stock_size_mask: np.ndarray

    def rows_of(self, product_ids: np.ndarray) -> np.ndarray:
        """Rows of the given product ids that are known and active."""
        product_ids = product_ids[(product_ids >= 0) & (product_ids < len(self.position))]
        rows = self.position[product_ids]
        rows = rows[rows >= 0]
        return rows[self.active[rows]]


def _created_key(value) -> int:
    if value is None:
        return 0
    if isinstance(value, str):  # SQLite returns text through the raw driver
        return int(value[:19].replace("-", "").replace(":", "").replace(" ", "").replace("T", ""))
    return int(value.strftime("%Y%m%d%H%M%S"))


def _arrays(rows: list) -> dict[str, np.ndarray]:
    n = len(rows)
    cols = list(zip(*rows)) if rows else [()] * 12

    def col(i, dtype):
        return np.fromiter((0 if v is None else v for v in cols[i]), dtype=dtype, count=n)

    return {
        "ids": col(0, np.int64),
        "category": np.fromiter((-1 if v is None else v for v in cols[1]), np.int64, count=n),
        "min_price": col(2, np.int64), "rating": col(3, np.float64),
        "rating_count": col(4, np.int64),
        "created": np.fromiter((_created_key(v) for v in cols[5]), np.int64, count=n),
        "in_stock": col(6, np.bool_), "active": col(7, np.bool_),
        "color_mask": col(8, np.int64), "size_mask": col(9, np.int64),
        "stock_color_mask": col(10, np.int64), "stock_size_mask": col(11, np.int64),
    }


async def _state(session: AsyncSession) -> tuple[int, int, int]:
    row = (await session.execute(text(
        "SELECT version, rebuilt_version, text_version FROM search_state WHERE id = 1"))).one()
    return int(row[0]), int(row[1]), int(row[2])


async def load(session: AsyncSession) -> Snapshot:
    version, _rebuilt, text_version = await _state(session)
    rows = (await session.execute(text(
        f"SELECT {_COLUMNS} FROM product_search ORDER BY id"))).all()
    arrays = _arrays(rows)
    size = int(arrays["ids"].max()) + 1 if len(rows) else 1
    position = np.full(size, -1, dtype=np.int64)
    position[arrays["ids"]] = np.arange(len(rows))
    return Snapshot(version=version, text_version=text_version, checked_at=time.monotonic(),
                    position=position, **arrays)


def due(snap: Snapshot) -> bool:
    """Whether it is time to ask the database for changes."""
    return time.monotonic() - snap.checked_at >= CHECK_EVERY


async def refresh(session: AsyncSession, snap: Snapshot) -> Snapshot:
    """The same snapshot if nothing changed, else one that includes the changes."""
    if not due(snap):
        return snap
    version, rebuilt, text_version = await _state(session)
    snap.checked_at = time.monotonic()
    if version == snap.version:
        return snap
    if rebuilt > snap.version:
        return await load(session)
    rows = (await session.execute(text(
        f"SELECT {_COLUMNS} FROM product_search WHERE version > :v"), {"v": snap.version})).all()
    changed = _arrays(rows)
    known = (changed["ids"] < len(snap.position))
    if not known.all() or (snap.position[changed["ids"]] < 0).any():
        return await load(session)  # new products: rebuild the arrays
    where = snap.position[changed["ids"]]
    for name, values in changed.items():
        if name != "ids":
            getattr(snap, name)[where] = values
    snap.version, snap.text_version = version, text_version
    return snap
