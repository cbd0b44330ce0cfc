"""The NLU lookup tables and synonyms generated from the seeded demo shop.

The files are read back with Rasa's own loader (in .venv-bot, through a subprocess), so
"parses" means what it means for `rasa train`: valid YAML in Rasa's NLU format.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import distinct, select

from storefront_api.catalog.models import Category, Product, Variant
from storefront_api.catalog.vocabulary import ENTITIES, export_bot_lookups, plural

REPO = Path(__file__).resolve().parents[2]
RASA_PYTHON = REPO / ".venv-bot" / "bin" / "python"
# Prints {file: {"lookups": {name: [elements]}, "synonyms": {text: value}}} for each file.
RASA_READER = """
import json, sys
from rasa.shared.nlu.training_data.loading import load_data
out = {}
for path in sys.argv[1:]:
    data = load_data(path)
    out[path] = {"lookups": {t["name"]: t["elements"] for t in data.lookup_tables},
                 "synonyms": data.entity_synonyms}
print(json.dumps(out))
"""


def read_with_rasa(paths: list[Path]) -> dict[str, dict]:
    if not RASA_PYTHON.exists():
        pytest.fail(f"{RASA_PYTHON} is missing: run `make bot-venv` first")
    done = subprocess.run([str(RASA_PYTHON), "-c", RASA_READER, *map(str, paths)],
                          capture_output=True, text=True, timeout=300, check=True)
    return {Path(path).stem: parsed for path, parsed in json.loads(
        done.stdout.strip().splitlines()[-1]).items()}


@pytest.fixture
async def exported(db, tmp_path):
    out = tmp_path / "lookups"
    changed = await export_bot_lookups(db, out)
    return out, changed


async def test_exports_one_file_per_entity_that_rasa_reads(db, exported):
    out, changed = exported
    assert changed == {f"{entity}.yml": True for entity in ENTITIES}
    parsed = read_with_rasa(sorted(out.glob("*.yml")))
    assert set(parsed) == set(ENTITIES)
    for entity, content in parsed.items():
        assert list(content["lookups"]) == [entity]
        elements = content["lookups"][entity]
        assert elements == sorted(set(elements)), f"{entity}: sorted, no duplicates"
        # every synonym's text is in the lookup table, so the featurizer sees it
        assert set(content["synonyms"]) <= set(elements)


async def test_catalog_colours_sizes_categories_and_types_are_there(db, exported):
    out, _ = exported
    parsed = read_with_rasa(sorted(out.glob("*.yml")))
    async with db.read() as session:
        colours = set((await session.scalars(select(distinct(Variant.color)))).all()) - {None}
        sizes = set((await session.scalars(select(distinct(Variant.size)))).all()) - {None}
        categories = set((await session.scalars(select(Category.name))).all())
        types = set((await session.scalars(select(distinct(Product.product_type)))).all())
    assert colours and sizes and categories and types

    def meaning(entity: str, text: str) -> str | None:
        content = parsed[entity]
        if text.lower() not in content["lookups"][entity]:
            return None
        return content["synonyms"].get(text.lower(), text.lower())

    for colour in colours:
        assert meaning("color", colour) == colour
        assert meaning("color", colour.upper()) == colour
    for size in sizes:
        assert meaning("size", size) in (size, size.lower())
    for kind in types:
        assert meaning("product_type", kind) == kind
    assert meaning("product_type", "hoodies") == "Hoodie"
    assert meaning("size", "medium") == "M"
    # A category is found as a category, or (Hoodies, Socks) as the product type it names.
    for name in categories:
        assert (meaning("category", name) == name
                or meaning("product_type", name) in types), name
    assert meaning("category", "women's") == "Women"
    assert meaning("category", "kitchen") == "Kitchen"


async def test_each_spelling_means_one_thing_across_all_files(exported):
    out, _ = exported
    parsed = read_with_rasa(sorted(out.glob("*.yml")))
    owners: dict[str, list[str]] = {}
    for entity, content in parsed.items():
        for element in content["lookups"][entity]:
            owners.setdefault(element, []).append(entity)
    assert {text: where for text, where in owners.items() if len(where) > 1} == {}


async def test_regenerating_the_same_catalog_changes_nothing(db, exported):
    out, _ = exported
    before = {path.name: (path.read_bytes(), path.stat().st_mtime_ns)
              for path in out.glob("*.yml")}
    changed = await export_bot_lookups(db, out)
    assert changed == {name: False for name in before}
    after = {path.name: (path.read_bytes(), path.stat().st_mtime_ns)
             for path in out.glob("*.yml")}
    assert after == before
    # and a fresh directory gets byte-identical files
    again = out.parent / "again"
    await export_bot_lookups(db, again)
    assert {p.name: p.read_bytes() for p in again.glob("*.yml")} == {
        name: content for name, (content, _) in before.items()}


async def test_an_empty_catalog_gives_valid_empty_files(empty_url, tmp_path):
    from storefront_api.db import Database
    db = Database(empty_url)
    try:
        await export_bot_lookups(db, tmp_path / "empty")
    finally:
        await db.dispose()
    parsed = read_with_rasa(sorted((tmp_path / "empty").glob("*.yml")))
    assert all(content["lookups"] == {} and content["synonyms"] == {}
               for content in parsed.values())


@pytest.mark.parametrize("noun, many", [
    ("hoodie", "hoodies"), ("wool scarf", "wool scarves"), ("scarf", "scarves"),
    ("knife", "knives"), ("dress", "dresses"), ("wrap dress", "wrap dresses"),
    ("jeans", "jeans"), ("accessory", "accessories"), ("beach towel", "beach towels"),
    ("box", "boxes"), ("bath mat", "bath mats")])
def test_plurals_are_the_ones_shoppers_write(noun, many):
    # "scarfs" and "dress" as plurals left "show me scarves" without a product type.
    assert plural(noun) == many
