"""The demo catalog's pictures are drawn by the shop itself: every product type and colour of
the demo has one, the API gives absolute addresses to them, and they are served as SVG."""

from __future__ import annotations

import inspect
import re
import xml.etree.ElementTree as ElementTree
from urllib.parse import urlsplit

import pytest

from storefront_api.catalog import demo_catalog
from storefront_api.catalog.pictures import draw, picture_path, slug

TYPES = re.findall(r'ProductType\("([^"]+)"', inspect.getsource(demo_catalog))
COLOURS = [name for name, _, _ in demo_catalog.PALETTE]


def test_every_demo_type_and_colour_is_drawn():
    assert len(TYPES) > 30
    for product_type in TYPES:
        for colour in COLOURS:
            svg = draw(slug(product_type), slug(colour))
            assert svg is not None, (product_type, colour)
            root = ElementTree.fromstring(svg)  # well-formed
            assert root.tag.endswith("svg") and "script" not in svg.lower()


async def test_product_pictures_are_served_from_the_shop(client):
    listing = await (await client.get("/api/products?q=hoodie&page_size=5")).json()
    assert listing["items"]
    for item in listing["items"]:
        parts = urlsplit(item["image"])
        assert parts.scheme == "http" and parts.path.startswith("/images/demo/hoodie-")
        answer = await client.get(parts.path)
        assert answer.status == 200 and answer.content_type == "image/svg+xml"
        assert "<path" in await answer.text()
    page = await (await client.get(listing["items"][0]["url"])).json()
    colours = {slug(c) for c in page["colors"]}
    for image in page["images"]:
        drawn = urlsplit(image["url"]).path.rsplit("-", 1)[1].removesuffix(".svg")
        assert drawn in colours  # the product's own colours, in order


@pytest.mark.parametrize("name", ["hoodie-mauve.svg", "spaceship-red.svg", "hoodie.svg",
                                  "hoodie-red.png", "..%2Fsecret-red.svg", "HOODIE-RED.svg"])
async def test_unknown_pictures_are_not_found(client, name):
    assert (await client.get(f"/images/demo/{name}")).status == 404


def test_picture_paths():
    assert picture_path("Running Shoes", "Navy") == "/images/demo/running-shoes-navy.svg"
