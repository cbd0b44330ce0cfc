"""A need read as products: "something for a wedding" lists dresses and suits, not bedding;
"a warm jacket for skiing" lists jackets; a person or an occasion is never "corrected" into
a catalog word ("wife" into "wide"). Every case runs on SQLite and PostgreSQL, on the demo
shop, and is checked against the shop's own titles."""

from __future__ import annotations

import pytest

from storefront_api.catalog.search.needs import NEEDS, is_need, suggested

pytestmark = pytest.mark.usefixtures("shop_url")


async def search(client, q: str) -> dict:
    response = await client.get("/api/products", params={"q": q, "page_size": "24",
                                                         "facets": "false"})
    assert response.status == 200, await response.text()
    return await response.json()


def test_needs_suggest_only_words_the_catalog_knows():
    known = {"jacket", "coat", "gloves", "dress", "suit"}.__contains__
    assert suggested(["warm", "jacket", "skiing"], known) == ["coat", "jacket", "gloves"]
    assert suggested(["wedding", "guest", "outfit"], known) == ["suit", "dress"]
    assert suggested(["red", "hoodie"], known) == []  # no need: the usual ladder
    assert is_need("weddings") and is_need("wife") and not is_need("hoodie")
    assert all(words for words in NEEDS.values())


@pytest.mark.parametrize("q, kinds", [
    ("anything nice for a wedding guest outfit", ("dress", "suit", "blazer", "shirt")),
    ("something for skiing", ("coat", "jacket", "sweater", "fleece", "beanie", "glove",
                              "scarf", "thermal")),
    ("comfy stuff to lounge around the house in", ("jogger", "hoodie", "sweatpant",
                                                   "lounge", "slipper", "pyjama")),
])
async def test_an_occasion_lists_the_products_for_it(client, q, kinds):
    found = await search(client, q)
    assert found["items"], found["query"]
    assert "bedding" not in (found["query"]["corrected"] or "")
    # most of them are those kinds by their title (the others by their keywords)
    titled = [i for i in found["items"] if any(k in i["title"].lower() for k in kinds)]
    assert len(titled) >= len(found["items"]) // 2, [i["title"] for i in found["items"]]


async def test_the_product_named_wins_over_the_occasion(client):
    found = await search(client, "a warm jacket for skiing")
    assert found["items"] and found["query"]["corrected"] == "jacket"
    assert all("jacket" in item["title"].lower() for item in found["items"][:10]), \
        [i["title"] for i in found["items"][:10]]


async def test_a_person_is_not_corrected_into_a_catalog_word(client):
    found = await search(client, "yoga gift for my wife")
    assert "wide" not in (found["query"]["corrected"] or "").split()
    assert found["items"] and found["query"]["corrected"] == "yoga"
    assert all("yoga" in item["title"].lower() for item in found["items"][:5])


async def test_typos_in_product_words_are_still_corrected(client):
    found = await search(client, "hodie for my son")
    assert found["query"]["corrected"] and "hoodie" in found["query"]["corrected"]
    assert all("hoodie" in item["title"].lower() for item in found["items"][:5])


@pytest.mark.parametrize("q, wanted", [
    ("running shoos", ("running", "shoe")),  # a need word the catalog knows stays
    ("rain jackt", ("jacket",)),
    ("hiking boots for my son", ("hiking", "boot")),
    ("red hodie for my dad", ("hoodie",)),
])
async def test_a_product_with_a_typo_and_a_need_or_a_person_is_that_product(client, q, wanted):
    found = await search(client, q)
    first = [item["title"].lower() for item in found["items"][:5]]
    assert first and all(all(w in title for w in wanted) for title in first), \
        (found["query"], first)


async def test_the_product_named_beside_needs_is_searched_alone(client):
    """"cold weather coat": "weather" is a catalog word (all-weather) but here a need's."""
    found = await search(client, "cold weather coat")
    alone = await search(client, "coat")
    assert found["query"]["corrected"] == "coat"
    assert [i["id"] for i in found["items"]] == [i["id"] for i in alone["items"]]
