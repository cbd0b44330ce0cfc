"""Filling the search index from the catalog tables: the ``product_search`` projection, the
colour/size bits, the full-text index and the typo vocabulary.

Call ``rebuild_index(db)`` after bulk changes (seed, import) and ``reindex_products(session,
ids)`` inside any transaction that changes products, prices or stock, so that filters and
facets never disagree with the catalog.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ...db import Database
from ..models import Category, Product, SearchFacetValue, SearchTerm
from .text import words

CHUNK = 900  # ids per statement: under SQLite's bound-parameter limit
MAX_BITS = 62  # colours (and sizes) beyond this many are filtered through the variants table

# Words that say what a product is beyond its title: category path and name, type, tags, colours.
_KEYWORDS_SQL = (
    "replace(replace(coalesce(c.path, ''), '/', ' '), '-', ' ') || ' ' || coalesce(c.name, '')"
    " || ' ' || p.product_type || ' ' || replace(p.tags, ',', ' ')"
    " || ' ' || replace(p.colors, '|', ' ')"
)

_PROJECTION_SQL = (
    "INSERT INTO product_search (id, category_id, min_price, max_price, in_stock, rating,"
    " rating_count, created_at, color_mask, size_mask, stock_color_mask, stock_size_mask,"
    " active, version)"
    " SELECT p.id, p.category_id, coalesce(m.lo, p.min_price), coalesce(m.hi, p.max_price),"
    " coalesce(m.stocked, 0) > 0, p.rating, p.rating_count, p.created_at,"
    " coalesce(m.colors, 0), coalesce(m.sizes, 0), coalesce(m.stock_colors, 0),"
    " coalesce(m.stock_sizes, 0), p.status = 'active', :version"
    " FROM products p LEFT JOIN ("
    "  SELECT v.product_id, min(v.price) AS lo, max(v.price) AS hi,"
    "   max(CASE WHEN v.stock > 0 THEN 1 ELSE 0 END) AS stocked,"
    "   sum(DISTINCT fc.bit) AS colors, sum(DISTINCT fs.bit) AS sizes,"
    "   sum(DISTINCT CASE WHEN v.stock > 0 THEN fc.bit END) AS stock_colors,"
    "   sum(DISTINCT CASE WHEN v.stock > 0 THEN fs.bit END) AS stock_sizes"
    "  FROM variants v"
    "  LEFT JOIN search_facet_values fc ON fc.facet = 'color' AND fc.value = lower(v.color)"
    "  LEFT JOIN search_facet_values fs ON fs.facet = 'size' AND fs.value = lower(v.size)"
    "  {variant_where} GROUP BY v.product_id) m ON m.product_id = p.id {product_where}"
)


def _chunks(ids: list[int]) -> Iterable[str]:
    for start in range(0, len(ids), CHUNK):
        yield ",".join(str(int(i)) for i in ids[start:start + CHUNK])


_SIZE_ORDER = ["xxs", "xs", "s", "m", "l", "xl", "xxl", "xxxl", "one size"]


def _size_position(value: str) -> tuple:
    if value in _SIZE_ORDER:
        return (0, _SIZE_ORDER.index(value), "")
    number = re.match(r"^(\d+(?:\.\d+)?)", value)
    if number:
        return (1, float(number.group(1)), value)
    return (2, 0, value)


async def _assign_bits(session: AsyncSession, full: bool) -> None:
    """Give each colour and size a bit, most common first; keep existing bits unless full."""
    if full:
        await session.execute(delete(SearchFacetValue))
    for facet in ("color", "size"):
        existing = {r.value: r for r in (await session.execute(
            select(SearchFacetValue).where(SearchFacetValue.facet == facet))).scalars()}
        rows = await session.execute(text(
            f"SELECT lower({facet}) AS value, min({facet}) AS label, count(*) AS n FROM variants"
            f" WHERE {facet} IS NOT NULL AND {facet} <> '' GROUP BY lower({facet})"
            " ORDER BY n DESC, value"))
        used = {r.bit for r in existing.values()}
        free = (1 << i for i in range(MAX_BITS) if (1 << i) not in used)
        new = []
        for value, label, _n in rows:
            if value in existing or len(value) > 60:
                continue
            bit = next(free, None)
            if bit is None:
                break
            new.append({"facet": facet, "value": value, "label": label[:60], "bit": bit,
                        "position": 0})
        if new:
            await session.execute(insert(SearchFacetValue), new)
    for facet, key in (("size", _size_position), ("color", None)):
        values = (await session.execute(select(SearchFacetValue.value).where(
            SearchFacetValue.facet == facet))).scalars().all()
        ordered = sorted(values, key=key) if key else sorted(values)
        for position, value in enumerate(ordered):
            await session.execute(text(
                "UPDATE search_facet_values SET position = :pos WHERE facet = :f AND value = :v"),
                {"pos": position, "f": facet, "v": value})


async def _next_version(session: AsyncSession, *, full: bool, text_changed: bool) -> int:
    await session.execute(text("UPDATE search_state SET version = version + 1 WHERE id = 1"))
    if full:
        await session.execute(text("UPDATE search_state SET rebuilt_version = version WHERE id = 1"))
    if full or text_changed:
        await session.execute(text("UPDATE search_state SET text_version = version WHERE id = 1"))
    return (await session.execute(text("SELECT version FROM search_state WHERE id = 1"))).scalar_one()


async def _project(session: AsyncSession, ids: list[int] | None, *,
                   text_changed: bool = True) -> None:
    """Rewrite the projection rows (all, or of ``ids``) under a new version."""
    version = await _next_version(session, full=ids is None, text_changed=text_changed)
    if ids is None:
        await session.execute(text("DELETE FROM product_search"))
        await session.execute(text(_PROJECTION_SQL.format(variant_where="", product_where="")),
                              {"version": version})
        return
    written = 0
    for marks in _chunks(ids):
        await session.execute(text(f"DELETE FROM product_search WHERE id IN ({marks})"))
        result = await session.execute(text(_PROJECTION_SQL.format(
            variant_where=f"WHERE v.product_id IN ({marks})",
            product_where=f"WHERE p.id IN ({marks})")), {"version": version})
        written += result.rowcount
    if written < len(ids):  # some products were deleted: readers must reload everything
        await session.execute(text("UPDATE search_state SET rebuilt_version = version WHERE id = 1"))


async def _full_text_sqlite(session: AsyncSession, ids: list[int] | None) -> None:
    select_rows = (
        "SELECT p.id, p.title || ' ' || p.vendor, " + _KEYWORDS_SQL + ", p.description "
        "FROM products p LEFT JOIN categories c ON c.id = p.category_id WHERE p.status = 'active'"
    )
    if ids is None:
        await session.execute(text("DELETE FROM product_fts"))
        await session.execute(text("DELETE FROM product_trigram"))
        await session.execute(text(
            "INSERT INTO product_fts (rowid, title, keywords, body) " + select_rows))
        await session.execute(text("INSERT INTO product_trigram (rowid, title) "
                                   "SELECT id, title FROM products WHERE status = 'active'"))
        await session.execute(text("INSERT INTO product_fts (product_fts) VALUES ('optimize')"))
        return
    for marks in _chunks(ids):
        await session.execute(text(f"DELETE FROM product_fts WHERE rowid IN ({marks})"))
        await session.execute(text(f"DELETE FROM product_trigram WHERE rowid IN ({marks})"))
        await session.execute(text("INSERT INTO product_fts (rowid, title, keywords, body) "
                                   + select_rows + f" AND p.id IN ({marks})"))
        await session.execute(text(
            "INSERT INTO product_trigram (rowid, title) SELECT id, title FROM products "
            f"WHERE status = 'active' AND id IN ({marks})"))


_PG_VECTOR_SQL = (
    "UPDATE product_search ps SET search_vector ="
    " setweight(to_tsvector('english', s.title), 'A')"
    " || setweight(to_tsvector('english', s.keywords), 'B')"
    " || setweight(to_tsvector('english', s.description), 'D')"
    " FROM (SELECT p.id, p.title || ' ' || p.vendor AS title, " + _KEYWORDS_SQL + " AS keywords,"
    " p.description FROM products p LEFT JOIN categories c ON c.id = p.category_id {where}) s"
    " WHERE s.id = ps.id"
)


async def _full_text_postgres(session: AsyncSession, ids: list[int] | None) -> None:
    if ids is None:
        await session.execute(text(_PG_VECTOR_SQL.format(where="")))
        return
    for marks in _chunks(ids):
        await session.execute(text(_PG_VECTOR_SQL.format(where=f"WHERE p.id IN ({marks})")))


async def reindex_products(session: AsyncSession, product_ids: Iterable[int], *,
                           text_changed: bool = True) -> None:
    """Re-index some products inside the caller's transaction. After stock or price changes
    only (``text_changed=False``) the full-text index and cached text matches stay valid."""
    ids = sorted(set(product_ids))
    if not ids:
        return
    await _assign_bits(session, full=False)
    await _project(session, ids, text_changed=text_changed)
    if not text_changed:
        return
    if session.bind.dialect.name == "sqlite":
        await _full_text_sqlite(session, ids)
    else:
        await _full_text_postgres(session, ids)


async def _rebuild_vocabulary(session: AsyncSession) -> int:
    counts: Counter[str] = Counter()
    rows = await session.stream(select(
        Product.title, Product.vendor, Product.product_type, Product.tags, Product.colors))
    async for row in rows:
        counts.update(set(words(" ".join(row))))
    for (name,) in await session.execute(select(Category.name)):
        counts.update(set(words(name)))
    terms = [{"term": term[:80], "frequency": n} for term, n in counts.items() if len(term) > 1]
    await session.execute(delete(SearchTerm))
    for start in range(0, len(terms), 5000):
        await session.execute(insert(SearchTerm), terms[start:start + 5000])
    return len(terms)


async def rebuild_index(db: Database, product_ids: Iterable[int] | None = None,
                        progress: Callable[[str], None] | None = None) -> None:
    """Re-index ``product_ids`` (or every product) and refresh the typo vocabulary."""
    from .engine import forget_cached_catalog
    ids = sorted(set(product_ids)) if product_ids is not None else None
    async with db.write() as session:
        await _assign_bits(session, full=ids is None)
        await _project(session, ids)
        if db.is_sqlite:
            await _full_text_sqlite(session, ids)
        else:
            await _full_text_postgres(session, ids)
        if progress:
            progress("search index built" if ids is None else f"re-indexed {len(ids)} products")
        n_terms = await _rebuild_vocabulary(session)
    async with db.engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.commit()
    forget_cached_catalog()
    if progress:
        progress(f"typo vocabulary: {n_terms:,} words")
