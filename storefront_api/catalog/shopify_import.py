"""Import a Shopify product CSV (``python -m storefront_api import-catalog FILE.csv``).

Shopify's format: one row per variant (and per extra image); the first row of a product
carries Title, Body (HTML), Vendor, Type, Tags and the option names, the following rows with
the same Handle carry only variant and/or image columns.

Matching: products by Handle, variants by SKU (a variant without a SKU gets a stable one made
from the handle and its option values), so importing the same file twice updates instead of
duplicating. Variants missing from the file are left alone: a file may be a partial update.
A product's images are replaced by the file's when the file lists any for it.

Bad rows are skipped and reported with their CSV line number (the header is line 1), the rest
imports; the whole import is one transaction.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import Database
from ..money import minor_unit_exponent
from ..progress import count
from .models import Category, Product, ProductImage, Variant

Progress = Callable[[str], None]

REQUIRED_COLUMNS = ("Handle", "Title", "Variant Price")
KNOWN_COLUMNS = REQUIRED_COLUMNS + (
    "Body (HTML)", "Vendor", "Type", "Product Type", "Product Category", "Tags", "Published",
    "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value", "Option3 Name",
    "Option3 Value", "Variant SKU", "Variant Compare At Price", "Variant Inventory Qty",
    "Image Src", "Image Position", "Image Alt Text", "Status")
VARIANT_COLUMNS = ("variant sku", "variant price", "variant compare at price",
                   "variant inventory qty", "option1 value", "option2 value", "option3 value")
STATUSES = ("active", "draft", "archived")
MAX_INT = 2**31 - 1  # PostgreSQL integer columns
CHUNK = 500          # values per IN (...) list
IMPORTED_ROOT = ("imported", "Imported")  # slug, name of the category for new product types


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    variants_created: int = 0
    variants_updated: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (CSV line, reason)


class BadRow(ValueError):
    """A row that cannot be imported; the message is the reason shown to the merchant."""


@dataclass
class VariantDraft:
    line: int
    sku: str
    options: list[str]
    price: int
    compare_at_price: int | None
    stock: int


@dataclass
class ProductDraft:
    handle: str
    line: int = 0                  # the row that gave the Title (0: none did)
    title: str = ""
    description: str = ""
    vendor: str = ""
    product_type: str = ""
    tags: str = ""
    status: str = "active"
    option_names: list[str] = field(default_factory=list)
    variants: list[VariantDraft] = field(default_factory=list)
    images: list[tuple[int, str, str]] = field(default_factory=list)  # (position, url, alt)
    lines: list[int] = field(default_factory=list)  # every row of this handle


# ---------------------------------------------------------------------------------------------
# Reading the file.

def read_shopify_csv(path: str | Path, currency: str = "USD"
                     ) -> tuple[list[ProductDraft], list[tuple[int, str]]]:
    """Parse the file into product drafts (in file order) and the rows skipped so far."""
    exponent = minor_unit_exponent(currency)
    drafts: dict[str, ProductDraft] = {}
    skipped: list[tuple[int, str]] = []
    first_sku_line: dict[str, int] = {}
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            reader = csv.reader(file)
            for line, row in _numbered_rows(reader, path):
                try:
                    _read_row(row, line, drafts, first_sku_line, exponent)
                except BadRow as reason:
                    skipped.append((line, str(reason)))
    except csv.Error as exc:
        raise ValueError(f"{path}, line {reader.line_num}: not valid CSV ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                         "export the CSV from Shopify again or save it as UTF-8") from None
    return list(drafts.values()), skipped


def _numbered_rows(reader, path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line where the row starts, {lower-case column: stripped value}) per data row.

    A quoted Body (HTML) may span several lines, so the line is counted from the reader."""
    header = next(reader, None)
    columns = [name.strip().lower() for name in header or []]
    missing = [name for name in REQUIRED_COLUMNS if name.lower() not in columns]
    if missing:
        raise ValueError(
            f"{path} is not a Shopify product CSV: missing column(s) {', '.join(missing)}. "
            f"Required columns: {', '.join(REQUIRED_COLUMNS)}; also read: "
            f"{', '.join(KNOWN_COLUMNS[len(REQUIRED_COLUMNS):])}.")
    next_line = reader.line_num + 1
    for values in reader:
        line, next_line = next_line, reader.line_num + 1
        if any(value.strip() for value in values):
            yield line, {name: value.strip() for name, value in zip(columns, values)}


