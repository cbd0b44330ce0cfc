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

from ..models import Category, SearchFacetValue, SearchTerm
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


@dataclass(frozen=True)
class FacetValue:
    value: str  # lower-cased
    label: str
    bit: int
    position: int


@dataclass
class _Cache:
    categories: CategoryTree
    vocabulary: Vocabulary
    colors: dict[str, FacetValue]
    sizes: dict[str, FacetValue]
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
    facet_values: dict[str, dict[str, FacetValue]] = {"color": {}, "size": {}}
    for row in (await session.execute(select(SearchFacetValue))).scalars():
        facet_values[row.facet][row.value] = FacetValue(row.value, row.label, row.bit, row.position)
    cache = _Cache(tree, Vocabulary.build(terms), facet_values["color"], facet_values["size"])
    _caches[key] = cache
    return cache


class UnknownCategory(LookupError):
    pass


# --- how text matches, per dialect -------------------------------------------------------

class _TextMatch:
    """FROM clause, WHERE condition and score expression for one way of matching text.
    Every source exposes the search projection as ``ps``."""

    def __init__(self, source: str, condition: str, score: str, params: dict[str, Any]):
        self.source, self.condition, self.score, self.params = source, condition, score, params


def _fts_sqlite(terms: list[str], any_term: bool) -> _TextMatch:
    quoted = [f'"{t}"' for t in terms]
    if not any_term:
        quoted[-1] += "*"  # the last word may still be being typed
    match = (" OR " if any_term else " AND ").join(quoted)
    return _TextMatch("product_fts JOIN product_search ps ON ps.id = product_fts.rowid",
                      "product_fts MATCH :match", "-bm25(product_fts, 10.0, 4.0, 1.0)",
                      {"match": match})


def _fts_postgres(terms: list[str], any_term: bool) -> _TextMatch:
    parts = list(terms)
    if not any_term:
        parts[-1] += ":*"
    match = (" | " if any_term else " & ").join(parts)
    return _TextMatch("product_search ps", "ps.search_vector @@ to_tsquery('english', :match)",
                      "ts_rank_cd(ps.search_vector, to_tsquery('english', :match), 1)",
                      {"match": match})


def _partial_words(terms: list[str], sqlite: bool) -> _TextMatch:
    """Titles containing every term as part of a word ("shirt" in "sweatshirt")."""
    params = {f"w{i}": f"%{t}%" for i, t in enumerate(terms)}
    if sqlite:
        cond = " AND ".join(f"product_trigram.title LIKE :w{i}" for i in range(len(terms)))
        return _TextMatch("product_trigram JOIN product_search ps ON ps.id = product_trigram.rowid",
                          cond, "0", params)
    cond = " AND ".join(f"lower(p.title) LIKE :w{i}" for i in range(len(terms)))
    return _TextMatch("products p JOIN product_search ps ON ps.id = p.id", cond, "0", params)


def _no_text() -> _TextMatch:
    return _TextMatch("product_search ps", "1 = 1", "0", {})


# --- filters, sorting, facets -----------------------------------------------------------

def _facet_bits(wanted: tuple[str, ...], known: dict[str, FacetValue],
                synonyms: dict[str, str]) -> tuple[int, list[str]]:
    """Mask of the requested values that have a bit, and those that have none."""
    mask, unknown = 0, []
    for raw in wanted:
        value = synonyms.get(raw.lower(), raw.lower())
        if value in known:
            mask |= known[value].bit
        else:
            unknown.append(value)
    return mask, unknown


