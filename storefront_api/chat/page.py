"""The web chat page, GET /chat: storefront_api/web/chat.html with the shop's name and the
address of Rasa's socketio channel (CHAT_SOCKET_URL) filled in. The widget's script and
styles are the static files /static/chat.js and /static/chat.css (docs/web-chat.md); the
script asks this server's POST /api/chat/sessions (same origin) for its socket token."""

from __future__ import annotations

from html import escape
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from ..app_keys import SETTINGS
from ..settings import Settings

PAGE = Path(__file__).resolve().parent.parent / "web" / "chat.html"


def _socket_origin(socket_url: str) -> str:
    """The WebSocket origin the page may connect to, for its Content-Security-Policy."""
    parts = urlsplit(socket_url)
    if not parts.netloc:
        return ""  # a relative URL: the socket is on this origin, which 'self' covers
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}"


def page_headers(settings: Settings) -> dict[str, str]:
    """The headers of a page that carries the chat (this one, the shop front at /)."""
    connect = " ".join(filter(None, ["'self'", _socket_origin(settings.chat_socket_url)]))
    return {
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        # product images come from wherever the catalog keeps them
        "Content-Security-Policy": (f"default-src 'self'; connect-src {connect}; "
                                    "img-src 'self' https: http: data:; base-uri 'none'; "
                                    "form-action 'self'; frame-ancestors 'self'"),
    }


def render_chat_page(settings: Settings) -> str:
    return (PAGE.read_text(encoding="utf-8")
            .replace("{{socket_url}}", escape(settings.chat_socket_url, quote=True))
            .replace("{{shop_name}}", escape(settings.shop_name, quote=True)))


async def chat_page(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return web.Response(text=render_chat_page(settings), content_type="text/html",
                        charset="utf-8", headers=page_headers(settings))


def register_chat_page(app: web.Application) -> None:
    app.router.add_get("/chat", chat_page)
