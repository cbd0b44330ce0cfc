"""The staff pages, plain HTML and one small script with no build step
(storefront_api/web/staff/): GET /staff/sign-in and GET /staff/set-password?token=...

They only talk to this shop's own API (/api/staff/...). The Content-Security-Policy allows
scripts, styles and requests from this origin alone, no inline script, and no framing (a
sign-in form inside another site's frame is how clickjacking starts). The set-password
link's token never leaves the page in a Referer header.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from aiohttp import web

from ..app_keys import SETTINGS

PAGES = Path(__file__).resolve().parent.parent / "web" / "staff"
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; "
                                "connect-src 'self'; img-src 'self'; form-action 'self'; "
                                "base-uri 'none'; frame-ancestors 'none'"),
}


def _page(name: str):
    async def handler(request: web.Request) -> web.Response:
        html = (PAGES / name).read_text(encoding="utf-8").replace(
            "{{shop_name}}", escape(request.app[SETTINGS].shop_name, quote=True))
        return web.Response(text=html, content_type="text/html", charset="utf-8",
                            headers=HEADERS)
    return handler


def register_staff_pages(app: web.Application) -> None:
    app.router.add_get("/staff/sign-in", _page("sign-in.html"))
    app.router.add_get("/staff/set-password", _page("set-password.html"))
