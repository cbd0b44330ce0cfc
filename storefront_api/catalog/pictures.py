"""Pictures of the demo catalog, drawn here: a simple SVG per product type and colour.

GET /images/demo/{type}-{colour}.svg (public, like the catalog) answers e.g.
``/images/demo/running-shoes-navy.svg``: the silhouette of the type (one of a dozen shapes)
in the colour, on a light background. The demo catalog's images point here, so cards and
product pages show a picture without any download; an imported catalog keeps its own images.
"""

from __future__ import annotations

import re

from aiohttp import web

# The demo palette's colours as fills (catalog/demo_catalog.py PALETTE).
COLOURS = {
    "black": "#23252a", "white": "#f4f4f1", "navy": "#1f2f55", "grey": "#8a9098",
    "charcoal": "#3d4147", "red": "#c0392b", "burgundy": "#7b1e33", "blue": "#2f6fbd",
    "green": "#2e8b57", "olive": "#6b7036", "beige": "#d9c7a7", "cream": "#f1e6cc",
    "brown": "#7a4e2d", "pink": "#e58fb1", "yellow": "#f2c230", "orange": "#e67e22",
    "purple": "#7d4fa0", "teal": "#1f8a8a", "khaki": "#b9a77a", "sand": "#d8c39a",
}

# Silhouettes on a 200 x 240 canvas.
SHAPES = {
    "top": "M60 40 L85 30 Q100 45 115 30 L140 40 L175 75 L155 95 L140 85 L140 200 L60 200 "
           "L60 85 L45 95 L25 75 Z",
    "long-top": "M60 40 L85 30 Q100 45 115 30 L140 40 L180 150 L160 158 L140 95 L140 205 "
                "L60 205 L60 95 L40 158 L20 150 Z",
    "coat": "M62 35 L88 28 L100 60 L112 28 L138 35 L178 160 L158 166 L142 110 L144 215 L56 215 "
            "L58 110 L42 166 L22 160 Z",
    "trousers": "M62 30 L138 30 L150 215 L112 215 L100 95 L88 215 L50 215 Z",
    "shorts": "M58 60 L142 60 L152 160 L110 160 L100 110 L90 160 L48 160 Z",
    "dress": "M78 30 L92 30 Q100 42 108 30 L122 30 L128 90 L160 210 L40 210 L72 90 Z",
    "skirt": "M70 60 L130 60 L160 190 L40 190 Z",
    "shoe": "M30 150 L30 110 Q40 100 60 105 L95 120 Q130 130 160 135 Q178 140 178 158 "
            "L178 170 L30 170 Z",
    "boot": "M60 50 L110 50 L112 130 Q150 138 168 150 Q178 158 176 172 L60 172 Z",
    "bottle": "M88 30 L112 30 L112 55 Q135 70 135 100 L135 200 Q135 212 122 212 L78 212 "
              "Q65 212 65 200 L65 100 Q65 70 88 55 Z",
    "mug": "M50 70 L140 70 L140 180 Q140 195 125 195 L65 195 Q50 195 50 180 Z M140 95 "
           "Q175 95 175 125 Q175 155 140 155 L140 140 Q160 140 160 125 Q160 110 140 110 Z",
    "bag": "M45 85 L155 85 L165 205 L35 205 Z M75 85 Q75 40 100 40 Q125 40 125 85 L115 85 "
           "Q115 52 100 52 Q85 52 85 85 Z",
    "hat": "M45 150 Q45 70 100 70 Q155 70 155 150 Z M35 150 L165 150 L165 165 L35 165 Z",
    "flat": "M30 80 L170 80 L170 180 L30 180 Z",
    "roll": "M40 90 L160 90 L160 150 L40 150 Z M40 90 Q25 120 40 150 M160 90 Q175 120 160 150",
    "tent": "M100 50 L175 190 L25 190 Z M100 50 L100 190",
    "candle": "M70 90 L130 90 L130 200 L70 200 Z M100 85 Q90 65 100 45 Q110 65 100 85 Z",
    "sock": "M80 30 L120 30 L120 140 Q150 150 155 175 Q158 200 130 200 L90 200 Q75 200 78 180 "
            "L80 140 Z",
    "strip": "M20 105 L180 105 L180 135 L20 135 Z",
}

TYPES = {
    "t-shirt": "top", "running-top": "top", "sports-bra": "top", "cycling-apparel": "top",
    "swimwear": "top", "hoodie": "long-top", "sweater": "long-top", "shirt": "long-top",
    "jacket": "coat", "coat": "coat", "jeans": "trousers", "joggers": "trousers",
    "leggings": "trousers", "chinos": "trousers", "shorts": "shorts", "skirt": "skirt",
    "dress": "dress", "running-shoes": "shoe", "sneakers": "shoe", "sandals": "shoe",
    "boots": "boot", "water-bottle": "bottle", "mug": "mug", "dinnerware": "mug",
    "backpack": "bag", "tote-bag": "bag", "beanie": "hat", "cap": "hat",
    "cycling-helmet": "hat", "yoga-mat": "roll", "yoga-block": "flat", "tent": "tent",
    "duvet-cover": "flat", "sheet-set": "flat", "throw-blanket": "flat", "towel": "flat",
    "bath-mat": "flat", "cushion-cover": "flat", "candle": "candle", "socks": "sock",
    "gloves": "sock", "scarf": "strip", "belt": "strip",
}

_NAME = re.compile(r"^(?P<type>[a-z0-9-]+?)-(?P<colour>[a-z]+)\.svg$")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def picture_path(product_type: str, colour: str) -> str:
    """Where the demo picture of a product type in a colour is served."""
    return f"/images/demo/{slug(product_type)}-{slug(colour)}.svg"


def _outline(fill: str) -> str:
    """A darker line around light colours, a lighter one around dark ones."""
    red, green, blue = (int(fill[i:i + 2], 16) for i in (1, 3, 5))
    return "#6b6f75" if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else "#0f1114"


def draw(product_type: str, colour: str) -> str | None:
    """The SVG text, or None for a type or colour the demo does not have."""
    shape, fill = TYPES.get(product_type), COLOURS.get(colour)
    if shape is None or fill is None:
        return None
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 240" width="600" '
        f'height="720" role="img" aria-label="{product_type.replace("-", " ")}, {colour}">'
        '<rect width="200" height="240" fill="#eef1ef"/>'
        '<ellipse cx="100" cy="222" rx="70" ry="8" fill="#000" opacity=".08"/>'
        f'<path d="{SHAPES[shape]}" fill="{fill}" fill-rule="evenodd" '
        f'stroke="{_outline(fill)}" stroke-width="2" stroke-linejoin="round"/></svg>')


async def demo_picture(request: web.Request) -> web.Response:
    match = _NAME.match(request.match_info["name"])
    svg = draw(match["type"], match["colour"]) if match else None
    if svg is None:
        raise web.HTTPNotFound(text="No such demo picture.")
    return web.Response(text=svg, content_type="image/svg+xml", headers={
        "Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff",
        # an SVG opened on its own runs nothing
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})


def register_pictures(app: web.Application) -> None:
    app.router.add_get("/images/demo/{name}", demo_picture)