def _filters(params: SearchParams, cache: _Cache) -> tuple[list[str], dict[str, Any]]:
    where: list[str] = []
    bind: dict[str, Any] = {}
    tree = cache.categories
    if params.category:
        cid = tree.find(params.category)
        if cid is None:
            raise UnknownCategory(params.category)
        ids = ",".join(str(i) for i in tree.subtree(cid))
        where.append(f"ps.category_id IN ({ids})")
    # The listed price is the product's "from" price: a price filter applies to it.
    if params.min_price is not None:
        where.append("ps.min_price >= :min_price")
        bind["min_price"] = params.min_price
    if params.max_price is not None:
        where.append("ps.min_price <= :max_price")
        bind["max_price"] = params.max_price
    if params.in_stock:
        where.append("ps.in_stock = TRUE")
    color_mask, odd_colors = _facet_bits(params.colors, cache.colors, COLOR_SYNONYMS)
    size_mask, odd_sizes = _facet_bits(params.sizes, cache.sizes, {})
    prefix = "stock_" if params.in_stock else ""
    # Bitmasks answer "has a black variant (in stock)" from the projection alone; the
    # variants table is read only when colour and size must hold for the same variant
    # ("a black M") or for a value too rare to have a bit.
    if params.colors:
        where.append(f"(ps.{prefix}color_mask & {color_mask}) <> 0" if not odd_colors
                     else "1 = 1")
    if params.sizes:
        where.append(f"(ps.{prefix}size_mask & {size_mask}) <> 0" if not odd_sizes else "1 = 1")
    if (params.colors and params.sizes) or odd_colors or odd_sizes:
        variant = []
        if params.colors:
            names = [COLOR_SYNONYMS.get(c.lower(), c.lower()) for c in params.colors]
            bind.update({f"color{i}": c for i, c in enumerate(names)})
            variant.append("lower(v.color) IN (%s)" % ",".join(
                f":color{i}" for i in range(len(names))))
        if params.sizes:
            bind.update({f"size{i}": s.lower() for i, s in enumerate(params.sizes)})
            variant.append("lower(v.size) IN (%s)" % ",".join(
                f":size{i}" for i in range(len(params.sizes))))
        if params.in_stock:
            variant.append("v.stock > 0")
        where.append("EXISTS (SELECT 1 FROM variants v WHERE v.product_id = ps.id AND "
                     + " AND ".join(variant) + ")")
    return where or ["1 = 1"], bind


def _order_by(sort: str, has_text: bool) -> str:
    """ORDER BY over the columns of the match set ``m``."""
    if sort == "relevance" and not has_text:
        sort = "newest"
    return {
        "relevance": "score DESC, rating DESC, id",
        "price_asc": "min_price ASC, id",
        "price_desc": "min_price DESC, id",
        "rating": "rating DESC, rating_count DESC, id",
        "newest": "created_at DESC, id DESC",
    }[sort]


_PRODUCT_COLUMNS = (
    "p.id, p.handle, p.title, p.vendor, p.category_id, p.currency, p.min_price, p.max_price,"
    " p.in_stock, p.colors, p.sizes, p.rating, p.rating_count,"
    " (SELECT max(v.compare_at_price) FROM variants v WHERE v.product_id = p.id"
    "  AND v.price = p.min_price) AS compare_at_price,"
    " (SELECT i.url FROM product_images i WHERE i.product_id = p.id"
    "  ORDER BY i.position LIMIT 1) AS image"
)


async def product_rows(session: AsyncSession, ids: list[int]) -> list[dict[str, Any]]:
    """Listing rows (title, price, first image...) of products, in the order of ``ids``."""
    if not ids:
        return []
    marks = ",".join(str(int(i)) for i in ids)
    rows = await session.execute(text(
        f"SELECT {_PRODUCT_COLUMNS} FROM products p WHERE p.id IN ({marks})"))
    by_id = {r.id: dict(r._mapping) for r in rows}
    return [by_id[i] for i in ids if i in by_id]


def _facet_columns(cache: _Cache, in_stock: bool) -> tuple[list[str], list[tuple[str, str]]]:
    """Aggregate columns that count the price bands, colours and sizes of the matches."""
    prefix = "stock_" if in_stock else ""
    columns, keys = [], []
    for i, (low, high) in enumerate(PRICE_BANDS):
        cond = f"min_price >= {low}" + (f" AND min_price < {high}" if high else "")
        columns.append(f"sum(CASE WHEN {cond} THEN 1 ELSE 0 END)")
        keys.append(("price", str(i)))
    for facet, values in (("color", cache.colors), ("size", cache.sizes)):
        for fv in values.values():
            columns.append(f"sum(CASE WHEN ({prefix}{facet}_mask & {fv.bit}) <> 0 "
                           "THEN 1 ELSE 0 END)")
            keys.append((facet, fv.value))
    return columns, keys


