"""Product search: full text + filters + sorting + facets, on SQLite (FTS5) or PostgreSQL.

One search runs as at most a few statements: the page of products (with their first image),
then the total and every facet in a single UNION ALL over a materialised match set. The
dialects differ only in how a text query matches and scores (``_TextMatch``); filters,
sorting and facets are the same SQL.

When the words as typed match nothing, the search relaxes step by step and says so in
``query``: typos corrected against the catalog vocabulary, then partial words in titles
(trigram index), then any of the words instead of all of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Category, SearchTerm
from .text import Vocabulary, query_terms

CACHE_SECONDS = 30.0
PRICE_BANDS = [(0, 2500), (2500, 5000), (5000, 10000), (10000, 20000), (20000, None)]
COLOR_SYNONYMS = {"gray": "grey", "charcoal": "grey", "navy blue": "navy", "offwhite": "off-white"}
SORTS = ("relevance", "price_asc", "price_desc", "rating", "newest")


@dataclass(frozen=True)
class SearchParams:
    q: str = ""
    category: str | None = None   # slug or id; subcategories included
    colors: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()
    min_price: int | None = None  # minor units, inclusive
    max_price: int | None = None
    in_stock: bool = False
    sort: str = "relevance"
    page: int = 1
    page_size: int = 24
    facets: bool = True


@dataclass
class CategoryTree:
    by_id: dict[int, dict[str, Any]]
    by_slug: dict[str, int]
    children: dict[int | None, list[int]]

    def find(self, ref: str) -> int | None:
        ref = ref.strip().lower()
        if ref.isdigit() and int(ref) in self.by_id:
            return int(ref)
        if ref in self.by_slug:
            return self.by_slug[ref]
        for cid, cat in self.by_id.items():  # a name typed by a person ("Hoodies")
            if cat["name"].lower() == ref:
                return cid
        return None

    def subtree(self, cid: int) -> list[int]:
        out, stack = [], [cid]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(self.children.get(node, ()))
        return out

    def child_toward(self, parent: int | None, leaf: int) -> int | None:
        """The child of ``parent`` on the path from the root down to ``leaf``."""
        node: int | None = leaf
        while node is not None and self.by_id[node]["parent_id"] != parent:
            node = self.by_id[node]["parent_id"]
        return node

    def public(self, cid: int) -> dict[str, Any]:
        cat = self.by_id[cid]
        return {"id": cid, "slug": cat["slug"], "name": cat["name"], "path": cat["path"]}


@dataclass
class _Cache:
    categories: CategoryTree
    vocabulary: Vocabulary
    loaded_at: float = field(default_factory=time.monotonic)


_caches: dict[str, _Cache] = {}


def forget_cached_catalog() -> None:
    """Drop this process's cached category tree and vocabulary (after a re-index)."""
    _caches.clear()


async def catalog_cache(session: AsyncSession) -> _Cache:
    key = str(session.bind.url)
    cache = _caches.get(key)
    if cache and time.monotonic() - cache.loaded_at < CACHE_SECONDS:
        return cache
    rows = (await session.execute(select(
        Category.id, Category.parent_id, Category.slug, Category.name, Category.path,
        Category.position))).all()
    by_id = {r.id: r._asdict() for r in rows}
    children: dict[int | None, list[int]] = {}
    for r in sorted(rows, key=lambda r: (r.position, r.name)):
        children.setdefault(r.parent_id, []).append(r.id)
    tree = CategoryTree(by_id, {r.slug: r.id for r in rows}, children)
    terms = dict((await session.execute(select(SearchTerm.term, SearchTerm.frequency))).all())
    cache = _Cache(tree, Vocabulary.build(terms))
    _caches[key] = cache
    return cache


class UnknownCategory(LookupError):
    pass


# --- how text matches, per dialect -------------------------------------------------------

class _TextMatch:
    """FROM clause, WHERE condition and score expression for one way of matching text."""

    def __init__(self, source: str, condition: str, score: str, params: dict[str, Any]):
        self.source, self.condition, self.score, self.params = source, condition, score, params


def _fts_sqlite(terms: list[str], any_term: bool) -> _TextMatch:
    quoted = [f'"{t}"' for t in terms]
    if not any_term:
        quoted[-1] += "*"  # the last word may still be being typed
    match = (" OR " if any_term else " AND ").join(quoted)
    return _TextMatch("product_fts JOIN products p ON p.id = product_fts.rowid",
                      "product_fts MATCH :match", "-bm25(product_fts, 10.0, 4.0, 1.0)",
                      {"match": match})


