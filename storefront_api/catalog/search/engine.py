"""Product search: full text in the database, filters, facets and sorting in memory.

The database answers the one question only it can answer fast: which products match the
words (SQLite FTS5, PostgreSQL tsvector; trigram indexes for partial words). Everything else
runs on the process's columnar snapshot of the search projection (``snapshot.py``): a filter
is a vectorised comparison, every facet a vectorised count, so a search costs one or two
index lookups plus one query for the page's titles and images, whatever the filters.

When the words as typed match nothing, the search relaxes step by step and says so in
``query``: typos corrected against the catalog vocabulary, a need read as products ("for a
wedding": dresses, suits; ``needs.py``), then partial words in titles, then any of the
words instead of all of them.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Category, SearchFacetValue, SearchTerm
from . import needs
from . import snapshot as snapshots
from .snapshot import Snapshot
from .text import Vocabulary, query_phrases, query_terms, words

CACHE_SECONDS = 30.0
PRICE_BANDS = [(0, 2500), (2500, 5000), (5000, 10000), (10000, 20000), (20000, None)]
COLOR_SYNONYMS = {"gray": "grey", "navy blue": "navy", "offwhite": "off-white"}
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


_snapshots: dict[str, Snapshot] = {}
_snapshot_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}


_caches: dict[str, _Cache] = {}


def forget_cached_catalog() -> None:
    """Drop this process's cached category tree, vocabulary and snapshot (after a re-index)."""
    _caches.clear()
    _snapshots.clear()
    _match_cache.__init__(_match_cache.max_ids)


async def catalog_snapshot(session: AsyncSession) -> Snapshot:
    """This process's snapshot of the search projection, brought up to date (one loader at a
    time: concurrent first searches wait for one load instead of each loading)."""
    key = str(session.bind.url)
    snap = _snapshots.get(key)
    if snap is not None and not snapshots.due(snap):
        return snap
    lock = _snapshot_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock:
        snap = _snapshots.get(key)
        snap = await snapshots.refresh(session, snap) if snap else await snapshots.load(session)
        _snapshots[key] = snap
    return snap


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


# --- which products match the words, per dialect ------------------------------------------

@dataclass
class _Matched:
    ids: np.ndarray               # product ids
    in_title: np.ndarray | None   # for relevance: does the title hold every word?


async def _driver(session: AsyncSession):
    connection = await session.connection()
    return (await connection.get_raw_connection()).driver_connection


def _unpack(packed: str | None) -> np.ndarray:
    return np.fromstring(packed, dtype=np.int64, sep=",") if packed else _NO_IDS


async def _fetch_id_lists(session: AsyncSession, sqlite_sqls: list[str], pg_sqls: list[str],
                          params: list) -> list[np.ndarray]:
    """Lists of product ids from queries run in one round trip on the driver itself, each
    aggregated by the database into one value (a comma-separated string on SQLite, an array
    on PostgreSQL): thousands of ids cost one row, not thousands."""
    raw = await _driver(session)
    if session.bind.dialect.name == "sqlite":
        columns = ", ".join(f"(SELECT group_concat(id) FROM ({sql}))" for sql in sqlite_sqls)
        async with raw.execute(f"SELECT {columns}", params) as cursor:
            row = await cursor.fetchone()
        return [_unpack(packed) for packed in row]
    columns = ", ".join(f"(SELECT array_agg(id) FROM ({sql}) q{i})" for i, sql in enumerate(pg_sqls))
    row = await raw.fetchrow(f"SELECT {columns}", *params)
    return [np.array(ids, dtype=np.int64) if ids else _NO_IDS for ids in row]


_NO_IDS = np.empty(0, dtype=np.int64)


