"""Catalog HTTP routes: search, product pages, similar products, categories."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..app_keys import DB, SETTINGS, VIEW_EVENTS
from ..events.service import EventContext
from ..money import money
from ..problems import Problem, not_found
from .. import responses
from ..routing import ApiRoutes, int_param, json_response
from .inventory import variants_by_ids
from .search import SORTS, CategoryTree, SearchParams, UnknownCategory, search_products
from .service import (availability, breadcrumb, category_tree, get_product, similar_products,
                      split_list)

routes = ApiRoutes("catalog")

MAX_PRICE = 10**9


def _csv(value: str | None, limit: int = 10) -> tuple[str, ...]:
    if not value:
        return ()
    parts = tuple(part.strip() for part in value.split(",") if part.strip())
    if len(parts) > limit or any(len(p) > 40 for p in parts):
        raise ValueError(f"at most {limit} comma-separated values of 40 characters each")
    return parts


class ProductQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    q: str = Field("", max_length=200, description="free text: title, description, category, "
                   "tags, colour; typos and plurals are tolerated")
    category: str | None = Field(None, max_length=200,
                                 description="category slug, id or name; subcategories included")
    color: str | None = Field(None, max_length=200, description="colour(s), comma-separated")
    size: str | None = Field(None, max_length=200, description="size(s), comma-separated")
    min_price: int | None = Field(None, ge=0, le=MAX_PRICE, description="minor units, inclusive")
    max_price: int | None = Field(None, ge=0, le=MAX_PRICE, description="minor units, inclusive")
    in_stock: bool = Field(False, description="only products with a variant in stock")
    sort: Literal[SORTS] = Field("relevance", description="relevance (default with q), "
                                 "price_asc, price_desc, rating, newest (default without q)")
    page: int = Field(1, ge=1, le=1000)
    page_size: int = Field(24, ge=1, le=100)
    facets: bool = Field(True, description="include facet counts")

    @field_validator("color", "size")
    @classmethod
    def _list(cls, value: str | None) -> str | None:
        _csv(value)
        return value

    @model_validator(mode="after")
    def _range(self):
        if self.min_price is not None and self.max_price is not None \
                and self.min_price > self.max_price:
            raise ValueError("min_price must not be above max_price")
        return self


def picture_url(url: str | None, base: str) -> str | None:
    """A picture this server draws (/images/demo/...) as an absolute address, so the chat's
    cards and the messaging channels can show it wherever they are."""
    return base.rstrip("/") + url if url and url.startswith("/") and base else url


def product_summary(row: dict[str, Any], tree: CategoryTree, base: str = "") -> dict[str, Any]:
    currency = row["currency"]
    compare_at = row.get("compare_at_price")
    return {
        "id": row["id"], "handle": row["handle"], "title": row["title"], "vendor": row["vendor"],
        "category": tree.public(row["category_id"]) if row["category_id"] in tree.by_id else None,
        "price": money(row["min_price"], currency),
        "max_price": money(row["max_price"], currency),
        "compare_at_price": money(compare_at, currency) if compare_at else None,
        "on_sale": bool(compare_at and compare_at > row["min_price"]),
        "in_stock": bool(row["in_stock"]),
        "colors": split_list(row["colors"]), "sizes": split_list(row["sizes"]),
        "rating": round(float(row["rating"] or 0), 1), "rating_count": row["rating_count"],
        "image": picture_url(row.get("image"), base), "url": f"/api/products/{row['id']}",
    }


@routes.get("/api/products", summary="Search and browse products", query=ProductQuery,
            errors=(404, 422),
            response=responses.ProductList)
async def list_products(request: web.Request, query: ProductQuery) -> web.Response:
    """Free text plus filters, sorting, pagination and facet counts (category, colour, size,
    price bands) over the result set. ``query`` tells how the text was understood: typos
    corrected, or the search relaxed when the words as typed matched nothing."""
    params = SearchParams(
        q=query.q, category=query.category, colors=_csv(query.color), sizes=_csv(query.size),
        min_price=query.min_price, max_price=query.max_price, in_stock=query.in_stock,
        sort=query.sort, page=query.page, page_size=query.page_size, facets=query.facets)
    db = request.app[DB]
    async with db.read() as session:
        try:
            result = await search_products(session, params)
        except UnknownCategory as exc:
            raise Problem(404, "Not found", f"There is no category {str(exc)!r}.",
                          type="unknown-category") from None
    base = request.app[SETTINGS].storefront_url
    items = [product_summary(row, result.categories, base) for row in result.items]
    request.app[VIEW_EVENTS].add("view_item_list", EventContext.from_request(request),
                                 properties={"q": query.q[:200], "category": query.category,
                                             "color": query.color, "size": query.size,
                                             "results": result.total,
                                             "items": [i["id"] for i in items[:10]]})
    return json_response({
        "items": items, "total": result.total, "page": query.page,
        "page_size": query.page_size,
        "pages": (result.total + query.page_size - 1) // query.page_size,
        "query": result.query, "facets": result.facets,
    })


def _variant(v, currency: str, for_sale: int) -> dict[str, Any]:
    """``for_sale``: the units a shopper can buy now, the stock not held by open checkouts
    (inventory.VariantInfo.available), the same count the cart checks an addition against."""
    return {
        "id": v.id, "sku": v.sku, "title": v.title, "size": v.size, "color": v.color,
        "price": money(v.price, v.currency or currency),
        "compare_at_price": money(v.compare_at_price, v.currency or currency)
        if v.compare_at_price else None,
        "stock": for_sale, "available": for_sale > 0, "availability": availability(for_sale),
    }


@routes.get(r"/api/products/{id:\d+}", summary="A product with its variants and availability",
            errors=(404,),
            response=responses.ProductPage)
async def get_product_page(request: web.Request) -> web.Response:
    product_id = int_param(request, "id", "product")
    db = request.app[DB]
    async with db.read() as session:
        product = await get_product(session, product_id)
        if product is None:
            raise not_found("product", product_id)
        tree = await category_tree(session)
        for_sale = await variants_by_ids(session, [v.id for v in product.variants])
    body = product_summary({**{c: getattr(product, c) for c in (
        "id", "handle", "title", "vendor", "category_id", "currency", "min_price", "max_price",
        "in_stock", "colors", "sizes", "rating", "rating_count")},
        "image": product.images[0].url if product.images else None,
        "compare_at_price": max((v.compare_at_price or 0 for v in product.variants
                                 if v.price == product.min_price), default=0)}, tree,
        request.app[SETTINGS].storefront_url)
    body.update({
        "description": product.description, "product_type": product.product_type,
        "tags": [t.strip() for t in product.tags.split(",") if t.strip()],
        "breadcrumb": breadcrumb(tree, product.category_id),
        "images": [{"url": picture_url(i.url, request.app[SETTINGS].storefront_url),
                    "alt": i.alt} for i in product.images],
        "attributes": [{"name": a.name, "value": a.value} for a in product.attributes],
        "variants": [_variant(v, product.currency, for_sale[v.id].available)
                     for v in product.variants],
        "options": {"color": split_list(product.colors), "size": split_list(product.sizes)},
    })
    request.app[VIEW_EVENTS].add("view_item", EventContext.from_request(request),
                                 item_id=product.id, value=product.min_price,
                                 currency=product.currency)
    return json_response(body)


@routes.get(r"/api/products/{id:\d+}/similar", summary="Products similar to this one",
            errors=(404,),
            response=responses.SimilarProducts)
async def get_similar(request: web.Request) -> web.Response:
    product_id = int_param(request, "id", "product")
    async with request.app[DB].read() as session:
        product = await get_product(session, product_id)
        if product is None:
            raise not_found("product", product_id)
        rows = await similar_products(session, product)
        tree = await category_tree(session)
    base = request.app[SETTINGS].storefront_url
    return json_response({"items": [product_summary(r, tree, base) for r in rows]})


@routes.get("/api/categories", summary="The category tree",
            response=responses.CategoryTree)
async def list_categories(request: web.Request) -> web.Response:
    async with request.app[DB].read() as session:
        tree = await category_tree(session)

    def node(cid: int) -> dict[str, Any]:
        return {**tree.public(cid), "children": [node(c) for c in tree.children.get(cid, [])]}

    return json_response({"categories": [node(c) for c in tree.children.get(None, [])]})
