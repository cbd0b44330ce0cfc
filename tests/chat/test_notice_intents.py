"""The shop's chat notices and the bot's domain name the same EXTERNAL_ intents: a notice the
domain does not declare is dropped by Rasa (no rule answers it), and a notice the domain
expects that the shop never sends is a promise nobody keeps. Read from the YAML files, not
through Rasa (which lives in the other environment)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from storefront_api.chat import notices

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "bot" / "domain"


def _intent_name(entry) -> str:
    """An intent is listed as a name, or as ``{name: {use_entities: ...}}``."""
    return entry if isinstance(entry, str) else next(iter(entry))


def declared_intents() -> set[str]:
    names: set[str] = set()
    for path in sorted(DOMAIN.glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        names.update(_intent_name(entry) for entry in document.get("intents") or [])
    return names


def test_the_domain_is_read_as_rasa_reads_it():
    assert {"greet", "checkout"} <= declared_intents()  # from core.yml and checkout.yml


def test_every_notice_the_shop_sends_is_an_intent_of_the_domain():
    missing = notices.ALL - declared_intents()
    assert not missing, f"not declared in bot/domain: {sorted(missing)}"


def test_every_external_intent_of_the_domain_is_a_notice_the_shop_names():
    external = {name for name in declared_intents() if name.startswith("EXTERNAL_")}
    unnamed = external - notices.ALL
    assert not unnamed, f"not named in storefront_api/chat/notices.py: {sorted(unnamed)}"


def test_the_notices_module_lists_each_name_it_defines():
    defined = {value for name, value in vars(notices).items()
               if name.isupper() and isinstance(value, str)}
    assert defined == notices.ALL


def test_no_notice_is_spelled_out_elsewhere_in_the_shop():
    """A literal "EXTERNAL_..." in the code would bypass the list above."""
    package = ROOT / "storefront_api"
    spelled = [f"{path.relative_to(ROOT)}: {match}"
               for path in package.rglob("*.py") if path.name != "notices.py"
               for match in re.findall(r"""["']EXTERNAL_\w+["']""", path.read_text("utf-8"))]
    assert not spelled
