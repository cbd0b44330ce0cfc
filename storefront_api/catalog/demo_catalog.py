"""A deterministic, realistic demo catalog for a clothing / sports / home shop.

``seed_catalog(db, 100_000)`` writes a category tree and N products with their variants
(colour x size), images and attributes. The same N and seed always give the same rows: one
``random.Random(seed)`` drives everything and dates count back from a fixed day, never from
"now", so tests, benchmarks and demo screenshots are reproducible.

Speed matters (100,000 products, ~630,000 variants, 1.25 million rows in all): rows are built
as plain tuples in batches with primary keys assigned here, so variants reference their
product without a round trip, and written with executemany (SQLite) or COPY (PostgreSQL) in
one transaction while the next batch is generated. bench/seed_catalog.py measures it.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from ..cart.models import CartLine
from ..db import Database
from ..pricing.demo_pricing import demo_amount
from ..progress import count
from .pictures import picture_path
from .models import (Category, Product, ProductAttribute, ProductImage, ProductSearch,
                     SearchTerm, Variant)

Progress = Callable[[str], None]  # notes; counted work through ..progress.count

BATCH_SIZE = 5_000
# Content dates count back from this day, never from the clock (determinism).
BASE_DATE = datetime(2026, 11, 1)
CATALOG_AGE_DAYS = 730

# ---------------------------------------------------------------------------------------------
# Category tree: (name, children). Path = slugified names from the root ("women/tops/hoodies");
# slug = root + leaf ("women-hoodies"), unique across the tree.

CATEGORY_TREE: list[tuple[str, list]] = [
    ("Women", [
        ("Tops", [("Hoodies", []), ("T-shirts", []), ("Sweaters", []), ("Shirts", [])]),
        ("Bottoms", [("Jeans", []), ("Joggers", []), ("Leggings", []), ("Shorts", []),
                     ("Skirts", [])]),
        ("Dresses", []),
        ("Outerwear", [("Jackets", []), ("Coats", [])]),
    ]),
    ("Men", [
        ("Tops", [("Hoodies", []), ("T-shirts", []), ("Sweaters", []), ("Shirts", [])]),
        ("Bottoms", [("Jeans", []), ("Chinos", []), ("Joggers", []), ("Shorts", [])]),
        ("Outerwear", [("Jackets", []), ("Coats", [])]),
    ]),
    ("Shoes", [("Running", []), ("Sneakers", []), ("Boots", []), ("Sandals", [])]),
    ("Sports", [("Yoga", []), ("Running", []), ("Cycling", []), ("Outdoor", []), ("Swim", [])]),
    ("Home", [("Bedding", []), ("Kitchen", []), ("Decor", []), ("Bath", [])]),
    ("Accessories", [("Bags", []), ("Hats", []), ("Socks", []), ("Scarves & Gloves", []),
                     ("Belts", [])]),
]


def slugify(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")


@dataclass(frozen=True)
class CategoryRow:
    id: int
    parent_id: int | None
    slug: str
    name: str
    path: str
    position: int


def category_rows() -> list[CategoryRow]:
    """The tree flattened parents-first, with ids 1..n in that order."""
    rows: list[CategoryRow] = []

    def walk(nodes, parent: CategoryRow | None, keys: list[str]) -> None:
        for position, (name, children) in enumerate(nodes):
            path_keys = keys + [slugify(name)]
            slug = "-".join([path_keys[0], path_keys[-1]] if len(path_keys) > 1 else path_keys)
            row = CategoryRow(len(rows) + 1, parent.id if parent else None, slug, name,
                              "/".join(path_keys), position)
            rows.append(row)
            walk(children, row, path_keys)

    walk(CATEGORY_TREE, None, [])
    assert len({r.slug for r in rows}) == len(rows), "category slugs must be unique"
    return rows


# ---------------------------------------------------------------------------------------------
# Options: sizes (with an optional price step per size up the scale) and colours.

@dataclass(frozen=True)
class SizeScale:
    sizes: tuple[str, ...]
    run: tuple[int, int]          # how many consecutive sizes one product offers (min, max)
    step: int = 0                 # whole currency units added per size up the scale


APPAREL = SizeScale(("XS", "S", "M", "L", "XL", "XXL"), (3, 4))
WAIST = SizeScale(("26", "28", "30", "32", "34", "36", "38"), (3, 5))
SHOES = SizeScale(tuple(str(s) for s in range(36, 47)), (3, 5))
BED = SizeScale(("Twin", "Full", "Queen", "King"), (2, 4), step=15)
TOWEL = SizeScale(("Hand Towel", "Bath Towel", "Bath Sheet"), (2, 3), step=8)
VOLUME = SizeScale(("500 ml", "750 ml", "1 L"), (1, 3), step=4)
SOCKS = SizeScale(("S/M", "L/XL"), (2, 2))
SML = SizeScale(("S", "M", "L"), (2, 3))
ONE_SIZE = SizeScale(("One Size",), (1, 1))
COLOUR_ONLY = SizeScale((), (0, 0))

# (name, SKU code, how common); common colours repeat so a weighted draw favours them.
PALETTE = [
    ("Black", "BLK", 6), ("White", "WHT", 4), ("Navy", "NVY", 4), ("Grey", "GRY", 4),
    ("Charcoal", "CHR", 2), ("Red", "RED", 2), ("Burgundy", "BUR", 2), ("Blue", "BLU", 3),
    ("Green", "GRN", 2), ("Olive", "OLV", 2), ("Beige", "BEI", 3), ("Cream", "CRM", 2),
    ("Brown", "BRN", 2), ("Pink", "PNK", 2), ("Yellow", "YLW", 1), ("Orange", "ORG", 1),
    ("Purple", "PRP", 1), ("Teal", "TEA", 1), ("Khaki", "KHK", 1), ("Sand", "SND", 2),
]
HOME_PALETTE = [c for c in PALETTE if c[0] in
                {"White", "Cream", "Grey", "Beige", "Sand", "Charcoal", "Navy", "Green", "Blue",
                 "Pink", "Black", "Olive", "Yellow"}]


# ---------------------------------------------------------------------------------------------
# Product types.

@dataclass(frozen=True)
class ProductType:
    name: str                     # products.product_type ("Hoodie")
    code: str                     # SKU prefix ("HOOD")
    nouns: tuple[str, ...]        # title nouns ("Zip Hoodie")
    categories: tuple[str, ...]   # category slugs
    price: tuple[int, int]        # whole currency units, shelf price range
    sizes: SizeScale
    materials: tuple[str, ...]
    features: tuple[str, ...]
    care: tuple[str, ...]
    group: str                    # apparel | shoes | gear | home | accessory
    fits: tuple[str, ...] = ()
    weight: int = 10              # how many of these the shop carries, relatively
    styles: tuple[str, ...] = ()
    palette: tuple = field(default=tuple(PALETTE))


COTTON_CARE = ("Machine wash cold, tumble dry low", "Machine wash at 30°C, do not bleach",
               "Wash inside out with similar colours, tumble dry low")
WOOL_CARE = ("Hand wash cold, dry flat", "Dry clean or hand wash cold, dry flat")
TECH_CARE = ("Machine wash cold, hang to dry", "Machine wash cold, do not use fabric softener")
SPORT_STYLES = ("Performance", "Training", "Pro", "Lightweight", "Breathable", "Race",
                "All-Weather", "Studio")

PRODUCT_TYPES: list[ProductType] = [
    ProductType("Hoodie", "HOOD", ("Hoodie", "Zip Hoodie", "Pullover Hoodie"),
                ("women-hoodies", "men-hoodies"), (35, 90), APPAREL,
                ("Organic Cotton", "Cotton Fleece", "Brushed Fleece", "Recycled Polyester",
                 "French Terry"),
                ("A lined hood with flat drawcords keeps the look clean.",
                 "Kangaroo pockets are roomy enough for a phone and keys.",
                 "Ribbed cuffs and hem hold their shape wash after wash."),
                COTTON_CARE, "apparel", ("Regular", "Relaxed", "Oversized"), weight=14),
    ProductType("T-Shirt", "TEE", ("T-Shirt", "Crew Neck Tee", "V-Neck Tee", "Pocket Tee"),
                ("women-t-shirts", "men-t-shirts"), (12, 40), APPAREL,
                ("Organic Cotton", "Pima Cotton", "Cotton Jersey", "Linen Blend", "Slub Cotton"),
                ("The neckline is taped so it will not stretch out.",
                 "Side-seamed for a shape that stays put.",
                 "Pre-shrunk, so the fit you buy is the fit you keep."),
                COTTON_CARE, "apparel", ("Slim", "Regular", "Relaxed", "Boxy"), weight=18),
    ProductType("Sweater", "SWTR", ("Sweater", "Crewneck Sweater", "Cardigan", "Turtleneck"),
                ("women-sweaters", "men-sweaters"), (40, 140), APPAREL,
                ("Merino Wool", "Lambswool", "Cashmere Blend", "Cotton Knit", "Alpaca Blend"),
                ("Knitted on fine-gauge machines for a smooth, even surface.",
                 "Warm without bulk, it layers easily under a coat.",
                 "Ribbed trims keep the shape at the cuffs and hem."),
                WOOL_CARE, "apparel", ("Regular", "Relaxed", "Oversized"), weight=9),
    ProductType("Shirt", "SHRT", ("Oxford Shirt", "Flannel Shirt", "Linen Shirt", "Denim Shirt",
                                  "Poplin Shirt"),
                ("women-shirts", "men-shirts"), (30, 95), APPAREL,
                ("Cotton Oxford", "Brushed Flannel", "Pure Linen", "Chambray", "Cotton Poplin"),
                ("Mother-of-pearl buttons and a curved hem that works tucked or untucked.",
                 "A button-down collar keeps its shape without a tie.",
                 "A chest pocket adds a little utility."),
                COTTON_CARE, "apparel", ("Slim", "Regular", "Relaxed"), weight=9),
    ProductType("Jeans", "JEAN", ("Jeans", "Straight Jeans", "Slim Jeans", "Wide-Leg Jeans"),
                ("women-jeans", "men-jeans"), (45, 150), WAIST,
                ("Stretch Denim", "Organic Denim", "Selvedge Denim", "Rigid Denim"),
                ("Five-pocket styling with copper rivets at the stress points.",
                 "A mid rise that sits comfortably at the waist.",
                 "The wash softens and fades with wear."),
                ("Wash inside out, cold, and hang to dry",), "apparel",
                ("Slim", "Straight", "Relaxed", "Tapered"), weight=9),
    ProductType("Joggers", "JOGG", ("Joggers", "Sweatpants", "Track Pants"),
                ("women-joggers", "men-joggers"), (30, 85), APPAREL,
                ("Cotton Fleece", "French Terry", "Recycled Polyester", "Tech Knit"),
                ("An elastic waistband with an inner drawcord for a secure fit.",
                 "Zip pockets keep your essentials safe on the move.",
                 "Cuffed ankles show off your sneakers."),
                COTTON_CARE, "apparel", ("Regular", "Relaxed", "Tapered"), weight=8),
    ProductType("Leggings", "LEGG", ("Leggings", "High-Rise Leggings", "7/8 Leggings"),
                ("women-leggings", "sports-yoga"), (25, 98), APPAREL,
                ("Recycled Nylon", "Stretch Jersey", "Performance Spandex", "Brushed Jersey"),
                ("Squat-proof fabric with four-way stretch.",
                 "A wide, high waistband that stays put through every pose.",
                 "A hidden pocket fits a key or a card."),
                TECH_CARE, "apparel", ("Compression", "Second Skin", "Regular"), weight=8,
                styles=SPORT_STYLES),
    ProductType("Shorts", "SHOR", ("Shorts", "Running Shorts", "Chino Shorts", "Cargo Shorts"),
                ("women-shorts", "men-shorts", "sports-running"), (20, 65), APPAREL,
                ("Cotton Twill", "Recycled Polyester", "Ripstop", "Linen Blend"),
                ("A 7-inch inseam that sits just above the knee.",
                 "A built-in liner adds comfort on longer runs.",
                 "Deep side pockets and a back welt pocket."),
                COTTON_CARE, "apparel", ("Regular", "Relaxed"), weight=7),
    ProductType("Skirt", "SKRT", ("Midi Skirt", "Pleated Skirt", "Mini Skirt", "Wrap Skirt"),
                ("women-skirts",), (30, 95), APPAREL,
                ("Cotton Twill", "Satin", "Wool Blend", "Denim", "Linen"),
                ("A concealed side zip keeps the line clean.",
                 "It moves beautifully and pairs with everything from knits to tees."),
                COTTON_CARE, "apparel", ("A-Line", "Straight", "Relaxed"), weight=4),
    ProductType("Dress", "DRES", ("Midi Dress", "Wrap Dress", "Shirt Dress", "Slip Dress",
                                  "Knit Dress"),
                ("women-dresses",), (40, 160), APPAREL,
                ("Organic Cotton", "Linen", "Satin", "Jersey", "Viscose Crepe"),
                ("Adjustable straps and a side zip for an easy fit.",
                 "A flattering cut that goes from desk to dinner.",
                 "Fully lined, so it is never see-through."),
                COTTON_CARE, "apparel", ("Regular", "Relaxed", "Fitted"), weight=8),
    ProductType("Jacket", "JCKT", ("Rain Jacket", "Puffer Jacket", "Denim Jacket",
                                   "Bomber Jacket", "Fleece Jacket", "Shell Jacket"),
                ("women-jackets", "men-jackets", "sports-outdoor"), (60, 280), APPAREL,
                ("Recycled Nylon", "Waterproof Shell", "Recycled Down", "Denim",
                 "Polar Fleece"),
                ("Taped seams and a storm flap keep the rain out.",
                 "It packs into its own pocket for travel.",
                 "An adjustable hood and cuffs seal out the wind."),
                TECH_CARE, "apparel", ("Regular", "Relaxed", "Athletic"), weight=8),
    ProductType("Coat", "COAT", ("Wool Coat", "Trench Coat", "Parka", "Overcoat", "Peacoat"),
                ("women-coats", "men-coats"), (120, 380), APPAREL,
                ("Wool Blend", "Cotton Gabardine", "Recycled Down", "Boiled Wool"),
                ("A full lining makes it easy to slip over knitwear.",
                 "Cut long enough to cover a blazer.",
                 "Horn-effect buttons and a notched lapel."),
                WOOL_CARE, "apparel", ("Regular", "Relaxed", "Tailored"), weight=5),
    ProductType("Chinos", "CHNO", ("Chinos", "Slim Chinos", "Pleated Trousers"),
                ("men-chinos",), (40, 98), WAIST,
                ("Stretch Cotton", "Cotton Twill", "Linen Blend"),
                ("A hint of stretch for all-day comfort.",
                 "Clean front pockets and a button-through back pocket."),
                COTTON_CARE, "apparel", ("Slim", "Straight", "Tapered"), weight=5),
    ProductType("Sports Bra", "BRA", ("Sports Bra", "Racerback Bra", "High-Support Bra"),
                ("sports-yoga", "sports-running"), (25, 70), APPAREL,
                ("Recycled Nylon", "Performance Spandex", "Mesh"),
                ("Removable pads and a wide underband for support.",
                 "Sweat-wicking fabric dries fast."),
                TECH_CARE, "apparel", ("Compression", "Regular"), weight=4, styles=SPORT_STYLES),
    ProductType("Running Top", "RTOP", ("Running Tee", "Training Tank", "Long Sleeve Top"),
                ("sports-running", "sports-yoga"), (25, 70), APPAREL,
                ("Recycled Polyester", "Merino Wool", "Mesh", "Tech Knit"),
                ("Reflective details keep you visible after dark.",
                 "Flatlock seams prevent chafing over long distances."),
                TECH_CARE, "apparel", ("Slim", "Regular"), weight=5, styles=SPORT_STYLES),
    ProductType("Cycling Apparel", "CYCL", ("Cycling Jersey", "Bib Shorts", "Thermal Jersey"),
                ("sports-cycling",), (45, 220), APPAREL,
                ("Recycled Polyester", "Merino Wool", "Lycra"),
                ("Three rear pockets carry food, a phone and a spare tube.",
                 "A full-length zip helps you cool down on climbs."),
                TECH_CARE, "apparel", ("Race", "Club"), weight=4, styles=SPORT_STYLES),
    ProductType("Swimwear", "SWIM", ("Swimsuit", "Swim Shorts", "Bikini Set", "Rash Guard"),
                ("sports-swim",), (30, 120), APPAREL,
                ("Recycled Nylon", "Chlorine-Resistant Polyester"),
                ("Chlorine-resistant fabric holds its colour season after season.",
                 "UPF 50+ sun protection."),
                ("Rinse in cold water after use, dry in the shade",), "apparel",
                ("Regular", "Athletic"), weight=4),
    ProductType("Running Shoes", "RUNS", ("Running Shoes", "Trail Running Shoes",
                                          "Road Running Shoes", "Racing Shoes"),
                ("shoes-running", "sports-running"), (60, 180), SHOES,
                ("Engineered Mesh", "Recycled Knit", "Ripstop Mesh"),
                ("A responsive foam midsole returns energy with every stride.",
                 "A grippy rubber outsole for wet and dry roads.",
                 "An 8 mm heel-to-toe drop suits most runners."),
                ("Wipe clean with a damp cloth, air dry",), "shoes",
                ("True to size", "Runs small"), weight=9, styles=SPORT_STYLES),
    ProductType("Sneakers", "SNKR", ("Sneakers", "Low-Top Sneakers", "High-Top Sneakers",
                                     "Court Sneakers"),
                ("shoes-sneakers",), (50, 160), SHOES,
                ("Leather", "Suede", "Canvas", "Recycled Knit"),
                ("A cushioned insole for all-day comfort.",
                 "Vulcanised rubber soles for lasting grip."),
                ("Spot clean with a soft brush",), "shoes", ("True to size",), weight=9),
    ProductType("Boots", "BOOT", ("Hiking Boots", "Chelsea Boots", "Winter Boots",
                                  "Leather Boots"),
                ("shoes-boots", "sports-outdoor"), (80, 260), SHOES,
                ("Full-Grain Leather", "Suede", "Waterproof Nubuck"),
                ("A waterproof membrane keeps feet dry on wet trails.",
                 "Lugged soles grip on mud and rock.",
                 "Goodyear-welted, so they can be resoled for years."),
                ("Brush off dirt, condition the leather regularly",), "shoes",
                ("True to size", "Runs large"), weight=6),
    ProductType("Sandals", "SAND", ("Sandals", "Slides", "Sport Sandals"),
                ("shoes-sandals",), (25, 110), SHOES,
                ("Leather", "Recycled EVA", "Cork"),
                ("A contoured footbed moulds to your foot.",
                 "Adjustable straps for a secure fit."),
                ("Wipe clean, keep away from direct heat",), "shoes", ("True to size",),
                weight=4),
    ProductType("Yoga Mat", "YMAT", ("Yoga Mat", "Travel Yoga Mat", "Cork Yoga Mat"),
                ("sports-yoga",), (25, 120), COLOUR_ONLY,
                ("Natural Rubber", "Cork", "TPE"),
                ("A non-slip surface grips even in hot classes.",
                 "5 mm of cushioning protects knees and wrists."),
                ("Wipe down with mild soap and water",), "gear", weight=3),
    ProductType("Yoga Block", "YBLK", ("Yoga Block", "Cork Block"),
                ("sports-yoga",), (10, 30), COLOUR_ONLY, ("Cork", "Recycled Foam"),
                ("Rounded edges make it comfortable to hold.",),
                ("Wipe clean",), "gear", weight=2),
    ProductType("Water Bottle", "BOTL", ("Water Bottle", "Insulated Bottle", "Sports Bottle"),
                ("sports-outdoor", "sports-cycling", "home-kitchen"), (15, 45), VOLUME,
                ("Stainless Steel", "Recycled Plastic", "Glass"),
                ("Double-wall insulation keeps drinks cold for 24 hours.",
                 "A leak-proof lid that opens with one hand."),
                ("Hand wash only",), "gear", weight=4),
    ProductType("Cycling Helmet", "HELM", ("Cycling Helmet", "Road Helmet", "Commuter Helmet"),
                ("sports-cycling",), (50, 220), SML,
                ("In-Mould Polycarbonate",),
                ("MIPS protection against rotational impacts.",
                 "Eighteen vents keep your head cool on climbs."),
                ("Wipe with a damp cloth, replace after any impact",), "gear", weight=2),
    ProductType("Tent", "TENT", ("2-Person Tent", "Backpacking Tent", "Family Tent"),
                ("sports-outdoor",), (120, 600), COLOUR_ONLY, ("Ripstop Nylon", "Polyester"),
                ("Pitches in under five minutes with colour-coded poles.",
                 "A full-coverage fly handles wind and rain."),
                ("Dry fully before storing",), "gear", weight=2),
    ProductType("Duvet Cover", "DUVT", ("Duvet Cover", "Duvet Cover Set"),
                ("home-bedding",), (40, 120), BED,
                ("Percale Cotton", "Sateen Cotton", "Washed Linen", "Organic Cotton"),
                ("Hidden button closure and corner ties keep the duvet in place.",
                 "Breathable and soft, it gets better with every wash."),
                ("Machine wash warm, tumble dry low",), "home", weight=5,
                palette=tuple(HOME_PALETTE)),
    ProductType("Sheet Set", "SHTS", ("Sheet Set", "Fitted Sheet", "Flat Sheet"),
                ("home-bedding",), (45, 160), BED,
                ("Percale Cotton", "Sateen Cotton", "Washed Linen", "Bamboo Lyocell"),
                ("Deep pockets fit mattresses up to 16 inches.",
                 "Cool and crisp, ideal for warm sleepers."),
                ("Machine wash warm, tumble dry low",), "home", weight=4,
                palette=tuple(HOME_PALETTE)),
    ProductType("Throw Blanket", "THRW", ("Throw Blanket", "Knit Throw", "Waffle Throw"),
                ("home-decor", "home-bedding"), (35, 140), COLOUR_ONLY,
                ("Cotton Knit", "Merino Wool", "Recycled Fleece", "Linen"),
                ("Generously sized to cover a sofa or the end of a bed.",),
                ("Machine wash cold on a gentle cycle",), "home", weight=4,
                palette=tuple(HOME_PALETTE)),
    ProductType("Mug", "MUG", ("Mug", "Travel Mug", "Espresso Cup Set", "Latte Mug"),
                ("home-kitchen",), (10, 32), COLOUR_ONLY,
                ("Stoneware", "Porcelain", "Stainless Steel"),
                ("Holds 350 ml, enough for a proper cup.",
                 "Each piece is glazed by hand, so no two are quite alike."),
                ("Dishwasher and microwave safe",), "home", weight=5,
                palette=tuple(HOME_PALETTE)),
    ProductType("Dinnerware", "DINR", ("Dinner Plate Set", "Bowl Set", "Serving Platter"),
                ("home-kitchen",), (30, 120), COLOUR_ONLY, ("Stoneware", "Porcelain"),
                ("A set of four, stackable to save cupboard space.",),
                ("Dishwasher safe",), "home", weight=3, palette=tuple(HOME_PALETTE)),
    ProductType("Towel", "TOWL", ("Towel", "Waffle Towel", "Turkish Towel"),
                ("home-bath",), (12, 45), TOWEL,
                ("Organic Cotton", "Turkish Cotton", "Linen"),
                ("Thick 600 gsm loops that soak up water fast.",
                 "Quick-drying, so it stays fresh between washes."),
                ("Machine wash warm, tumble dry low",), "home", weight=4,
                palette=tuple(HOME_PALETTE)),
    ProductType("Bath Mat", "BMAT", ("Bath Mat", "Bath Rug"),
                ("home-bath",), (18, 55), COLOUR_ONLY, ("Cotton", "Teak", "Diatomite"),
                ("A non-slip backing keeps it in place.",),
                ("Machine wash warm",), "home", weight=2, palette=tuple(HOME_PALETTE)),
    ProductType("Cushion Cover", "CUSH", ("Cushion Cover", "Pillow Cover"),
                ("home-decor",), (15, 55), COLOUR_ONLY, ("Linen", "Velvet", "Cotton Canvas"),
                ("A hidden zip makes it easy to wash.",),
                ("Machine wash cold",), "home", weight=3, palette=tuple(HOME_PALETTE)),
    ProductType("Candle", "CNDL", ("Scented Candle", "Pillar Candle", "Candle Trio"),
                ("home-decor",), (12, 48), COLOUR_ONLY, ("Soy Wax", "Beeswax"),
                ("Burns cleanly for about 45 hours.",
                 "Hand-poured in small batches with cotton wicks."),
                ("Trim the wick to 5 mm before each burn",), "home", weight=3,
                palette=tuple(HOME_PALETTE)),
    ProductType("Backpack", "BKPK", ("Backpack", "Daypack", "Rolltop Backpack",
                                     "Laptop Backpack"),
                ("accessories-bags", "sports-outdoor"), (40, 180), ONE_SIZE,
                ("Recycled Nylon", "Waxed Canvas", "Cordura"),
                ("A padded sleeve fits laptops up to 16 inches.",
                 "Water-resistant fabric and a weatherproof zip."),
                ("Spot clean with a damp cloth",), "accessory", weight=5),
    ProductType("Tote Bag", "TOTE", ("Tote Bag", "Canvas Tote", "Shopper"),
                ("accessories-bags",), (15, 75), ONE_SIZE,
                ("Cotton Canvas", "Leather", "Recycled Polyester"),
                ("Big enough for a laptop and the weekly shop.",),
                ("Spot clean",), "accessory", weight=3),
    ProductType("Beanie", "BEAN", ("Beanie", "Ribbed Beanie", "Fisherman Beanie"),
                ("accessories-hats",), (15, 45), ONE_SIZE, ("Merino Wool", "Lambswool",
                                                              "Recycled Acrylic"),
                ("A turn-up cuff for extra warmth over the ears.",),
                WOOL_CARE, "accessory", weight=3),
    ProductType("Cap", "CAP", ("Baseball Cap", "Dad Cap", "Running Cap"),
                ("accessories-hats",), (18, 40), ONE_SIZE, ("Cotton Twill", "Recycled Polyester"),
                ("An adjustable strap at the back fits most heads.",),
                ("Hand wash cold",), "accessory", weight=3),
    ProductType("Socks", "SOCK", ("Socks", "Crew Socks", "Running Socks", "Hiking Socks"),
                ("accessories-socks",), (6, 15), SOCKS,
                ("Organic Cotton", "Merino Wool", "Recycled Nylon"),
                ("A cushioned sole and reinforced heel and toe.",
                 "Arch support keeps them from slipping."),
                ("Machine wash warm, tumble dry low",), "accessory", weight=6),
    ProductType("Scarf", "SCRF", ("Scarf", "Wool Scarf", "Silk Scarf"),
                ("accessories-scarves-gloves",), (20, 120), ONE_SIZE,
                ("Merino Wool", "Cashmere Blend", "Silk", "Lambswool"),
                ("Long enough to wrap twice.",),
                WOOL_CARE, "accessory", weight=3),
    ProductType("Gloves", "GLOV", ("Gloves", "Touchscreen Gloves", "Leather Gloves"),
                ("accessories-scarves-gloves", "sports-cycling"), (18, 70), SML,
                ("Leather", "Merino Wool", "Softshell"),
                ("Touchscreen-friendly fingertips.",),
                ("Hand wash cold",), "accessory", weight=2),
    ProductType("Belt", "BELT", ("Leather Belt", "Woven Belt", "Canvas Belt"),
                ("accessories-belts",), (25, 90), SML, ("Full-Grain Leather", "Canvas"),
                ("A solid brass buckle that will not tarnish.",),
                ("Condition leather occasionally",), "accessory", weight=2),
]

BRANDS = (
    "Northpeak", "Harbor & Pine", "Lumen", "Fieldwork", "Alder Co.", "Saltmarsh", "Kestrel",
    "Monolith", "Bramble", "Tidewater", "Quarry", "Wren & Oak", "Ironbark", "Solace",
    "Meridian", "Coastline", "Drift", "Arbor", "Summit Supply", "Velo Club", "Hearth",
    "Linden", "Nomad Thread", "Cinder", "Bluefold",
)
STYLES = {
    "apparel": ("Classic", "Essential", "Everyday", "Relaxed", "Heritage", "Lightweight",
                "Premium", "Vintage", "Modern", "Urban", "Coastal", "Weekend", "Signature",
                "Soft"),
    "shoes": ("Classic", "Everyday", "Lightweight", "Heritage", "Urban", "Alpine", "Premium",
              "Weekend", "Cushioned"),
    "gear": ("Pro", "Essential", "Lightweight", "Alpine", "Trail", "Studio", "Compact"),
    "home": ("Classic", "Essential", "Everyday", "Heritage", "Modern", "Coastal", "Signature",
             "Nordic", "Artisan", "Soft"),
    "accessory": ("Classic", "Essential", "Everyday", "Heritage", "Urban", "Premium", "Vintage",
                  "Weekend", "Signature"),
}
ORIGINS = ("Portugal", "Portugal", "Vietnam", "Turkey", "India", "India", "Bangladesh", "China",
           "China", "Italy", "USA", "Peru", "Sri Lanka", "Mexico")
OCCASIONS = {
    "apparel": ("everyday wear", "weekends", "the office", "travel", "layering"),
    "shoes": ("daily miles", "city streets", "long days on your feet", "weekend adventures"),
    "gear": ("training", "the trail", "the studio", "long rides"),
    "home": ("everyday use", "slow mornings", "guest rooms", "gifting"),
    "accessory": ("the commute", "travel", "everyday carry", "cold mornings"),
}
# Written so that no verb agrees with the noun: "boots" and "hoodie" both read well.
INTROS = (
    "{vendor}'s {noun} in {material}, made for {occasion}.",
    "From {vendor}: a {style} take on the {noun}, in {material}.",
    "Made by {vendor} from {material} and built for {occasion}.",
    "Designed by {vendor} for {occasion}, in {material} with a clean, modern finish.",
    "Meet the {title}: an easy favourite for {occasion}.",
)
FIT_NOTES = {
    "Slim": "Slim fit: close to the body; size up for more room.",
    "Regular": "Regular fit: true to size with room to move.",
    "Relaxed": "Relaxed fit: roomy through the body, easy to layer.",
    "Oversized": "Oversized fit: dropped shoulders and a boxy shape; size down for a closer fit.",
    "Boxy": "Boxy fit: wide and slightly cropped.",
    "Straight": "Straight fit: a clean line from hip to hem.",
    "Tapered": "Tapered fit: roomy at the top, narrowing to the ankle.",
    "Athletic": "Athletic fit: room in the shoulders, trim at the waist.",
    "Compression": "Compression fit: snug and supportive; size up if between sizes.",
    "Second Skin": "Second-skin fit: light and barely there.",
    "A-Line": "A-line fit: fitted at the waist, flaring gently to the hem.",
    "Fitted": "Fitted: follows the body; size up for a looser look.",
    "Tailored": "Tailored fit: sharp through the shoulders and waist.",
    "Race": "Race fit: close-cut and aerodynamic; size up for a relaxed feel.",
    "Club": "Club fit: a little more room than race fit.",
    "True to size": "Fits true to size.",
    "Runs small": "Runs small: we suggest half a size up.",
    "Runs large": "Runs large: we suggest half a size down.",
}
# Nouns that only make sense in some materials (a trench coat is not made of down).
NOUN_MATERIALS = {
    "Trench Coat": ("Cotton Gabardine",), "Parka": ("Recycled Down", "Wool Blend"),
    "Peacoat": ("Wool Blend", "Boiled Wool"), "Overcoat": ("Wool Blend", "Boiled Wool"),
    "Puffer Jacket": ("Recycled Down", "Recycled Nylon"),
    "Rain Jacket": ("Waterproof Shell", "Recycled Nylon"),
    "Shell Jacket": ("Waterproof Shell", "Recycled Nylon"),
    "Bomber Jacket": ("Recycled Nylon", "Denim"),
    "Running Shorts": ("Recycled Polyester",), "Chino Shorts": ("Cotton Twill", "Linen Blend"),
    "Swim Shorts": ("Recycled Nylon", "Chlorine-Resistant Polyester"),
}

# ---------------------------------------------------------------------------------------------
# Generation: plain tuples, column order given by the *_COLUMNS lists below.

PRODUCT_COLUMNS = ["id", "handle", "title", "description", "vendor", "product_type",
                   "category_id", "tags", "rating", "rating_count", "status", "created_at",
                   "updated_at", "currency", "min_price", "max_price", "in_stock", "colors",
                   "sizes"]
VARIANT_COLUMNS = ["id", "product_id", "sku", "title", "size", "color", "price",
                   "compare_at_price", "currency", "stock", "position"]
IMAGE_COLUMNS = ["id", "product_id", "url", "alt", "position"]
ATTRIBUTE_COLUMNS = ["id", "product_id", "name", "value", "position"]


@dataclass
class Batch:
    products: list[tuple] = field(default_factory=list)
    variants: list[tuple] = field(default_factory=list)
    images: list[tuple] = field(default_factory=list)
    attributes: list[tuple] = field(default_factory=list)


@dataclass
class NextIds:
    product: int = 1
    variant: int = 1
    image: int = 1
    attribute: int = 1


class CatalogGenerator:
    """Builds the demo catalog as tuples; one instance per seed run (it owns the RNG)."""

    def __init__(self, seed: int, currency: str, categories: dict[str, int]):
        self.rng = random.Random(seed)
        self.currency = currency
        self.categories = categories
        self.types = PRODUCT_TYPES
        self.type_weights = list(_cumulative(t.weight for t in PRODUCT_TYPES))
        self.palettes = {id(t.palette): _weighted_pool(t.palette) for t in PRODUCT_TYPES}
        self.materials = {(t.code, noun): _materials_for(t, noun)
                          for t in PRODUCT_TYPES for noun in t.nouns}
        # The first products cover every (type, category) pair once, in shuffled order, so
        # even a small demo shop has something in every category.
        self.showcase = [(t, slug) for t in PRODUCT_TYPES for slug in t.categories]
        self.rng.shuffle(self.showcase)

    def batches(self, count: int, ids: NextIds, batch_size: int = BATCH_SIZE) -> Iterator[Batch]:
        for first in range(1, count + 1, batch_size):
            batch = Batch()
            for number in range(first, min(count, first + batch_size - 1) + 1):
                self.product(number, ids, batch)
            yield batch

    # -- one product -------------------------------------------------------------------------

    def product(self, number: int, ids: NextIds, batch: Batch) -> None:
        rng = self.rng
        if number <= len(self.showcase):
            kind, category_slug = self.showcase[number - 1]
        else:
            kind = rng.choices(self.types, cum_weights=self.type_weights)[0]
            category_slug = rng.choice(kind.categories)
        noun = rng.choice(kind.nouns)
        material = rng.choice(self.materials[kind.code, noun])
        style = rng.choice(kind.styles or STYLES[kind.group])
        vendor = rng.choice(BRANDS)
        fit = rng.choice(kind.fits) if kind.fits else None
        title = _title(category_slug, style, material, noun, with_material=rng.random() < 0.7)
        handle = f"{slugify(title)}-{number:06d}"

        product_id = ids.product
        ids.product += 1
        colours = self._colours(kind)
        sizes = self._sizes(kind.sizes)
        prices = self._prices(kind, sizes)
        variants = self._variants(kind, product_id, number, colours, sizes, prices, ids)
        batch.variants.extend(variants)

        created = BASE_DATE - timedelta(seconds=rng.randrange(CATALOG_AGE_DAYS * 86_400))
        updated = min(BASE_DATE, created + timedelta(seconds=rng.randrange(90 * 86_400)))
        rating, rating_count = self._rating()
        care = rng.choice(kind.care)
        on_sale = variants[0][7] is not None
        batch.products.append((
            product_id, handle, title,
            self._description(kind, title, noun, style, material, vendor, fit, care),
            vendor, kind.name, self.categories[category_slug],
            _tags(kind, category_slug, style, material, on_sale, created, rating_count),
            rating, rating_count, "active", created, updated, self.currency,
            min(prices.values()), max(prices.values()), any(v[9] > 0 for v in variants),
            _joined(c.lower() for c, _ in colours), _joined(sizes),
        ))
        for position in range(rng.randint(1, 3)):  # drawn here: one per colour, in order
            colour = colours[position % len(colours)][0]
            batch.images.append((ids.image, product_id, picture_path(kind.name, colour),
                                 f"{title}, {colour.lower()}", position))
            ids.image += 1
        for position, (name, value) in enumerate(self._attributes(kind, material, fit, care)):
            batch.attributes.append((ids.attribute, product_id, name, value, position))
            ids.attribute += 1

    def _colours(self, kind: ProductType) -> list[tuple[str, str]]:
        pool = self.palettes[id(kind.palette)]
        # A quarter of products come in one colourway; the rest in 2-4 (mostly 2). This keeps
        # about six variants per product, like a real mid-size shop.
        wanted = self.rng.choices((1, 2, 3, 4), cum_weights=(25, 72, 93, 100))[0]
        picked: dict[str, str] = {}
        while len(picked) < wanted:
            name, code = self.rng.choice(pool)
            picked.setdefault(name, code)
        return list(picked.items())

    def _sizes(self, scale: SizeScale) -> list[str]:
        if not scale.sizes:
            return []
        run = self.rng.randint(*scale.run)
        start = self.rng.randint(0, len(scale.sizes) - run)
        return list(scale.sizes[start:start + run])

    def _prices(self, kind: ProductType, sizes: list[str]) -> dict[str | None, int]:
        """Shelf price per size (one entry, key None, for colour-only products)."""
        low, high = kind.price
        units = self.rng.randint(low, high - 1)
        cents = self.rng.choices((99, 0, 50), cum_weights=(60, 85, 100))[0]
        if not sizes:
            return {None: demo_amount(units * 100 + cents, self.currency)}
        scale = kind.sizes.sizes
        return {size: demo_amount((units + kind.sizes.step * scale.index(size)) * 100 + cents,
                                  self.currency)
                for size in sizes}

    def _variants(self, kind, product_id, number, colours, sizes, prices, ids) -> list[tuple]:
        rng = self.rng
        discount = rng.choice((10, 15, 20, 25, 30, 40, 50)) if rng.random() < 0.2 else 0  # %
        sold_out = rng.random() < 0.02
        rows = []
        for colour, colour_code in colours:
            for size in sizes or [None]:
                price = prices[size]
                compare_at = _compare_at(price, discount) if discount else None
                stock = 0 if sold_out else _stock(rng)
                sku = f"{kind.code}-{number:06d}-{colour_code}"
                if size is not None:
                    sku += "-" + _size_code(size)
                rows.append((ids.variant, product_id, sku,
                             f"{colour} / {size}" if size else colour, size, colour,
                             price, compare_at, self.currency, stock, len(rows)))
                ids.variant += 1
        return rows

    def _rating(self) -> tuple[float, int]:
        # Shoppers mostly rate what they like: a mean around 4.2, a tail down to 1.
        rating = min(5.0, max(1.0, self.rng.gauss(4.3, 0.55)))
        if self.rng.random() < 0.05:
            rating = self.rng.uniform(1.0, 3.0)
        count = int(self.rng.paretovariate(1.2) * 3)
        return round(rating, 1), min(count, 5_000)

    def _description(self, kind, title, noun, style, material, vendor, fit, care) -> str:
        rng = self.rng
        occasion = rng.choice(OCCASIONS[kind.group])
        sentences = [rng.choice(INTROS).format(
            vendor=vendor, noun=noun.lower(), material=material.lower(), style=style.lower(),
            occasion=occasion, title=title)]
        sentences += rng.sample(kind.features, min(len(kind.features), rng.randint(1, 2)))
        if fit:
            sentences.append(FIT_NOTES[fit])
        sentences.append(f"Care: {care[0].lower()}{care[1:]}.")
        return " ".join(sentences)

    def _attributes(self, kind, material, fit, care) -> list[tuple[str, str]]:
        attributes = [("Material", material)]
        if fit:
            attributes.append(("Fit", fit))
        attributes.append(("Care", care))
        if self.rng.random() < 0.6:
            attributes.append(("Origin", self.rng.choice(ORIGINS)))
        return attributes


def _cumulative(weights) -> Iterator[int]:
    total = 0
    for weight in weights:
        total += weight
        yield total


def _weighted_pool(palette) -> list[tuple[str, str]]:
    return [(name, code) for name, code, weight in palette for _ in range(weight)]


def _materials_for(kind: ProductType, noun: str) -> tuple[str, ...]:
    """Materials a noun allows: a "Cork Yoga Mat" is cork, a "Denim Jacket" denim."""
    if noun in NOUN_MATERIALS:
        return NOUN_MATERIALS[noun]
    words = noun.lower().split()
    named = tuple(m for m in kind.materials if any(w in m.lower() for w in words))
    return named or kind.materials


def _title(category_slug: str, style: str, material: str, noun: str, *, with_material: bool
           ) -> str:
    prefix = {"women": "Women's ", "men": "Men's "}.get(category_slug.split("-", 1)[0], "")
    # Avoid "Merino Wool Wool Scarf" when the noun already names the material.
    if with_material and material.split()[-1].lower() not in noun.lower():
        return f"{prefix}{style} {material} {noun}"
    return f"{prefix}{style} {noun}"


def _tags(kind, category_slug, style, material, on_sale, created, rating_count) -> str:
    tags = [kind.name.lower(), category_slug.split("-", 1)[0], style.lower(), *(
        word.lower() for word in material.split())]
    if on_sale:
        tags.append("sale")
    if created > BASE_DATE - timedelta(days=60):
        tags.append("new")
    if rating_count >= 150:
        tags.append("bestseller")
    return ",".join(dict.fromkeys(tags))


def _joined(values) -> str:
    values = list(values)
    return f"|{'|'.join(values)}|" if values else ""


def _size_code(size: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", size.upper())


def _stock(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.08:
        return 0
    if roll < 0.12:
        return rng.randint(61, 250)  # a few best sellers are stocked deep
    return rng.randint(1, 60)


def _compare_at(price: int, percent_off: int) -> int:
    """The 'was' price before ``percent_off``, rounded up to whole units, same ending as price.
    Integer arithmetic throughout: money never goes through floats."""
    was = -(-price * 100 // ((100 - percent_off) * 100)) * 100
    return was - 1 if price % 100 == 99 else was


# ---------------------------------------------------------------------------------------------
# Writing.

async def seed_catalog(db: Database, products: int, *, seed: int = 42, currency: str = "USD",
                       progress: Progress | None = None, reset: bool = False) -> dict:
    """Write the category tree and ``products`` demo products; returns row counts.

    Refuses (ValueError) when the catalog already has products, unless ``reset`` is true:
    then the catalog (and cart lines pointing at its variants) is deleted first, in the same
    transaction, so a failed seed leaves the old catalog in place.
    """
    if products < 0:
        raise ValueError("the number of products must be zero or more")
    report = progress or (lambda message: None)
    counts = {"categories": 0, "products": 0, "variants": 0, "images": 0, "attributes": 0}
    async with db.write() as session:
        conn = await session.connection()
        if await conn.scalar(select(Product.id).limit(1)) is not None:
            if not reset:
                raise ValueError("the catalog already has products: seed into a fresh "
                                 "database, or pass --reset to replace the catalog")
            report("deleting the existing catalog")
            await _delete_catalog(conn)
        categories = await _ensure_categories(conn)
        counts["categories"] = len(categories)
        ids = await _next_ids(conn)
        generator = CatalogGenerator(seed, currency.upper(), categories)
        writer = _copy_rows if conn.dialect.name == "postgresql" else _insert_rows
        async for batch in _prefetched(generator.batches(products, ids)):
            for table, columns, rows in ((Product.__table__, PRODUCT_COLUMNS, batch.products),
                                         (Variant.__table__, VARIANT_COLUMNS, batch.variants),
                                         (ProductImage.__table__, IMAGE_COLUMNS, batch.images),
                                         (ProductAttribute.__table__, ATTRIBUTE_COLUMNS,
                                          batch.attributes)):
                await writer(conn, table, columns, rows)
            counts["products"] += len(batch.products)
            counts["variants"] += len(batch.variants)
            counts["images"] += len(batch.images)
            counts["attributes"] += len(batch.attributes)
            count(progress, "products", counts["products"], products,
                  note=f"seeded {counts['products']:,}/{products:,} products")
        if conn.dialect.name == "postgresql":
            await _reset_sequences(conn)
    from .search import rebuild_index  # late: search imports the catalog models too
    await rebuild_index(db, progress=progress)
    return counts


async def _prefetched(batches: Iterator[Batch]):
    """Build the next batch in a worker thread while this one is written: the database does
    its part (SQLite's engine, the PostgreSQL server) without holding the GIL, so on two cores
    generating and writing overlap."""
    pending = asyncio.create_task(asyncio.to_thread(next, batches, None))
    try:
        while (batch := await pending) is not None:
            pending = asyncio.create_task(asyncio.to_thread(next, batches, None))
            yield batch
    finally:
        pending.cancel()


async def _delete_catalog(conn: AsyncConnection) -> None:
    # Children first; every cart line points at a variant, so they all go. The search index
    # (product_search, full-text tables, vocabulary) is rebuilt after the seed.
    for model in (CartLine, ProductSearch, ProductAttribute, ProductImage, Variant, Product,
                  SearchTerm):
        await conn.execute(delete(model))
    await conn.execute(delete(Category))


async def _ensure_categories(conn: AsyncConnection) -> dict[str, int]:
    """The demo tree, found by slug or created; returns slug -> id."""
    existing = dict((await conn.execute(select(Category.slug, Category.id))).all())
    next_id = (await conn.scalar(select(func.coalesce(func.max(Category.id), 0)))) + 1
    by_slug: dict[str, int] = {}
    new_rows = []
    for row in category_rows():
        if row.slug in existing:
            by_slug[row.slug] = existing[row.slug]
            continue
        parent_slug = _parent_slug(row)
        by_slug[row.slug] = next_id
        new_rows.append(dict(id=next_id, parent_id=by_slug[parent_slug] if parent_slug else None,
                             slug=row.slug, name=row.name, path=row.path, position=row.position))
        next_id += 1
    if new_rows:
        await conn.execute(Category.__table__.insert(), new_rows)
    return by_slug


def _parent_slug(row: CategoryRow) -> str | None:
    keys = row.path.split("/")
    if len(keys) == 1:
        return None
    parent_keys = keys[:-1]
    return "-".join([parent_keys[0], parent_keys[-1]] if len(parent_keys) > 1 else parent_keys)


async def _next_ids(conn: AsyncConnection) -> NextIds:
    async def after(model) -> int:
        return (await conn.scalar(select(func.coalesce(func.max(model.id), 0)))) + 1
    return NextIds(await after(Product), await after(Variant), await after(ProductImage),
                   await after(ProductAttribute))


async def _insert_rows(conn: AsyncConnection, table, columns: list[str], rows: list[tuple]
                       ) -> None:
    """executemany of plain tuples. Core's insert(table) with one dict per row takes twice as
    long, so convert only the columns whose type needs it (dates, booleans) ourselves."""
    if not rows:
        return
    dialect = conn.dialect
    converters = [(i, process) for i, name in enumerate(columns)
                  if (process := table.c[name].type.dialect_impl(dialect).bind_processor(dialect))]
    if converters:
        rows = [_converted(row, converters) for row in rows]
    statement = (f"INSERT INTO {table.name} ({', '.join(columns)}) "
                 f"VALUES ({', '.join('?' * len(columns))})")
    await conn.exec_driver_sql(statement, rows)


def _converted(row: tuple, converters) -> tuple:
    values = list(row)
    for i, process in converters:
        values[i] = process(values[i])
    return tuple(values)


async def _copy_rows(conn: AsyncConnection, table, columns: list[str], rows: list[tuple]) -> None:
    # COPY is several times faster than executemany on PostgreSQL for bulk loads.
    if rows:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(table.name, records=rows,
                                                          columns=columns)


async def _reset_sequences(conn: AsyncConnection) -> None:
    """Ids were assigned here, so move each serial sequence past them for later inserts."""
    for table in ("categories", "products", "variants", "product_images", "product_attributes"):
        await conn.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"))