def _read_row(row: dict[str, str], line: int, drafts: dict[str, ProductDraft],
              first_sku_line: dict[str, int], exponent: int) -> None:
    handle = row.get("handle", "")
    if not handle:
        raise BadRow("missing Handle")
    if len(handle) > 200:
        raise BadRow("Handle is longer than 200 characters")
    draft = drafts.setdefault(handle, ProductDraft(handle))
    if row.get("title"):
        if draft.line:
            raise BadRow(f"handle {handle!r} already has its product row at line {draft.line}"
                         " (only a product's first row carries a Title)")
        _read_product_fields(draft, row, line)
    try:
        variant = _read_variant(row, line, handle, exponent)
        if variant is not None and variant.sku in first_sku_line:
            raise BadRow(f"duplicate SKU {variant.sku!r} (first used on line "
                         f"{first_sku_line[variant.sku]})")
    except BadRow as reason:
        if draft.line != line:
            raise
        draft.lines.append(line)  # the product row itself: its product fields still count
        raise BadRow(f"variant not imported: {reason}") from None
    if variant is not None:
        first_sku_line[variant.sku] = line
        draft.variants.append(variant)
    image = _read_image(row, len(draft.images))
    if image is not None and all(url != image[1] for _, url, _ in draft.images):
        draft.images.append(image)
    draft.lines.append(line)


def _read_product_fields(draft: ProductDraft, row: dict[str, str], line: int) -> None:
    title = row["title"]
    if len(title) > 255:
        raise BadRow("Title is longer than 255 characters")
    status = row.get("status", "").lower()
    if status not in STATUSES:
        status = "draft" if row.get("published", "").lower() == "false" else "active"
    draft.line, draft.title, draft.status = line, title, status
    draft.description = html_to_text(row.get("body (html)", ""))
    draft.vendor = row.get("vendor", "")[:120]
    draft.product_type = _product_type(row)[:120]
    draft.tags = ",".join(dict.fromkeys(
        tag.strip().lower() for tag in row.get("tags", "").split(",") if tag.strip()))
    draft.option_names = [row.get(f"option{i} name", "") for i in (1, 2, 3)]


def _product_type(row: dict[str, str]) -> str:
    if row.get("type") or row.get("product type"):
        return row.get("type") or row["product type"]
    # "Apparel & Accessories > Clothing > Shirts & Tops": the most specific part.
    return row.get("product category", "").split(">")[-1].strip()


def _read_variant(row: dict[str, str], line: int, handle: str, exponent: int
                  ) -> VariantDraft | None:
    if not any(row.get(name) for name in VARIANT_COLUMNS):
        return None  # an image-only (or product-only) row
    options = [row.get(f"option{i} value", "") for i in (1, 2, 3)]
    if not row.get("variant price"):
        raise BadRow("missing Variant Price")
    price = parse_price(row["variant price"], exponent, "Variant Price")
    compare_at = None
    if row.get("variant compare at price"):
        compare_at = parse_price(row["variant compare at price"], exponent,
                                 "Variant Compare At Price")
        if compare_at <= price:
            compare_at = None  # not a markdown: a "was" price must be higher than the price
    sku = row.get("variant sku") or _generated_sku(handle, options)
    if len(sku) > 100:
        raise BadRow("Variant SKU is longer than 100 characters")
    return VariantDraft(line, sku, options, price, compare_at, _parse_stock(row))


def _read_image(row: dict[str, str], count: int) -> tuple[int, str, str] | None:
    url = row.get("image src", "")
    if not url:
        return None
    position = row.get("image position", "")
    order = int(position) if position.isdigit() else count + 1
    return order, url[:1000], row.get("image alt text", "")[:255]