def _contains(sorted_haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """Which needles are in an ascending array."""
    if not len(sorted_haystack):
        return np.zeros(len(needles), dtype=np.bool_)
    where = np.minimum(np.searchsorted(sorted_haystack, needles), len(sorted_haystack) - 1)
    return sorted_haystack[where] == needles


class _MatchCache:
    """Recent text matches of this process, valid while no product's text changes (stock and
    price changes keep them). Popular searches then cost no database round trip at all.
    Bounded by the number of ids held, not of entries."""

    def __init__(self, max_ids: int):
        self.max_ids = max_ids
        self._entries: OrderedDict[tuple, _Matched] = OrderedDict()
        self._ids = 0

    def get(self, key: tuple) -> _Matched | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: tuple, matched: _Matched) -> None:
        if not self.max_ids or len(matched.ids) > self.max_ids // 4:
            return
        self._entries[key] = matched
        self._ids += len(matched.ids)
        while self._ids > self.max_ids:
            _key, old = self._entries.popitem(last=False)
            self._ids -= len(old.ids)


_match_cache = _MatchCache(int(os.environ.get("SEARCH_MATCH_CACHE_IDS", "2000000")))


async def _full_text(session: AsyncSession, terms: list[str], any_term: bool,
                     vocabulary: Vocabulary, want_title: bool, text_version: int) -> _Matched:
    key = (str(session.bind.url), text_version, tuple(terms), any_term, want_title)
    cached = _match_cache.get(key)
    if cached is None:
        cached = await _full_text_query(session, terms, any_term, vocabulary, want_title)
        _match_cache.put(key, cached)
    return cached


async def _full_text_query(session: AsyncSession, terms: list[str], any_term: bool,
                           vocabulary: Vocabulary, want_title: bool) -> _Matched:
    # The last word may still be being typed: match it as a prefix unless it is a known word
    # (of the catalog, or a need's: "skiing" is not the start of "skirt").
    prefix = not any_term and not vocabulary.knows(terms[-1]) and not needs.is_need(terms[-1])
    if session.bind.dialect.name == "sqlite":
        quoted = [f'"{t}"' for t in terms]
        if prefix:
            quoted[-1] += "*"
        match = (" OR " if any_term else " AND ").join(quoted)
        sql = "SELECT rowid AS id FROM product_fts WHERE product_fts MATCH ? ORDER BY rowid"
        if not want_title:
            return _Matched((await _fetch_id_lists(session, [sql], [], [match]))[0], None)
        ids, titles = await _fetch_id_lists(session, [sql, sql], [],
                                            [match, f"title : ({match})"])
        return _Matched(ids, _contains(titles, ids))
    parts = [t + (":*" if prefix and i == len(terms) - 1 else "") for i, t in enumerate(terms)]
    joiner = " | " if any_term else " & "
    query, title_query = joiner.join(parts), joiner.join(
        p + ("A" if p.endswith(":*") else ":A") for p in parts)
    if not want_title:
        sql = ("SELECT id FROM product_search WHERE search_vector @@ to_tsquery('english', $1)"
               " ORDER BY id")
        return _Matched((await _fetch_id_lists(session, [], [sql], [query]))[0], None)
    # One scan reads each matching tsvector once and answers both questions.
    raw = await _driver(session)
    ids, titles = await raw.fetchrow(
        "SELECT array_agg(id ORDER BY id), array_agg(id ORDER BY id) FILTER"
        " (WHERE search_vector @@ to_tsquery('english', $2)) FROM product_search"
        " WHERE search_vector @@ to_tsquery('english', $1)", query, title_query)
    ids = np.array(ids, dtype=np.int64) if ids else _NO_IDS
    titles = np.array(titles, dtype=np.int64) if titles else _NO_IDS
    return _Matched(ids, _contains(titles, ids))


async def _phrase_ids(session: AsyncSession, phrases: list[str], text_version: int) -> np.ndarray:
    """Products whose title or keywords hold one of the phrases, its words in a row ("t-shirt"
    as one thing, not "t" somewhere and "shirt" somewhere else)."""
    key = (str(session.bind.url), text_version, "phrases", tuple(phrases))
    cached = _match_cache.get(key)
    if cached is not None:
        return cached.ids
    if session.bind.dialect.name == "sqlite":
        match = "{title keywords} : (" + " OR ".join(
            '"' + " ".join(words(p)) + '"' for p in phrases) + ")"
        sql = "SELECT rowid AS id FROM product_fts WHERE product_fts MATCH ? ORDER BY rowid"
        ids = (await _fetch_id_lists(session, [sql], [], [match]))[0]
    else:
        query = " || ".join(f"phraseto_tsquery('english', ${i + 1})" for i in range(len(phrases)))
        sql = f"SELECT id FROM product_search WHERE search_vector @@ ({query}) ORDER BY id"
        ids = (await _fetch_id_lists(session, [], [sql], phrases))[0]
    _match_cache.put(key, _Matched(ids, None))
    return ids


