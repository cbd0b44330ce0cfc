"""Compound product words match as one thing before their parts: "t-shirts" lists T-shirts
before denim and linen shirts, "rain jacket" rain jackets before other jackets (every case
runs on SQLite and PostgreSQL, on the demo shop)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from storefront_api.catalog.search.text import query_phrases

pytestmark = pytest.mark.usefixtures("shop_url")


def test_phrases_are_compounds_and_neighbouring_words():
    assert query_phrases("t-shirts") == ["t-shirts"]
    assert query_phrases("rain jacket") == ["rain jacket"]
    assert query_phrases("show me a rain jacket for men") == ["rain jacket"]
    # Neighbours only inside a segment: "red" and "dress" are not neighbours here.
    assert query_phrases("red t-shirt dress") == ["t-shirt"]
    assert query_phrases("hoodie") == []
    assert query_phrases("a b c") == []


async def ranked(client, q: str, pages: int = 3) -> list[dict]:
    items = []
    for page in range(1, pages + 1):
        response = await client.get("/api/products", params={
            "q": q, "page": str(page), "page_size": "48", "facets": "false"})
        assert response.status == 200, await response.text()
        body = await response.json()
        items += body["items"]
        if page >= body["pages"]:
            break
    return items


async def ids_where(db, sql: str) -> set[int]:
    async with db.read() as s:
        return {row[0] for row in await s.execute(text(sql))}


async def test_t_shirts_rank_before_other_shirts(client, db):
    tees = await ids_where(db, "SELECT p.id FROM products p JOIN categories c ON c.id ="
                               " p.category_id WHERE c.slug LIKE '%t-shirts' AND p.status ="
                               " 'active'")
    shirts = await ids_where(db, "SELECT p.id FROM products p JOIN categories c ON c.id ="
                                 " p.category_id WHERE c.slug IN ('women-shirts', 'men-shirts')"
                                 " AND p.status = 'active'")
    assert tees and shirts
    items = await ranked(client, "t-shirts")
    order = [item["id"] for item in items]
    found_tees = [i for i in order if i in tees]
    found_shirts = [i for i in order if i in shirts]
    assert found_tees, "the search found no T-shirt"
    # Every T-shirt found comes before the first plain shirt.
    if found_shirts:
        assert max(order.index(i) for i in found_tees) < min(order.index(i) for i in found_shirts)
    assert order.index(found_tees[0]) == 0


async def test_rain_jackets_rank_before_other_jackets(client, db):
    rain = await ids_where(db, "SELECT id FROM products WHERE lower(title) LIKE '%rain jacket%'"
                               " AND status = 'active'")
    assert rain
    items = await ranked(client, "rain jacket")
    order = [item["id"] for item in items]
    first = order[:len(rain)]
    assert set(first) <= rain | {i for i in first if "rain" in
                                 next(x["title"].lower() for x in items if x["id"] == i)}
    assert set(order[:min(len(rain), 5)]) <= rain


async def test_a_word_with_no_phrase_is_ranked_as_before(client):
    """One word has no phrase: the order is the title-then-rating order, unchanged."""
    items = await ranked(client, "hoodie", pages=1)
    titled = ["hoodie" in item["title"].lower() for item in items]
    assert titled == sorted(titled, reverse=True)