def parse_price(text: str, exponent: int, column: str) -> int:
    """'19.99' -> 1999 exactly (Decimal, never float); a BadRow naming ``column`` if not."""
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", text):
        text = text.replace(",", "")  # "1,299.00"; a decimal comma ("12,99") stays an error
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise BadRow(f"{column} {text!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise BadRow(f"{column} {text!r} is not a price")
    minor = amount.scaleb(exponent)
    if minor != minor.to_integral_value():
        raise BadRow(f"{column} {text!r} has more than {exponent} decimal places")
    if minor > MAX_INT:
        raise BadRow(f"{column} {text!r} is too large")
    return int(minor)


def _parse_stock(row: dict[str, str]) -> int:
    text = row.get("variant inventory qty", "")
    if not text:
        return 0
    if not re.fullmatch(r"[+-]?\d+", text):
        raise BadRow(f"Variant Inventory Qty {text!r} is not a whole number")
    stock = int(text)
    if stock < 0:
        raise BadRow(f"negative Variant Inventory Qty ({stock})")
    if stock > MAX_INT:
        raise BadRow(f"Variant Inventory Qty {text!r} is too large")
    return stock


def _generated_sku(handle: str, options: list[str]) -> str:
    """Stable across imports, so a SKU-less variant is still matched the next time."""
    parts = [handle] + [value for value in options if value and value != "Default Title"]
    return re.sub(r"[^A-Z0-9]+", "-", "-".join(parts).upper()).strip("-")


class _TextExtractor(HTMLParser):
    BLOCKS = {"p", "div", "section", "article", "blockquote", "ul", "ol", "table", "tr", "h1",
              "h2", "h3", "h4", "h5", "h6"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0  # inside <script> or <style>

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.hidden += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Plain text of Shopify's Body (HTML): paragraphs kept apart by a blank line, list items
    as "- " lines, tags and scripts dropped, entities decoded."""
    if "<" not in html and "&" not in html:
        return html.strip()
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", "".join(parser.parts))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# ---------------------------------------------------------------------------------------------
# Writing.

async def import_shopify_csv(db: Database, path: str | Path, *, currency: str = "USD",
                             progress: Progress | None = None) -> ImportReport:
    """Import (or update from) a Shopify product CSV; see the module docstring."""
    report_progress = progress or (lambda message: None)
    currency = currency.upper()
    drafts, skipped = read_shopify_csv(path, currency)
    report = ImportReport(skipped=skipped)
    report_progress(f"read {len(drafts):,} handles from {path}")
    async with db.write() as session:
        touched = await _write_products(session, drafts, currency, report, report_progress)
        from .service import refresh_product_summaries  # service imports the search package
        for start in range(0, len(touched), CHUNK):
            await refresh_product_summaries(session, touched[start:start + CHUNK])
    report.skipped.sort()
    if touched:
        from .search import rebuild_index
        await rebuild_index(db, product_ids=touched, progress=progress)
    return report


async def _write_products(session: AsyncSession, drafts: list[ProductDraft], currency: str,
                          report: ImportReport, progress: Progress) -> list[int]:
    """Products first (one flush gives every new one its id), then variants and images."""
    products = await _by_key(session, Product, Product.handle, [d.handle for d in drafts])
    variants = await _by_key(session, Variant, Variant.sku,
                             [v.sku for d in drafts for v in d.variants])
    categories = _CategoryFinder(session)
    imported: list[tuple[ProductDraft, Product]] = []
    for done, draft in enumerate(drafts, 1):
        if done % 500 == 0 or done == len(drafts):
            count(progress, "products", done, len(drafts), note=f"read {done:,} products")
        product = products.get(draft.handle)
        if not _importable(draft, product, report):
            continue
        # The category first: looking it up flushes, and a new product must be complete then.
        category_id = await categories.find_or_create(draft.product_type) if draft.title else None
        if product is None:
            product = Product(handle=draft.handle, currency=currency)
            report.created += 1
        else:
            report.updated += 1
        if draft.title:
            _set_product_fields(product, draft, category_id)
        session.add(product)
        imported.append((draft, product))
    await session.flush()
    progress(f"wrote {len(imported):,} products")
    for draft, product in imported:
        _write_variants(session, product, draft, variants, currency, report)
    await _replace_images(session, [(d, p) for d, p in imported if d.images])
    await session.flush()
    progress(f"wrote {report.variants_created + report.variants_updated:,} variants")
    return [product.id for _, product in imported]


def _importable(draft: ProductDraft, product: Product | None, report: ImportReport) -> bool:
    if product is None and not draft.title:
        reason = f"no product row with a Title for handle {draft.handle!r}"
        report.skipped.extend((line, reason) for line in draft.lines)
        return False
    if product is None and not draft.variants:
        report.skipped.append((draft.line, f"product {draft.handle!r} not imported: none of "
                                           "its variant rows could be imported"))
        return False
    return True


def _set_product_fields(product: Product, draft: ProductDraft, category_id: int | None) -> None:
    product.title = draft.title
    product.description = draft.description
    product.vendor = draft.vendor
    product.product_type = draft.product_type
    product.tags = draft.tags
    product.status = draft.status
    product.category_id = category_id


def _write_variants(session: AsyncSession, product: Product, draft: ProductDraft,
                    existing: dict[str, Variant], currency: str, report: ImportReport) -> None:
    names = [name.lower() for name in draft.option_names]
    for position, row in enumerate(draft.variants):
        variant = existing.get(row.sku)
        if variant is not None and variant.product_id != product.id:
            report.skipped.append((row.line, f"SKU {row.sku!r} belongs to another product "
                                             f"(id {variant.product_id})"))
            continue
        size, color, title = _options(names, row.options)
        if variant is None:
            variant = Variant(product_id=product.id, sku=row.sku)
            session.add(variant)
            existing[row.sku] = variant
            report.variants_created += 1
        else:
            report.variants_updated += 1
        variant.title, variant.size, variant.color = title, size, color
        variant.price, variant.compare_at_price = row.price, row.compare_at_price
        variant.currency, variant.stock, variant.position = currency, row.stock, position


def _options(names: list[str], values: list[str]) -> tuple[str | None, str | None, str]:
    """(size, colour, variant title) from Shopify's three option name/value pairs."""
    size = color = None
    shown = []
    for name, value in zip(names, values):
        if not value or value == "Default Title":
            continue
        shown.append(value)
        if name == "size":
            size = value[:40]
        elif name in ("color", "colour"):
            color = value[:60]
    return size, color, " / ".join(shown)[:255]


async def _replace_images(session: AsyncSession,
                          imported: list[tuple[ProductDraft, Product]]) -> None:
    ids = [product.id for _, product in imported]
    for start in range(0, len(ids), CHUNK):
        await session.execute(delete(ProductImage).where(
            ProductImage.product_id.in_(ids[start:start + CHUNK])))
    for draft, product in imported:
        images = sorted(draft.images, key=lambda image: image[0])  # by Image Position
        for position, (_, url, alt) in enumerate(images):
            session.add(ProductImage(product_id=product.id, url=url, alt=alt or product.title,
                                     position=position))


async def _by_key(session: AsyncSession, model, column, keys: Iterable[str]) -> dict:
    found = {}
    keys = list(dict.fromkeys(keys))
    for start in range(0, len(keys), CHUNK):
        rows = await session.execute(select(model).where(column.in_(keys[start:start + CHUNK])))
        found.update((getattr(row, column.key), row) for row in rows.scalars())
    return found


class _CategoryFinder:
    """A product type -> category: an existing one of that name ("Hoodie" finds "Hoodies"),
    else one created under the "Imported" root."""

    def __init__(self, session: AsyncSession):
        self.session = session
        self.by_name: dict[str, int] | None = None
        self.by_slug: dict[str, int] = {}

    async def find_or_create(self, product_type: str) -> int | None:
        if not product_type:
            return None
        if self.by_name is None:
            await self._load()
        wanted = product_type.lower()
        for name in (wanted, wanted + "s", wanted + "es"):
            if name in self.by_name:
                return self.by_name[name]
        slug = f"{IMPORTED_ROOT[0]}-{_slugify(product_type)}"
        if slug not in self.by_slug:
            root = await self._root()
            category = Category(parent_id=root, slug=slug, name=product_type[:120],
                                path=f"{IMPORTED_ROOT[0]}/{_slugify(product_type)}",
                                position=0)  # siblings then sort by name
            self.session.add(category)
            await self.session.flush()
            self.by_slug[slug] = self.by_name[wanted] = category.id
        return self.by_slug[slug]

    async def _load(self) -> None:
        rows = (await self.session.execute(
            select(Category.id, Category.slug, func.lower(Category.name)).order_by(Category.id)
        )).all()
        self.by_name = {}
        for category_id, slug, name in rows:
            self.by_name.setdefault(name, category_id)  # the oldest of equal names wins
            self.by_slug[slug] = category_id

    async def _root(self) -> int:
        slug, name = IMPORTED_ROOT
        if slug not in self.by_slug:
            roots = await self.session.scalar(
                select(func.count()).select_from(Category).where(Category.parent_id.is_(None)))
            root = Category(parent_id=None, slug=slug, name=name, path=slug, position=roots)
            self.session.add(root)
            await self.session.flush()
            self.by_slug[slug] = root.id
        return self.by_slug[slug]


def _slugify(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-") or "other"