async def _partial_words(session: AsyncSession, terms: list[str]) -> _Matched:
    """Titles containing every term as part of a word ("shirt" in "sweatshirt")."""
    likes = [f"%{t}%" for t in terms]
    sqlite_sql = "SELECT rowid AS id FROM product_trigram WHERE " + " AND ".join(
        "title LIKE ?" for _ in terms) + " ORDER BY rowid"
    pg_sql = "SELECT id FROM products WHERE " + " AND ".join(
        f"lower(title) LIKE ${i + 1}" for i in range(len(terms))) + " ORDER BY id"
    ids, = await _fetch_id_lists(session, [sqlite_sql], [pg_sql], likes)
    return _Matched(ids, np.ones(len(ids), dtype=np.bool_))


# --- filters, sorting, facets on the snapshot ---------------------------------------------

def _facet_mask(wanted: tuple[str, ...], known: dict[str, FacetValue],
                synonyms: dict[str, str]) -> tuple[int, list[str]]:
    """Mask of the requested values that have a bit, and the values that have none."""
    mask, unknown = 0, []
    for raw in wanted:
        value = synonyms.get(raw.lower(), raw.lower())
        if value in known:
            mask |= known[value].bit
        else:
            unknown.append(value)
    return mask, unknown


def _spellings(values: tuple[str, ...], known: dict[str, FacetValue],
               synonyms: dict[str, str]) -> list[str]:
    out = set()
    for raw in values:
        value = synonyms.get(raw.lower(), raw.lower())
        out |= {raw, value, value.upper(), value.title()}
        if value in known:
            out.add(known[value].label)
    return sorted(out)


async def _same_variant(session: AsyncSession, params: SearchParams, cache: _Cache,
                        candidates: np.ndarray) -> np.ndarray:
    """Of the candidate products, those with one variant that has the colour and the size
    (and the stock) asked for."""
    colors = _spellings(params.colors, cache.colors, COLOR_SYNONYMS)
    sizes = _spellings(params.sizes, cache.sizes, {})
    where, bind = [], {}
    if len(candidates) <= 5000:  # else one pass over the (colour, size) index is cheaper
        where.append("product_id IN (%s)" % ",".join(str(int(i)) for i in candidates))
    if colors:
        where.append("color IN (%s)" % ",".join(f":c{i}" for i in range(len(colors))))
        bind.update({f"c{i}": c for i, c in enumerate(colors)})
    if sizes:
        where.append("size IN (%s)" % ",".join(f":s{i}" for i in range(len(sizes))))
        bind.update({f"s{i}": s for i, s in enumerate(sizes)})
    if params.in_stock:
        where.append("stock > 0")
    rows = await session.execute(text(
        "SELECT DISTINCT product_id FROM variants WHERE " + " AND ".join(where)), bind)
    return np.fromiter((r[0] for r in rows), dtype=np.int64)


async def _filter(session: AsyncSession, snap: Snapshot, rows: np.ndarray,
                  params: SearchParams, cache: _Cache) -> np.ndarray:
    """Which of ``rows`` pass the filters (a boolean mask over them)."""
    keep = np.ones(len(rows), dtype=np.bool_)
    if params.category:
        cid = cache.categories.find(params.category)
        if cid is None:
            raise UnknownCategory(params.category)
        keep &= np.isin(snap.category[rows], cache.categories.subtree(cid))
    # The listed price is the product's "from" price: a price filter applies to it.
    if params.min_price is not None:
        keep &= snap.min_price[rows] >= params.min_price
    if params.max_price is not None:
        keep &= snap.min_price[rows] <= params.max_price
    if params.in_stock:
        keep &= snap.in_stock[rows]
    colors, odd_colors = _facet_mask(params.colors, cache.colors, COLOR_SYNONYMS)
    sizes, odd_sizes = _facet_mask(params.sizes, cache.sizes, {})
    color_masks = snap.stock_color_mask if params.in_stock else snap.color_mask
    size_masks = snap.stock_size_mask if params.in_stock else snap.size_mask
    if params.colors and not odd_colors:
        keep &= (color_masks[rows] & colors) != 0
    if params.sizes and not odd_sizes:
        keep &= (size_masks[rows] & sizes) != 0
    # Bitmasks answer "has a black variant (in stock)"; the variants table is read only when
    # colour and size must hold for one variant ("a black M"), or for a value with no bit.
    if ((params.colors and params.sizes) or odd_colors or odd_sizes) and keep.any():
        candidates = snap.ids[rows[keep]]
        found = np.sort(await _same_variant(session, params, cache, candidates))
        keep[keep] = _contains(found, candidates)
    return keep