def _fts_postgres(terms: list[str], any_term: bool) -> _TextMatch:
    parts = list(terms)
    if not any_term:
        parts[-1] += ":*"
    match = (" | " if any_term else " & ").join(parts)
    return _TextMatch("products p", "p.search_vector @@ to_tsquery('english', :match)",
                      "ts_rank_cd(p.search_vector, to_tsquery('english', :match), 1)",
                      {"match": match})


def _partial_words(terms: list[str], sqlite: bool) -> _TextMatch:
    """Titles containing every term as part of a word ("shirt" in "sweatshirt")."""
    params = {f"w{i}": f"%{t}%" for i, t in enumerate(terms)}
    if sqlite:
        cond = " AND ".join(f"product_trigram.title LIKE :w{i}" for i in range(len(terms)))
        return _TextMatch("product_trigram JOIN products p ON p.id = product_trigram.rowid",
                          cond, "0", params)
    cond = " AND ".join(f"lower(p.title) LIKE :w{i}" for i in range(len(terms)))
    return _TextMatch("products p", cond, "0", params)


def _no_text() -> _TextMatch:
    return _TextMatch("products p", "1 = 1", "0", {})


# --- filters, sorting, facets -----------------------------------------------------------

def _filters(params: SearchParams, tree: CategoryTree) -> tuple[list[str], dict[str, Any]]:
    where = ["p.status = 'active'"]
    bind: dict[str, Any] = {}
    if params.category:
        cid = tree.find(params.category)
        if cid is None:
            raise UnknownCategory(params.category)
        ids = ",".join(str(i) for i in tree.subtree(cid))
        where.append(f"p.category_id IN ({ids})")
    variant = []
    if params.colors:
        names = [COLOR_SYNONYMS.get(c.lower(), c.lower()) for c in params.colors]
        bind.update({f"color{i}": c for i, c in enumerate(names)})
        variant.append("lower(v.color) IN (%s)" % ",".join(f":color{i}" for i in range(len(names))))
    if params.sizes:
        bind.update({f"size{i}": s.lower() for i, s in enumerate(params.sizes)})
        variant.append("lower(v.size) IN (%s)" % ",".join(f":size{i}" for i in range(len(params.sizes))))
    if variant:
        # Colour, size, price and stock must hold for the same variant ("a black M in stock").
        if params.min_price is not None:
            variant.append("v.price >= :min_price")
        if params.max_price is not None:
            variant.append("v.price <= :max_price")
        if params.in_stock:
            variant.append("v.stock > 0")
        where.append("EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id AND "
                     + " AND ".join(variant) + ")")
    else:
        if params.min_price is not None:
            where.append("p.max_price >= :min_price")
        if params.max_price is not None:
            where.append("p.min_price <= :max_price")
        if params.in_stock:
            where.append("p.in_stock = TRUE")
    if params.min_price is not None:
        bind["min_price"] = params.min_price
    if params.max_price is not None:
        bind["max_price"] = params.max_price
    return where, bind


def _order_by(sort: str, has_text: bool) -> str:
    if sort == "relevance" and not has_text:
        sort = "newest"
    return {
        "relevance": "score DESC, p.rating DESC, p.id",
        "price_asc": "p.min_price ASC, p.id",
        "price_desc": "p.min_price DESC, p.id",
        "rating": "p.rating DESC, p.rating_count DESC, p.id",
        "newest": "p.created_at DESC, p.id DESC",
    }[sort]


_BAND_SQL = "CASE " + " ".join(
    f"WHEN m.min_price < {hi} THEN {i}" for i, (_lo, hi) in enumerate(PRICE_BANDS) if hi
) + f" ELSE {len(PRICE_BANDS) - 1} END"

_PAGE_COLUMNS = (
    "p.id, p.handle, p.title, p.vendor, p.category_id, p.currency, p.min_price, p.max_price,"
    " p.in_stock, p.colors, p.sizes, p.rating, p.rating_count,"
    " (SELECT max(v.compare_at_price) FROM variants v WHERE v.product_id = p.id"
    "  AND v.price = p.min_price) AS compare_at_price,"
    " (SELECT i.url FROM product_images i WHERE i.product_id = p.id"
    "  ORDER BY i.position LIMIT 1) AS image"
)


async def _page(session, match: _TextMatch, where: list[str], bind: dict, params: SearchParams,
                has_text: bool) -> list[dict[str, Any]]:
    sql = (f"SELECT {_PAGE_COLUMNS}, {match.score} AS score FROM {match.source} "
           f"WHERE {match.condition} AND {' AND '.join(where)} "
           f"ORDER BY {_order_by(params.sort, has_text)} LIMIT :limit OFFSET :offset")
    rows = await session.execute(text(sql), {
        **match.params, **bind, "limit": params.page_size,
        "offset": (params.page - 1) * params.page_size})
    return [dict(r._mapping) for r in rows]


