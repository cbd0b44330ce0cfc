"""Product search behind one interface; the SQL proper to each database stays inside."""

from .engine import (SORTS, CategoryTree, SearchParams, SearchResult, UnknownCategory,
                     catalog_cache, forget_cached_catalog, search_products)
from .index import rebuild_index

__all__ = ["SORTS", "CategoryTree", "SearchParams", "SearchResult", "UnknownCategory",
           "catalog_cache", "forget_cached_catalog", "rebuild_index", "search_products"]