def _sorted(snap: Snapshot, rows: np.ndarray, sort: str, in_title: np.ndarray | None,
            has_text: bool, in_phrase: np.ndarray | None = None) -> np.ndarray:
    if sort == "relevance" and not has_text:
        sort = "newest"
    ids = snap.ids[rows]
    if sort == "relevance":
        # A phrase of the query as one thing first ("t-shirts": T-shirts before denim shirts),
        # then every word in the title, then the best rated (a shop's notion of relevance).
        title = in_title if in_title is not None else np.zeros(len(rows), dtype=np.bool_)
        phrase = in_phrase if in_phrase is not None else np.zeros(len(rows), dtype=np.bool_)
        keys = (ids, -snap.rating_count[rows], -snap.rating[rows], ~title, ~phrase)
    elif sort == "price_asc":
        keys = (ids, snap.min_price[rows])
    elif sort == "price_desc":
        keys = (ids, -snap.min_price[rows])
    elif sort == "rating":
        keys = (ids, -snap.rating_count[rows], -snap.rating[rows])
    else:  # newest
        keys = (-ids, -snap.created[rows])
    return rows[np.lexsort(keys)]


def _count_bits(masks: np.ndarray, values: dict[str, FacetValue]) -> dict[str, int]:
    if not values or not len(masks):
        return {}
    names = list(values)
    bits = np.array([values[n].bit for n in names], dtype=np.int64)
    counts = ((masks[:, None] & bits[None, :]) != 0).sum(axis=0)
    return {n: int(c) for n, c in zip(names, counts) if c}


def _facets(snap: Snapshot, rows: np.ndarray, params: SearchParams, cache: _Cache) -> dict:
    tree = cache.categories
    selected = tree.find(params.category) if params.category else None
    categories, counts = np.unique(snap.category[rows], return_counts=True)
    edges = np.array([hi for _lo, hi in PRICE_BANDS if hi], dtype=np.int64)
    bands = np.bincount(np.searchsorted(edges, snap.min_price[rows], side="right"),
                        minlength=len(PRICE_BANDS))
    color_masks = snap.stock_color_mask if params.in_stock else snap.color_mask
    size_masks = snap.stock_size_mask if params.in_stock else snap.size_mask
    return {
        "category": _category_facet(dict(zip(categories.tolist(), counts.tolist())), tree,
                                    selected),
        "color": _value_facet(_count_bits(color_masks[rows], cache.colors), cache.colors,
                              by_count=True),
        "size": _value_facet(_count_bits(size_masks[rows], cache.sizes), cache.sizes,
                             by_count=False),
        "price": [{"min": lo, "max": hi, "count": int(bands[i])}
                  for i, (lo, hi) in enumerate(PRICE_BANDS) if bands[i]],
    }


def _category_facet(counts: dict, tree: CategoryTree, selected: int | None) -> list[dict]:
    """Counts one level below the selected category (or at the top), rolled up the tree."""
    rolled: dict[int, int] = {}
    for cid, n in counts.items():
        if cid not in tree.by_id:
            continue
        child = tree.child_toward(selected, cid)
        if child is not None:
            rolled[child] = rolled.get(child, 0) + n
    facet = [{**tree.public(cid), "count": n} for cid, n in rolled.items()]
    return sorted(facet, key=lambda f: (-f["count"], f["name"]))


