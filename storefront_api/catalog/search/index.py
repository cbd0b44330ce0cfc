"""Filling the full-text index and the typo vocabulary from the catalog tables.

Call ``rebuild_index`` after products change (seed, import, admin edits). It is idempotent:
with ``product_ids`` it re-indexes only those products, otherwise all of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ...db import Database
from ..models import Category, Product, SearchTerm
from .text import words

CHUNK = 900  # ids per statement: under SQLite's bound-parameter limit

# Words that describe what a product is, beyond its title: the category path (slugs), the
# category name, its type, tags and colours.
_KEYWORDS_SQL = (
    "replace(replace(coalesce(c.path, ''), '/', ' '), '-', ' ') || ' ' || coalesce(c.name, '')"
    " || ' ' || p.product_type || ' ' || replace(p.tags, ',', ' ')"
    " || ' ' || replace(p.colors, '|', ' ')"
)


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


async def _index_sqlite(session: AsyncSession, ids: list[int] | None) -> None:
    select_rows = (
        "SELECT p.id, p.title || ' ' || p.vendor, " + _KEYWORDS_SQL + ", p.description "
        "FROM products p LEFT JOIN categories c ON c.id = p.category_id"
    )
    if ids is None:
        await session.execute(text("DELETE FROM product_fts"))
        await session.execute(text("DELETE FROM product_trigram"))
        await session.execute(text(
            "INSERT INTO product_fts (rowid, title, keywords, body) " + select_rows))
        await session.execute(text(
            "INSERT INTO product_trigram (rowid, title) SELECT id, title FROM products"))
        await session.execute(text("INSERT INTO product_fts (product_fts) VALUES ('optimize')"))
        return
    for chunk in _chunks(ids):
        marks = ",".join(str(int(i)) for i in chunk)
        await session.execute(text(f"DELETE FROM product_fts WHERE rowid IN ({marks})"))
        await session.execute(text(f"DELETE FROM product_trigram WHERE rowid IN ({marks})"))
        await session.execute(text(
            "INSERT INTO product_fts (rowid, title, keywords, body) "
            + select_rows + f" WHERE p.id IN ({marks})"))
        await session.execute(text(
            f"INSERT INTO product_trigram (rowid, title) SELECT id, title FROM products "
            f"WHERE id IN ({marks})"))


_PG_UPDATE = (
    "UPDATE products p SET search_vector ="
    " setweight(to_tsvector('english', s.title), 'A')"
    " || setweight(to_tsvector('english', s.keywords), 'B')"
    " || setweight(to_tsvector('english', s.description), 'D')"
    " FROM (SELECT p.id, p.title || ' ' || p.vendor AS title, " + _KEYWORDS_SQL + " AS keywords,"
    " p.description FROM products p LEFT JOIN categories c ON c.id = p.category_id {where}) s"
    " WHERE s.id = p.id"
)


async def _index_postgres(session: AsyncSession, ids: list[int] | None) -> None:
    if ids is None:
        await session.execute(text(_PG_UPDATE.format(where="")))
        return
    for chunk in _chunks(ids):
        marks = ",".join(str(int(i)) for i in chunk)
        await session.execute(text(_PG_UPDATE.format(where=f"WHERE p.id IN ({marks})")))


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
        if db.is_sqlite:
            await _index_sqlite(session, ids)
        else:
            await _index_postgres(session, ids)
        if progress:
            progress("search index built" if ids is None else f"re-indexed {len(ids)} products")
        n_terms = await _rebuild_vocabulary(session)
    if not db.is_sqlite:
        async with db.engine.connect() as conn:
            await conn.execute(text("ANALYZE products"))
            await conn.commit()
    forget_cached_catalog()
    if progress:
        progress(f"typo vocabulary: {n_terms:,} words")
