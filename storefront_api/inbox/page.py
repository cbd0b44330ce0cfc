"""GET /inbox: the agents' page (storefront_api/web/inbox/: HTML, one script, one style
sheet; no build step, no library).

Who gets it: a signed-in agent or admin (the staff session cookie). Without a session the
browser is sent to the sign-in page, which comes back here; a merchant (or a script's
bearer token, which a browser never sends) gets 403. The page itself holds no data: its
script reads the API and the live stream, each of which checks the session again. The
same strict Content-Security-Policy as the other staff pages: scripts, styles and requests
from this origin only, no inline script, no framing.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from aiohttp import web

from ..app_keys import SETTINGS
from ..auth import ROLE_GRANTS, current_staff
from ..staff.pages import HEADERS

PAGE = Path(__file__).resolve().parent.parent / "web" / "inbox" / "inbox.html"
FORBIDDEN = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Inbox"
             "</title><link rel=\"stylesheet\" href=\"/static/staff/staff.css\"></head><body>"
             "<main class=\"staff-card\"><h1>Support inbox</h1><p>The inbox is for support "
             "agents. You are signed in as {role}; an admin can give you the agent role."
             "</p><p><a href=\"/staff/sign-in\">Sign in as someone else</a></p></main>"
             "</body></html>")


async def inbox_page(request: web.Request) -> web.Response:
    member = await current_staff(request)
    if member is None or member.via != "session":
        raise web.HTTPSeeOther("/staff/sign-in?next=/inbox", headers=HEADERS)
    if member.role not in ROLE_GRANTS["agent"]:
        return web.Response(text=FORBIDDEN.format(role=escape(member.role)), status=403,
                            content_type="text/html", charset="utf-8", headers=HEADERS)
    html = PAGE.read_text(encoding="utf-8").replace(
        "{{shop_name}}", escape(request.app[SETTINGS].shop_name, quote=True))
    return web.Response(text=html, content_type="text/html", charset="utf-8",
                        headers=HEADERS)


def register_inbox_page(app: web.Application) -> None:
    app.router.add_get("/inbox", inbox_page)
