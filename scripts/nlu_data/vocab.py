"""Entity fillers for the NLU example generator, taken from the demo catalog's own vocabulary
(storefront_api/catalog/demo_catalog.py) so every annotated value exists in the shop.

Each filler returns the markup for one entity mention: ``[surface](entity)`` or, when the
value is not the surface (ordinals, quantities, shipping methods), ``[surface]{"entity": ...,
"value": ...}``.
"""

from __future__ import annotations

import json
import random

from storefront_api.catalog.demo_catalog import BRANDS, PALETTE, PRODUCT_TYPES
from storefront_api.catalog.vocabulary import plural  # the lookups' own plurals

# Category names that are not also product types (those are searched as product types; see
# storefront_api/catalog/vocabulary.py), as shoppers write them.
CATEGORY_SURFACES = [
    "women's", "womens", "women", "ladies", "men's", "mens", "men", "shoes", "shoe",
    "sports", "sport", "home", "accessories", "yoga", "cycling", "outdoor", "swim", "bedding",
    "kitchen", "decor", "bath", "bags", "bag", "hats", "outerwear", "tops", "bottoms",
    "running",
]
# Nouns straight from the catalog's titles (PRODUCT_TYPES[*].nouns) and type names.
TYPE_NOUNS = sorted({n for kind in PRODUCT_TYPES for n in (kind.name, *kind.nouns)})
COLOURS = [name for name, _code, _weight in PALETTE]
SIZES_APPAREL = ["XS", "S", "M", "L", "XL", "XXL"]
SIZE_WORDS = {"small": "S", "medium": "M", "large": "L", "extra large": "XL",
              "extra small": "XS"}
WAIST = ["28", "30", "32", "34", "36"]
SHOE = ["38", "39", "40", "41", "42", "43", "44", "45"]
HOME_SIZES = ["queen", "king", "twin", "full"]
PRICES = ["15", "20", "25", "30", "35", "40", "45", "50", "60", "70", "75", "80", "90", "100",
          "120", "150", "200", "250", "49.99", "29.99"]
QUANTITIES = [("2", "2"), ("3", "3"), ("4", "4"), ("5", "5"), ("10", "10"), ("two", "2"),
              ("three", "3"), ("four", "4"), ("five", "5"), ("six", "6"), ("one", "1"),
              ("1", "1"), ("a couple", "2")]
ORDINALS = [("first", "1"), ("second", "2"), ("third", "3"), ("fourth", "4"), ("fifth", "5"),
            ("sixth", "6"), ("seventh", "7"), ("eighth", "8"), ("ninth", "9"), ("tenth", "10"),
            ("1st", "1"), ("2nd", "2"), ("3rd", "3"), ("4th", "4"), ("5th", "5"),
            ("last", "-1"), ("final", "-1"),
            ("number 2", "2"), ("number one", "1"), ("number 3", "3"), ("#2", "2"),
            ("#4", "4"), ("no. 3", "3"), ("number two", "2"), ("number three", "3"),
            ("number four", "4"), ("number 1", "1"), ("number 5", "5"), ("#1", "1")]
PROMO_CODES = ["WELCOME10", "SAVE20", "TENOFF", "FREESHIP", "SPRING10", "SUMMER25",
               "welcome10", "save20", "VIP15", "BLACKFRIDAY30", "freeship", "HELLO5"]
EMAILS = ["ada@example.com", "john.smith@gmail.com", "maria_lopez@yahoo.es", "k.tanaka@outlook.jp",
          "sam99@hotmail.co.uk", "priya.n@proton.me", "lee.chen@company.org", "tom@aisle.shop",
          "o.okafor@mail.ng", "jess+shop@icloud.com", "h.mueller@web.de", "bob@example.net"]
SHIPPING = {"standard": ["standard", "normal", "regular", "economy", "basic"],
            "express": ["express", "fast", "fastest", "next day", "expedited", "priority",
                        "quickest"],
            "pickup": ["pickup", "pick up", "pick-up", "pickup point", "collection point",
                       "click and collect"]}


def markup(surface: str, entity: str, value: str | None = None) -> str:
    if value is None or value == surface:
        return f"[{surface}]({entity})"
    return "[" + surface + "]" + json.dumps({"entity": entity, "value": value})




class Fillers:
    """Random entity mentions, deterministic for a seed."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def _case(self, text: str) -> str:
        roll = self.rng.random()
        return text if roll < 0.2 else text.lower() if roll < 0.92 else text.title()

    def pt(self) -> str:
        noun = self.rng.choice(TYPE_NOUNS)
        noun = plural(noun) if self.rng.random() < 0.55 else noun
        return markup(self._case(noun), "product_type")

    def pt1(self) -> str:  # singular ("a hoodie")
        noun = self.rng.choice(TYPE_NOUNS)
        noun = noun[:-1] if noun.endswith("s") and not noun.endswith(("ss", "Jeans", "Chinos",
                                                                        "Leggings", "Shorts",
                                                                        "Joggers")) else noun
        return markup(self._case(noun), "product_type")

    def cat(self) -> str:
        return markup(self.rng.choice(CATEGORY_SURFACES), "category")

    def color(self) -> str:
        colour = self.rng.choice(COLOURS)
        colour = "gray" if colour == "Grey" and self.rng.random() < 0.4 else colour
        return markup(self._case(colour), "color")

    def size(self) -> str:
        roll = self.rng.random()
        if roll < 0.45:
            return markup(self.rng.choice(SIZES_APPAREL), "size")
        if roll < 0.65:
            return markup(self.rng.choice(list(SIZE_WORDS)), "size")
        if roll < 0.8:
            return markup(self.rng.choice(WAIST), "size")
        if roll < 0.93:
            return markup(self.rng.choice(SHOE), "size")
        return markup(self.rng.choice(HOME_SIZES), "size")

    def brand(self) -> str:
        brand = self.rng.choice(BRANDS).rstrip(".")  # "Alder Co." -> "alder co": tokens
        return markup(brand if self.rng.random() < 0.6 else brand.lower(), "brand")

    def max(self) -> str:
        return self._price("max_price")

    def min(self) -> str:
        return self._price("min_price")

    def _price(self, entity: str) -> str:
        price = self.rng.choice(PRICES)
        return markup("$" + price if self.rng.random() < 0.3 else price, entity)

    def qty(self) -> str:
        surface, value = self.rng.choice(QUANTITIES)
        return markup(surface, "quantity", value)

    def num(self) -> str:  # digits only: "make it 3"
        surface, value = self.rng.choice([q for q in QUANTITIES if q[0].isdigit()])
        return markup(surface, "quantity", value)

    def ord(self) -> str:
        surface, value = self.rng.choice(ORDINALS)
        return markup(surface, "ordinal", value)

    def code(self) -> str:
        return markup(self.rng.choice(PROMO_CODES), "promo_code")

    def email(self) -> str:
        return markup(self.rng.choice(EMAILS), "email")

    def order(self) -> str:
        letters = "".join(self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(2))
        number = f"{letters}-{self.rng.randint(10000, 99999)}"
        return markup(number.lower() if self.rng.random() < 0.15 else number, "order_number")

    def ship(self) -> str:
        method = self.rng.choice(sorted(SHIPPING))
        return markup(self.rng.choice(SHIPPING[method]), "shipping_method", method)