async def _facets(session, match: _TextMatch, where: list[str], bind: dict,
                  with_facets: bool) -> dict[str, list]:
    matched = (f"SELECT p.id, p.category_id, p.min_price FROM {match.source} "
               f"WHERE {match.condition} AND {' AND '.join(where)}")
    parts = ["SELECT 'total' AS facet, NULL AS value, count(*) AS n FROM m"]
    if with_facets:
        parts += [
            "SELECT 'category', CAST(m.category_id AS TEXT), count(*) FROM m GROUP BY m.category_id",
            f"SELECT 'price', CAST({_BAND_SQL} AS TEXT), count(*) FROM m GROUP BY 2",
            "SELECT 'color', lower(v.color), count(DISTINCT v.product_id) FROM m "
            "JOIN variants v ON v.product_id = m.id WHERE v.color IS NOT NULL GROUP BY 2",
            "SELECT 'size', v.size, count(DISTINCT v.product_id) FROM m "
            "JOIN variants v ON v.product_id = m.id WHERE v.size IS NOT NULL GROUP BY 2",
        ]
    sql = f"WITH m AS MATERIALIZED ({matched}) " + " UNION ALL ".join(parts)
    out: dict[str, list] = {}
    for facet, value, n in await session.execute(text(sql), {**match.params, **bind}):
        out.setdefault(facet, []).append((value, n))
    return out


def _category_facet(counts: list, tree: CategoryTree, selected: int | None) -> list[dict]:
    """Counts one level below the selected category (or at the top), rolled up the tree."""
    rolled: dict[int, int] = {}
    for value, n in counts:
        if value is None:
            continue
        child = tree.child_toward(selected, int(value))
        if child is not None:
            rolled[child] = rolled.get(child, 0) + n
    facet = [{**tree.public(cid), "count": n} for cid, n in rolled.items()]
    return sorted(facet, key=lambda f: (-f["count"], f["name"]))


def _price_facet(counts: list) -> list[dict]:
    by_band = {int(value): n for value, n in counts}
    return [{"min": lo, "max": hi, "count": by_band[i]}
            for i, (lo, hi) in enumerate(PRICE_BANDS) if by_band.get(i)]


def _value_facet(counts: list) -> list[dict]:
    return sorted(({"value": v, "count": n} for v, n in counts), key=lambda f: (-f["count"], f["value"]))


@dataclass
class SearchResult:
    items: list[dict[str, Any]]
    total: int
    facets: dict[str, list]
    query: dict[str, Any]
    categories: CategoryTree


async def search_products(session: AsyncSession, params: SearchParams) -> SearchResult:
    cache = await catalog_cache(session)
    tree = cache.categories
    where, bind = _filters(params, tree)
    sqlite = session.bind.dialect.name == "sqlite"
    fts = _fts_sqlite if sqlite else _fts_postgres
    terms = query_terms(params.q)
    query: dict[str, Any] = {"q": params.q, "terms": terms, "corrected": None, "relaxed": False}

    attempts: list[tuple[_TextMatch, dict[str, Any]]] = []
    if not terms:
        attempts.append((_no_text(), {}))
    else:
        attempts.append((fts(terms, False), {}))
        corrected = cache.vocabulary.correct_all(terms)
        if corrected and corrected != terms:
            attempts.append((fts(corrected, False), {"corrected": " ".join(corrected)}))
        best = corrected or terms
        attempts.append((_partial_words(best, sqlite), {"relaxed": True,
                         "corrected": " ".join(best) if best != terms else None}))
        if len(best) > 1:
            attempts.append((fts(best, True), {"relaxed": True,
                             "corrected": " ".join(best) if best != terms else None}))

    for match, note in attempts:
        facets = await _facets(session, match, where, bind, params.facets)
        total = facets["total"][0][1]
        if total or match is attempts[-1][0]:
            break
    query.update(note)
    items = await _page(session, match, where, bind, params, bool(terms)) if total else []
    selected = tree.find(params.category) if params.category else None
    return SearchResult(
        items=items, total=total, query=query, categories=tree,
        facets={
            "category": _category_facet(facets.get("category", []), tree, selected),
            "color": _value_facet(facets.get("color", [])),
            "size": _value_facet(facets.get("size", [])),
            "price": _price_facet(facets.get("price", [])),
        } if params.facets else {},
    )
