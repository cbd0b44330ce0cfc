"""What a shopper needs, in the catalog's words: "something for a wedding", "warm enough for
skiing", "a gift for my dad, he likes hiking".

Shoppers in a chat describe the occasion, the weather or the person more often than the
product. Those words are in no title, so the search as typed finds nothing, and the typo
correction used to make them into the nearest catalog word: "wedding" became "bedding",
"wife" "wide", "work" "cork". Here:

- NEEDS maps an occasion, an activity or the weather to product words. Only the words the
  catalog knows are searched, so one table serves any catalog: a shop without blazers gets
  its dresses and suits for a wedding.
- CONTEXT holds words about the person or the moment ("dad", "birthday", "gift") that say
  nothing about the product: never corrected, never required.

The search engine (engine.py) leaves need and context words the catalog does not know out of
its typo correction, tries the product words the shopper named without the needs ("a warm
jacket for skiing": jackets), then any of the needs' product words (``suggested``: "for
skiing": coats, jackets, gloves, ...).
"""

from __future__ import annotations

from collections.abc import Callable

from .text import singulars

MAX_WORDS = 6

_WINTER = ("coat", "jacket", "sweater", "fleece", "beanie", "gloves", "scarf", "thermal")
_SUMMER = ("shorts", "sandals", "dress", "linen", "hat", "swim")
_FORMAL = ("suit", "blazer", "dress", "shirt", "trousers", "heels")
_LOUNGE = ("joggers", "hoodie", "sweatpants", "lounge", "slippers", "pyjamas")
_OUTDOOR = ("hiking", "boots", "fleece", "outdoor", "jacket", "socks", "backpack")
_SPORT = ("leggings", "shorts", "sneakers", "training", "joggers", "tee")

NEEDS: dict[str, tuple[str, ...]] = {
    # occasions
    "wedding": _FORMAL, "interview": _FORMAL, "graduation": _FORMAL, "funeral": _FORMAL,
    "formal": _FORMAL, "smart": _FORMAL, "office": ("shirt", "blazer", "trousers", "chinos"),
    "party": ("dress", "skirt", "shirt", "heels"), "prom": ("dress", "suit", "heels"),
    "beach": _SUMMER, "holiday": _SUMMER, "vacation": _SUMMER, "pool": ("swim", "sandals"),
    "school": ("backpack", "bag", "sneakers", "shoes", "hoodie"),
    # activities
    "gym": _SPORT, "workout": _SPORT, "training": _SPORT, "exercise": _SPORT,
    "yoga": ("yoga", "leggings"), "pilates": ("yoga", "leggings"),
    "hiking": _OUTDOOR, "hike": _OUTDOOR, "trekking": _OUTDOOR, "camping": _OUTDOOR,
    "walking": ("boots", "sneakers", "jacket", "socks"),
    "skiing": _WINTER, "ski": _WINTER, "snowboarding": _WINTER, "snow": _WINTER,
    "running": ("running",), "jogging": ("running",), "marathon": ("running",),
    "cycling": ("cycling",), "biking": ("cycling",), "swimming": ("swim",),
    # weather and seasons
    "cold": _WINTER, "winter": _WINTER, "freezing": _WINTER, "chilly": _WINTER,
    "warm": _WINTER, "rain": ("rain", "waterproof", "jacket", "boots"),
    "rainy": ("rain", "waterproof", "jacket", "boots"), "wet": ("rain", "waterproof"),
    "summer": _SUMMER, "hot": _SUMMER, "sunny": _SUMMER,
    # comfort and home
    "lounge": _LOUNGE, "lounging": _LOUNGE, "comfy": _LOUNGE, "cosy": _LOUNGE,
    "cozy": _LOUNGE, "relaxing": _LOUNGE, "sleep": ("pyjamas", "bedding", "sheet", "duvet"),
    "cooking": ("kitchen",), "baking": ("kitchen",),
}

CONTEXT = frozenset("""
gift gifts present presents birthday christmas xmas anniversary valentine valentines
wife husband partner girlfriend boyfriend mum mom mother dad father son daughter kid kids
child children baby toddler teen teenager friend friends grandma grandpa nan granny
grandad sister brother boss colleague someone somebody he she him her they them his
their loves likes like nice good great best ideal perfect recommend recommendation
suggest suggestion ideas idea occasion outfit wear wearing stay keep go going next week
month weekend tomorrow today day days night always usually help weather
""".split())


def is_need(word: str) -> bool:
    """A need or context word (or its singular): never corrected, never a prefix."""
    return any(w in NEEDS or w in CONTEXT for w in (word, *singulars(word)))


def _needed(word: str) -> tuple[str, ...]:
    for w in (word, *singulars(word)):
        if w in NEEDS:
            return NEEDS[w]
    return ()


def suggested(terms: list[str], knows: Callable[[str], bool]) -> list[str]:
    """The catalog's words for the needs among ``terms`` ("skiing": coat, jacket, ...), at
    most MAX_WORDS; [] when no term is a need."""
    words: list[str] = []
    for term in terms:
        for word in _needed(term):
            if word not in words and knows(word):
                words.append(word)
    return words[:MAX_WORDS]
