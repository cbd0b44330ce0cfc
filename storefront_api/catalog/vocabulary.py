"""The catalog's words for the chat assistant's NLU: Rasa lookup tables and synonyms.

``export_bot_lookups(db, out_dir)`` reads categories, product types (and the more specific
nouns their titles use: "Chelsea Boots", "Zip Hoodie"), colours, sizes and brands from the
database and writes one Rasa NLU file per entity (``product_type.yml``, ``category.yml``,
``color.yml``, ``size.yml``, ``brand.yml``). Each file has a lookup table (every lower-case
way of writing a value) and one synonym per value, so "hoodies" and "HOODIE" reach the
search as the catalog's own "Hoodie".

Output is sorted and written only when it changed: re-running on the same catalog leaves the
files byte for byte (and mtime) unchanged, so ``rasa train`` keeps the last model.

Rasa's synonyms are global (keyed by text, whatever the entity), so one spelling maps to one
value across all five files: when two entities claim a spelling, the earlier entity in
``ENTITIES`` keeps it (a category called "Socks" is found as the product type "Socks").
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import distinct, select

from ..db import Database
from .models import Category, Product, ProductAttribute, Variant

# Precedence when two entities claim the same spelling (see the module docstring).
ENTITIES = ("product_type", "color", "size", "brand", "category")
# A title noun ("Trail Running Shoes") has at most this many words...
MAX_NOUN_WORDS = 3
# ...and must name at least this many products: one odd title is not vocabulary.
MIN_NOUN_PRODUCTS = 2
# How shoppers say the sizes a catalog uses; applied only to sizes the catalog has.
SIZE_WORDS = {
    "XS": ("extra small", "x-small", "xsmall"),
    "S": ("small",),
    "M": ("medium", "med"),
    "L": ("large",),
    "XL": ("extra large", "x-large", "xlarge"),
    "XXL": ("2xl", "xx-large", "extra extra large"),
    "One Size": ("one-size", "onesize", "one size fits all"),
    "Queen": ("queen size", "queen-size"),
    "King": ("king size", "king-size"),
    "Twin": ("twin size", "single"),
    "Full": ("full size", "double"),
}
# Possessive and plural ways of naming a department.
DEPARTMENT_WORDS = {"women": ("womens", "women's", "woman", "womans", "ladies", "female"),
                    "men": ("mens", "men's", "man", "mans", "male")}
HEADER = ("# Generated from the catalog by `python -m storefront_api export-bot-lookups`.\n"
          "# Do not edit: re-run the command after the catalog changes.\n")


@dataclass
class Vocabulary:
    """Canonical value -> the lower-case spellings that mean it, per entity."""
    values: dict[str, dict[str, set[str]]] = field(
        default_factory=lambda: {entity: defaultdict(set) for entity in ENTITIES})

    def add(self, entity: str, canonical: str, spellings) -> None:
        canonical = canonical.strip()
        if canonical:
            self.values[entity][canonical].update(
                s for s in (_norm(x) for x in spellings) if s)


async def read_vocabulary(db: Database) -> Vocabulary:
    """Everything a shopper may name, read from the catalog (active products only)."""
    vocabulary = Vocabulary()
    async with db.read() as session:
        products = (await session.execute(
            select(Product.id, Product.product_type, Product.title, Product.vendor, Product.tags)
            .where(Product.status == "active"))).all()
        materials = defaultdict(list)
        for product_id, value in await session.execute(
                select(ProductAttribute.product_id, ProductAttribute.value)
                .where(ProductAttribute.name == "Material")):
            materials[product_id].append(value)
        colours = (await session.scalars(select(distinct(Variant.color)))).all()
        sizes = (await session.scalars(select(distinct(Variant.size)))).all()
        categories = (await session.scalars(select(Category.name))).all()
    _add_product_types(vocabulary, products, materials)
    for colour in filter(None, colours):
        vocabulary.add("color", colour, [colour, colour.replace("grey", "gray")])
    for size in filter(None, sizes):
        vocabulary.add("size", size, [size, size.replace(" ", ""), *SIZE_WORDS.get(size, ())])
    for brand in {p.vendor for p in products if p.vendor}:
        vocabulary.add("brand", brand, _brand_spellings(brand))
    for name in set(categories):
        vocabulary.add("category", name, _category_spellings(name))
    return vocabulary


def _add_product_types(vocabulary: Vocabulary, products, materials) -> None:
    nouns: Counter[tuple[str, str]] = Counter()
    for product in products:
        if not product.product_type:
            continue
        vocabulary.add("product_type", product.product_type,
                       _plural_forms(product.product_type))
        noun = title_noun(product.title, product.product_type,
                          [product.vendor, product.tags, *materials[product.id]])
        if noun and _norm(noun) != _norm(product.product_type):
            nouns[noun, product.product_type] += 1
    for (noun, _type), count in sorted(nouns.items()):
        if count >= MIN_NOUN_PRODUCTS:
            vocabulary.add("product_type", noun, _plural_forms(noun))


def title_noun(title: str, product_type: str, descriptive: list[str]) -> str | None:
    """The noun a title ends with: "Women's Heritage Organic Cotton Zip Hoodie" -> "Zip
    Hoodie". Words are taken from the end while they are not descriptive (the style and
    material, which the tags and attributes name, the vendor, the department)."""
    type_words = set(_words(product_type))
    skip = {w for text in descriptive for w in _words(text or "")} - type_words
    skip |= {"women", "men", "womens", "mens"}
    taken: list[str] = []
    for word in reversed(title.split()):
        key = _words(word)
        if not key or any(k in skip for k in key) or len(taken) == MAX_NOUN_WORDS:
            break
        taken.insert(0, word)
    return " ".join(taken) or None


# Nouns whose plural turns the f into "ves": scarf, shelf, half, leaf, loaf; knife, wife.
F_TO_VES = ("arf", "elf", "alf", "eaf", "oaf")


def _plural_forms(name: str) -> set[str]:
    lower = _norm(name)
    forms = {lower, plural(lower), _singular(lower)}
    if lower.endswith(F_TO_VES):
        forms.add(lower + "s")  # "scarfs" is written too
    for form in list(forms):  # "t-shirt", "t shirt", "tshirt"
        if "-" in form:
            forms |= {form.replace("-", " "), form.replace("-", "")}
    return forms


def plural(phrase: str) -> str:
    """The plural of a catalog noun phrase ("wool scarf" -> "wool scarves"), as shoppers
    write it; the NLU's lookups and training phrasings are made with it."""
    head, _, last = phrase.rpartition(" ")
    if last.endswith("s") and not last.endswith("ss"):
        many = last
    elif last.endswith(("ss", "sh", "ch", "x")):
        many = last + "es"
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        many = last[:-1] + "ies"
    elif last.endswith("ife"):
        many = last[:-2] + "ves"
    elif last.endswith(F_TO_VES):
        many = last[:-1] + "ves"
    else:
        many = last + "s"
    return f"{head} {many}".strip()


