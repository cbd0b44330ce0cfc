"""Product search behind one interface; the SQL proper to each database stays inside."""

from .engine import (SORTS, CategoryTree, SearchParams, SearchResult, UnknownCategory,
                     catalog_cache, catalog_snapshot, forget_cached_catalog, product_rows,
                     search_products)
from .index import rebuild_index, reindex_products

__all__ = ["SORTS", "CategoryTree", "SearchParams", "SearchResult", "UnknownCategory",
           "catalog_cache", "catalog_snapshot", "forget_cached_catalog", "product_rows",
           "rebuild_index", "reindex_products", "search_products"]