def _value_facet(counts: dict, known: dict[str, FacetValue], by_count: bool) -> list[dict]:
    facet = sorted(counts.items(), key=(lambda kv: (-kv[1], known[kv[0]].position)) if by_count
                   else (lambda kv: known[kv[0]].position))
    return [{"value": known[v].label, "count": n} for v, n in facet]


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


@dataclass
class SearchResult:
    items: list[dict[str, Any]]
    total: int
    facets: dict[str, list]
    query: dict[str, Any]
    categories: CategoryTree


async def _matching_rows(session, snap: Snapshot, cache: _Cache, terms: list[str],
                         params: SearchParams) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """Rows matching the words (and filters), trying stricter readings of the words first:
    as typed, typos corrected, a need read as products, partial words in titles, then any of
    the words."""
    if not terms:
        rows = np.flatnonzero(snap.active)
        return rows[await _filter(session, snap, rows, params, cache)], None, {}
    want_title = params.sort == "relevance"
    knows = cache.vocabulary.knows
    # An occasion or a person the catalog does not know is no typo: "wedding" is not
    # corrected into "bedding", "wife" not into "wide". Known words stay ("running").
    corrected = cache.vocabulary.correct_all(
        [t for t in terms if knows(t) or not needs.is_need(t)])
    # what the shopper named, without the needs and the people ("hoodie for my dad": hoodie)
    named = [t for t in corrected if not needs.is_need(t)]
    best = named or corrected or terms
    relaxed = {"relaxed": True, "corrected": " ".join(best) if best != terms else None}
    version = snap.text_version
    attempts = [(lambda: _full_text(session, terms, False, cache.vocabulary, want_title,
                                    version), {})]
    if corrected and corrected != terms:
        attempts.append((lambda: _full_text(session, corrected, False, cache.vocabulary,
                                             want_title, version),
                         {"corrected": " ".join(corrected)}))
    suggested = needs.suggested(terms, knows)
    if named and named != corrected:  # "a warm jacket for skiing", "hoodie for my dad"
        attempts.append((lambda: _full_text(session, named, False, cache.vocabulary,
                                             want_title, version),
                         {"relaxed": True, "corrected": " ".join(named)}))
    if suggested:  # "something for skiing": coats, jackets, gloves, ...
        attempts.append((lambda: _full_text(session, suggested, True, cache.vocabulary,
                                             want_title, version),
                         {"relaxed": True, "corrected": " ".join(suggested)}))
    attempts.append((lambda: _partial_words(session, best), relaxed))
    if len(best) > 1:
        attempts.append((lambda: _full_text(session, best, True, cache.vocabulary, want_title,
                                            version), relaxed))
    for attempt, note in attempts:
        matched = await attempt()
        ids = matched.ids
        known = ids < len(snap.position)
        rows = np.where(known, snap.position[np.where(known, ids, 0)], -1)
        live = rows >= 0
        live[live] = snap.active[rows[live]]
        rows = rows[live]
        keep = await _filter(session, snap, rows, params, cache)
        if keep.any():
            in_title = matched.in_title[live][keep] if matched.in_title is not None else None
            return rows[keep], in_title, note
    return np.empty(0, dtype=np.int64), None, attempts[-1][1]


async def search_products(session: AsyncSession, params: SearchParams) -> SearchResult:
    cache = await catalog_cache(session)
    snap = await catalog_snapshot(session)
    terms = query_terms(params.q)
    rows, in_title, note = await _matching_rows(session, snap, cache, terms, params)
    query: dict[str, Any] = {"q": params.q, "terms": terms, "corrected": None, "relaxed": False,
                             **note}
    start = (params.page - 1) * params.page_size
    phrases = query_phrases(params.q) if params.sort == "relevance" and len(rows) else []
    in_phrase = (_contains(await _phrase_ids(session, phrases, snap.text_version),
                           snap.ids[rows]) if phrases else None)
    ordered = _sorted(snap, rows, params.sort, in_title, bool(terms), in_phrase)
    page_ids = snap.ids[ordered[start:start + params.page_size]].tolist()
    return SearchResult(
        items=await product_rows(session, page_ids), total=int(len(rows)), query=query,
        categories=cache.categories,
        facets=_facets(snap, rows, params, cache) if params.facets else {},
    )