def _singular(phrase: str) -> str:
    head, _, last = phrase.rpartition(" ")
    if last.endswith("ies") and len(last) > 4:
        single = last[:-3] + "y"
    elif last.endswith(("sses", "shes", "ches", "xes")):
        single = last[:-2]
    elif last.endswith("s") and not last.endswith(("ss", "us")) and len(last) > 3:
        single = last[:-1]
    else:
        single = last
    return f"{head} {single}".strip()


def _brand_spellings(brand: str) -> set[str]:
    lower = _norm(brand)
    forms = {lower, lower.replace("&", "and"), lower.replace(" & ", "&"), lower.rstrip(".")}
    return {re.sub(r"\s+", " ", f).strip() for f in forms}


def _category_spellings(name: str) -> set[str]:
    # Category names are plural already ("Bags"); "yogas" would be noise.
    lower = _norm(name)
    forms = {lower} if "&" in name else {lower, _singular(lower)}
    if "&" in name:
        forms.add(lower.replace("&", "and"))
    for form in list(forms):
        forms |= set(DEPARTMENT_WORDS.get(form, ()))
    return {re.sub(r"\s+", " ", f).strip() for f in forms}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower().replace("'s", ""))


# ---------------------------------------------------------------------------------------------
# Writing.

def resolve_conflicts(vocabulary: Vocabulary) -> dict[str, dict[str, list[str]]]:
    """entity -> canonical -> sorted spellings, each spelling in exactly one place. The
    first entity in ENTITIES keeps a spelling two entities claim; within an entity a value's
    own name beats another value's plural or variant, then the alphabetically first wins."""
    owner: dict[str, tuple] = {}
    for rank, entity in enumerate(ENTITIES):
        for canonical in sorted(vocabulary.values[entity]):
            for spelling in vocabulary.values[entity][canonical]:
                claim = (rank, 0 if _norm(canonical) == spelling else 1, canonical)
                if spelling not in owner or claim < owner[spelling]:
                    owner[spelling] = claim
    resolved: dict[str, dict[str, list[str]]] = {entity: {} for entity in ENTITIES}
    for spelling, (rank, _exact, canonical) in owner.items():
        # A value that lost its own name to another entity goes entirely: "hoody" alone
        # would make the category "Hoodies" compete with the product type "Hoodie".
        if owner.get(_norm(canonical), (rank,))[0] == rank:
            resolved[ENTITIES[rank]].setdefault(canonical, []).append(spelling)
    return {entity: {c: sorted(s) for c, s in sorted(values.items())}
            for entity, values in resolved.items()}


def render_lookup(entity: str, values: dict[str, list[str]]) -> str:
    """One Rasa NLU YAML file: the lookup table, then one synonym per value."""
    lines = [HEADER, 'version: "3.1"', "nlu:"]
    spellings = sorted({s for forms in values.values() for s in forms})
    if spellings:
        lines += [f"- lookup: {entity}", "  examples: |"]
        lines += [f"    - {s}" for s in spellings]
    for canonical, forms in values.items():
        # The canonical value itself needs no synonym entry unless written differently.
        forms = [f for f in forms if f != canonical]
        if forms:
            lines += [f"- synonym: {json.dumps(canonical, ensure_ascii=False)}",
                      "  examples: |"]
            lines += [f"    - {f}" for f in forms]
    if not spellings:
        lines[-1] = "nlu: []"
    return "\n".join(lines) + "\n"


def write_lookups(vocabulary: Vocabulary, out_dir: Path) -> dict[str, bool]:
    """Write the five files; returns file name -> whether it changed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    changed = {}
    for entity, values in resolve_conflicts(vocabulary).items():
        path = out_dir / f"{entity}.yml"
        text = render_lookup(entity, values)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            changed[path.name] = False
            continue
        path.write_text(text, encoding="utf-8")
        changed[path.name] = True
    return changed


async def export_bot_lookups(db: Database, out_dir: Path) -> dict[str, bool]:
    return write_lookups(await read_vocabulary(db), Path(out_dir))
