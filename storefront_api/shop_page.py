"""The demo shop front, GET /: the catalog (search, filters, product pages), the cart and the
web chat, all drawn in the browser from the public API (storefront_api/web/shop/). The chat is
embedded the way any shop would embed it, with one script tag (docs/web-chat.md); page and
chat share one cart, the conversation's (POST /api/chat/cart/open).

Public, like the catalog: nothing here needs a credential beyond what the API asks for.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from aiohttp import web

from .app_keys import SETTINGS
from .chat.page import page_headers

PAGE = Path(__file__).resolve().parent / "web" / "shop" / "index.html"


async def shop_front(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    html = (PAGE.read_text(encoding="utf-8")
            .replace("{{socket_url}}", escape(settings.chat_socket_url, quote=True))
            .replace("{{shop_name}}", escape(settings.shop_name, quote=True)))
    return web.Response(text=html, content_type="text/html", charset="utf-8",
                        headers=page_headers(settings))


def register_shop_front(app: web.Application) -> None:
    app.router.add_get("/", shop_front)
