"""The page behind the link of a confirmation e-mail (consent/confirmation.py):
GET /consent/confirm?token=... and its button, POST /consent/confirm.

Opening the link records nothing: mail scanners and link previews open links on their own.
The page names the purposes and offers one button; its POST (the token in the form) records
the grants. The token is the credential: whoever has it has the address's mailbox. The
pages show no address, send no Referer (the URL holds the token), run no script, and may
not be framed. An unreadable token is a 400 page, an expired one a 410 page; both record
nothing.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

from ..app_keys import DB, SETTINGS
from ..html_page import page
from ..ratelimit import enforce
from . import confirmation

PATH = "/consent/confirm"
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the URL holds the token
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
_OUTCOMES = {  # what confirmation.confirm answers: (title, text)
    "confirmed": ("Thank you: confirmed",
                  ("We have noted your choice. You can change your mind at any time, in "
                   "the chat or at your next checkout.")),
    "already": ("Already confirmed", "This link was used already; nothing more to do."),
    "superseded": ("Nothing changed",
                   ("This address said no after this link was sent, and that later choice "
                    "stands. To say yes again, tell us in the chat or at your next "
                    "checkout: we will send a new link.")),
}


def register_consent_pages(app: web.Application) -> None:
    app.router.add_get(PATH, show_confirmation)
    app.router.add_post(PATH, confirm)


def _respond(request: web.Request, title: str, body: str, status: int = 200) -> web.Response:
    shop_name = request.app[SETTINGS].shop_name
    return web.Response(text=page(title, f'<section class="card">{body}</section>', shop_name),
                        status=status, content_type="text/html", charset="utf-8",
                        headers=_HEADERS)


def _link_or_page(request: web.Request, token: str):
    """(the link, None), or (None, the 400 or 410 page that says why not)."""
    try:
        return confirmation.read_link(request.app[SETTINGS].secret_key, token), None
    except confirmation.LinkExpired:
        return None, _respond(request, "Link expired", "<h1>This link has expired</h1><p>"
                              f"Confirmation links work for {confirmation.LINK_DAYS} days. "
                              "Nothing was changed; ask again in the chat or at your next "
                              "checkout and we will send a new one.</p>", 410)
    except confirmation.LinkInvalid:
        return None, _respond(request, "Link not valid", "<h1>We cannot read this link</h1>"
                              "<p>It may be incomplete: open it from the e-mail again, or "
                              "copy the whole address. Nothing was changed.</p>", 400)


async def show_confirmation(request: web.Request) -> web.Response:
    token = request.query.get("token", "")
    link, problem = _link_or_page(request, token)
    if problem is not None:
        return problem
    purposes = "".join(f"<li>{escape(confirmation.PURPOSE_LINES[p])}</li>"
                       for p in link.purposes)
    return _respond(request, "Confirm", (
        "<h1>Please confirm</h1><p>You asked us for this, with your e-mail address:</p>"
        f"<ul>{purposes}</ul><p>Nothing of this happens until you press the button.</p>"
        f'<form method="post" action="{PATH}">'
        f'<input type="hidden" name="token" value="{escape(token, quote=True)}">'
        '<button type="submit">Yes, I confirm</button></form>'
        '<p class="muted">Not you? Close this page: nothing changes.</p>'))


async def confirm(request: web.Request) -> web.Response:
    await enforce(request, "consent")
    form = await request.post()
    token = str(form.get("token", ""))[:confirmation.MAX_TOKEN + 1]
    link, problem = _link_or_page(request, token)
    if problem is not None:
        return problem
    async with request.app[DB].write() as session:
        outcome = await confirmation.confirm(session, link)
    title, text = _OUTCOMES[outcome]
    return _respond(request, title, f"<h1>{escape(title)}</h1><p>{escape(text)}</p>")