async def _run(session, match: _TextMatch, where: list[str], bind: dict, cache: _Cache,
               params: SearchParams, has_text: bool) -> tuple[int, dict[str, dict], list[int]]:
    """Total and facet counts in one pass over the matches (grouped by category, every facet
    a column), then the ids of one page. Two statements measure faster on SQLite than one
    that materialises the matches for both."""
    columns, keys = _facet_columns(cache, params.in_stock) if params.facets else ([], [])
    def matches(score: str) -> str:
        return (f"FROM (SELECT ps.*, {score} AS score FROM {match.source}"
                f" WHERE {match.condition} AND {' AND '.join(where)}) m")

    aggregates = "".join(", " + c for c in columns)
    rows = await session.execute(text(
        f"SELECT category_id, count(*){aggregates} {matches('0')} GROUP BY category_id"),
        {**match.params, **bind})
    total = 0
    counts: dict[str, dict] = {"category": {}, "price": {}, "color": {}, "size": {}}
    for row in rows:
        total += row[1]
        counts["category"][row[0]] = row[1]
        for (facet, value), n in zip(keys, row[2:]):
            counts[facet][value] = counts[facet].get(value, 0) + int(n or 0)
    if not total:
        return 0, counts, []
    order_by = _order_by(params.sort, has_text)
    score = match.score if order_by.startswith("score") else "0"
    page = await session.execute(text(
        f"SELECT id {matches(score)} ORDER BY {order_by}"
        " LIMIT :limit OFFSET :offset"),
        {**match.params, **bind, "limit": params.page_size,
         "offset": (params.page - 1) * params.page_size})
    return total, counts, [r[0] for r in page]


def _category_facet(counts: dict, tree: CategoryTree, selected: int | None) -> list[dict]:
    """Counts one level below the selected category (or at the top), rolled up the tree."""
    rolled: dict[int, int] = {}
    for cid, n in counts.items():
        if cid is None or cid not in tree.by_id:
            continue
        child = tree.child_toward(selected, cid)
        if child is not None:
            rolled[child] = rolled.get(child, 0) + n
    facet = [{**tree.public(cid), "count": n} for cid, n in rolled.items()]
    return sorted(facet, key=lambda f: (-f["count"], f["name"]))


def _price_facet(counts: dict) -> list[dict]:
    return [{"min": lo, "max": hi, "count": counts[str(i)]}
            for i, (lo, hi) in enumerate(PRICE_BANDS) if counts.get(str(i))]


def _value_facet(counts: dict, known: dict[str, FacetValue], by_count: bool) -> list[dict]:
    facet = [{"value": known[v].label, "count": n, "_pos": known[v].position}
             for v, n in counts.items() if n]
    facet.sort(key=(lambda f: (-f["count"], f["_pos"])) if by_count else (lambda f: f["_pos"]))
    for f in facet:
        del f["_pos"]
    return facet


@dataclass
class SearchResult:
    items: list[dict[str, Any]]
    total: int
    facets: dict[str, list]
    query: dict[str, Any]
    categories: CategoryTree


def _attempts(terms: list[str], cache: _Cache, sqlite: bool) -> list[tuple[_TextMatch, dict]]:
    """Ways to match the text, strictest first: as typed, typos corrected, partial words in
    titles, then any of the words."""
    if not terms:
        return [(_no_text(), {})]
    fts = _fts_sqlite if sqlite else _fts_postgres
    attempts = [(fts(terms, False), {})]
    corrected = cache.vocabulary.correct_all(terms)
    if corrected and corrected != terms:
        attempts.append((fts(corrected, False), {"corrected": " ".join(corrected)}))
    best = corrected or terms
    note = {"relaxed": True, "corrected": " ".join(best) if best != terms else None}
    attempts.append((_partial_words(best, sqlite), note))
    if len(best) > 1:
        attempts.append((fts(best, True), note))
    return attempts


async def search_products(session: AsyncSession, params: SearchParams) -> SearchResult:
    cache = await catalog_cache(session)
    tree = cache.categories
    where, bind = _filters(params, cache)
    terms = query_terms(params.q)
    query: dict[str, Any] = {"q": params.q, "terms": terms, "corrected": None, "relaxed": False}
    attempts = _attempts(terms, cache, session.bind.dialect.name == "sqlite")
    for match, note in attempts:
        total, counts, page_ids = await _run(session, match, where, bind, cache, params,
                                             bool(terms))
        if total:
            break
    query.update(note)
    items = await product_rows(session, page_ids)
    selected = tree.find(params.category) if params.category else None
    facets = {}
    if params.facets:
        facets = {
            "category": _category_facet(counts["category"], tree, selected),
            "color": _value_facet(counts["color"], cache.colors, by_count=True),
            "size": _value_facet(counts["size"], cache.sizes, by_count=False),
            "price": _price_facet(counts["price"]),
        }
    return SearchResult(items=items, total=total, query=query, categories=tree, facets=facets)
