"""Importing a Shopify product CSV: creates, reports bad lines, updates on re-import."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from storefront_api.catalog.demo_catalog import seed_catalog
from storefront_api.catalog.models import Category, Product, ProductImage, Variant
from storefront_api.catalog.shopify_import import (BadRow, html_to_text, import_shopify_csv,
                                                   parse_price)

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "shopify_sample.csv"
BAD_LINES = [
    (13, "duplicate SKU 'RUN-42-RED' (first used on line 8)"),
    (17, "Variant Price 'abc' is not a number"),
    (19, "negative Variant Inventory Qty (-3)"),
    (20, "missing Handle"),
    (21, "no product row with a Title for handle 'ghost-product'"),
]


async def _products(db) -> dict[str, Product]:
    async with db.read() as session:
        rows = (await session.execute(select(Product))).scalars().all()
    return {p.handle: p for p in rows}


async def _variants(db) -> dict[str, Variant]:
    async with db.read() as session:
        rows = (await session.execute(select(Variant))).scalars().all()
    return {v.sku: v for v in rows}


async def test_import_creates_products_variants_and_images(empty_db):
    report = await import_shopify_csv(empty_db, SAMPLE)
    assert (report.created, report.updated) == (6, 0)
    assert (report.variants_created, report.variants_updated) == (15, 0)
    products = await _products(empty_db)
    assert set(products) == {"classic-hoodie", "trail-runner", "ceramic-mug",
                             "linen-duvet-cover", "wool-beanie", "yoga-mat"}
    hoodie = products["classic-hoodie"]
    assert hoodie.title == "Classic Organic Hoodie" and hoodie.vendor == "Northpeak"
    assert hoodie.description == "Soft organic cotton fleece.\n\n- Kangaroo pocket\n- Ribbed cuffs"
    assert hoodie.tags == "organic,cotton,casual"
    assert products["wool-beanie"].status == "draft"
    assert products["yoga-mat"].description == "Non-slip cork top.\nNatural rubber base."
    async with empty_db.read() as session:
        images = (await session.execute(
            select(ProductImage.url, ProductImage.alt).where(ProductImage.product_id == hoodie.id)
            .order_by(ProductImage.position))).all()
    assert [tuple(i) for i in images] == [
        ("https://cdn.example.com/hoodie-black.jpg", "Black hoodie"),
        ("https://cdn.example.com/hoodie-navy.jpg", "Classic Organic Hoodie"),
        ("https://cdn.example.com/hoodie-back.jpg", "Back view")]


async def test_bad_rows_are_reported_with_their_line_numbers(empty_db):
    report = await import_shopify_csv(empty_db, SAMPLE)
    assert report.skipped == BAD_LINES
    variants = await _variants(empty_db)
    assert "DUV-T-SND" not in variants and "BEAN-CRM" not in variants
    assert "GHOST-M" not in variants and "BEAN-OLV" not in variants


async def test_options_map_to_size_colour_and_title(empty_db):
    await import_shopify_csv(empty_db, SAMPLE)
    variants = await _variants(empty_db)
    duvet = variants["DUV-Q-SND"]
    assert (duvet.size, duvet.color, duvet.title) == ("Queen", "Sand", "Queen / Sand / Washed")
    runner = variants["RUN-43-BLU"]  # Size first, then "Colour"
    assert (runner.size, runner.color, runner.price, runner.stock) == ("43", "Blue", 13450, 4)
    mug = variants["MUG-001"]  # Shopify's single-variant "Default Title"
    assert (mug.size, mug.color, mug.title, mug.price) == (None, None, "", 1850)
    # No SKU in the file: one made from the handle and options, stable across imports.
    assert {"YOGA-MAT-NATURAL", "YOGA-MAT-BLACK"} <= set(variants)
    assert variants["HOOD-BLK-S"].compare_at_price == 5999


async def test_product_summaries_follow_the_variants(empty_db):
    await import_shopify_csv(empty_db, SAMPLE)
    products = await _products(empty_db)
    hoodie, runner = products["classic-hoodie"], products["trail-runner"]
    assert (hoodie.min_price, hoodie.max_price, hoodie.in_stock) == (4999, 5200, True)
    assert set(hoodie.colors.strip("|").split("|")) == {"black", "navy"}
    assert set(hoodie.sizes.strip("|").split("|")) == {"S", "M"}
    assert (runner.min_price, runner.max_price) == (12900, 13450)
    assert set(runner.colors.strip("|").split("|")) == {"red", "blue"}
    assert products["yoga-mat"].in_stock is True
    assert products["ceramic-mug"].sizes == "" and products["ceramic-mug"].colors == ""


async def test_reimport_updates_instead_of_duplicating(empty_db, tmp_path):
    await import_shopify_csv(empty_db, SAMPLE)
    changed = tmp_path / "changed.csv"
    changed.write_text(SAMPLE.read_text(encoding="utf-8")
                       .replace("HOOD-BLK-M,49.99", "HOOD-BLK-M,44.99")
                       .replace("Stoneware Mug,", "Stoneware Coffee Mug,"), encoding="utf-8")
    report = await import_shopify_csv(empty_db, changed)
    assert (report.created, report.updated) == (0, 6)
    assert (report.variants_created, report.variants_updated) == (0, 15)
    assert report.skipped == BAD_LINES
    variants = await _variants(empty_db)
    products = await _products(empty_db)
    assert len(variants) == 15 and len(products) == 6
    assert variants["HOOD-BLK-M"].price == 4499
    assert products["classic-hoodie"].min_price == 4499
    assert products["ceramic-mug"].title == "Stoneware Coffee Mug"
    async with empty_db.read() as session:
        images = await session.scalar(select(func.count()).select_from(ProductImage))
    assert images == 7


async def test_types_find_existing_categories_or_go_under_imported(empty_db):
    await seed_catalog(empty_db, 10, seed=3)
    await import_shopify_csv(empty_db, SAMPLE)
    async with empty_db.read() as session:
        categories = {c.id: c for c in (await session.execute(select(Category))).scalars()}
    products = await _products(empty_db)
    hoodie = categories[products["classic-hoodie"].category_id]
    assert hoodie.name == "Hoodies" and hoodie.slug == "women-hoodies"  # "Hoodie" -> "Hoodies"
    shoes = categories[products["trail-runner"].category_id]
    assert (shoes.slug, shoes.path, shoes.name) == (
        "imported-running-shoes", "imported/running-shoes", "Running Shoes")
    assert categories[shoes.parent_id].slug == "imported"


async def test_utf8_bom_is_accepted(empty_db, tmp_path):
    with_bom = tmp_path / "bom.csv"
    with_bom.write_bytes(b"\xef\xbb\xbf" + SAMPLE.read_bytes())
    report = await import_shopify_csv(empty_db, with_bom)
    assert report.created == 6


async def test_a_file_that_is_not_a_shopify_csv_is_refused(empty_db, tmp_path):
    other = tmp_path / "orders.csv"
    other.write_text("Name,Email,Total\n#1001,a@example.com,19.99\n")
    with pytest.raises(ValueError, match="not a Shopify product CSV.*Handle"):
        await import_shopify_csv(empty_db, other)
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(SAMPLE.read_bytes().replace(b"Hand-glazed", b"Fa\xe7onn\xe9"))
    with pytest.raises(ValueError, match="not UTF-8"):
        await import_shopify_csv(empty_db, latin1)


@pytest.mark.parametrize("text, exponent, minor", [
    ("19.99", 2, 1999), ("0.29", 2, 29), ("18.5", 2, 1850), ("1,299.00", 2, 129900),
    ("1200", 0, 1200), ("7", 2, 700), ("4.105", 3, 4105), ("0", 2, 0),
])
def test_prices_convert_exactly(text, exponent, minor):
    assert parse_price(text, exponent, "Variant Price") == minor


@pytest.mark.parametrize("text, exponent", [
    ("19.999", 2), ("12,99", 2), ("-1.00", 2), ("NaN", 2), ("$5", 2), ("12.5", 0),
    ("99999999999", 2),
])
def test_bad_prices_are_refused(text, exponent):
    with pytest.raises(BadRow):
        parse_price(text, exponent, "Variant Price")


def test_html_to_text_keeps_paragraphs_and_drops_markup():
    html = ("<h2>Details</h2><p>Soft &amp; warm,\n  made to last.</p><p>Care:<br>wash cold</p>"
            "<style>p{color:red}</style><ul><li>One</li><li>Two</li></ul>")
    assert html_to_text(html) == (
        "Details\n\nSoft & warm, made to last.\n\nCare:\nwash cold\n\n- One\n- Two")
    assert html_to_text("plain text") == "plain text"
