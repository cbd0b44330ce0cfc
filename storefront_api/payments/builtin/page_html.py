"""HTML of the test gateway's hosted payment page, on the shop's plain page
(``storefront_api/html_page.py``: inline CSS, no script, no external asset).

Every value from the database or the shopper goes through ``escape``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from ...html_page import page
from ...money import format_money

TEST_NOTICE = (
    '<p class="test" role="note"><strong>This is the test payment page.</strong> '
    "No real card is charged, and no card data is stored or sent anywhere: the number is only "
    "checked against the test cards below, then forgotten.</p>")


@dataclass
class PayView:
    """What the page shows about one checkout."""
    shop_name: str
    session_id: str
    summary: dict[str, Any]
    currency: str
    total: int
    email: str
    expires_at: datetime
    now: datetime

    def money(self, amount: int) -> str:
        return escape(format_money(amount, self.currency))


@dataclass
class FormState:
    message: str = ""          # the form-wide error, announced (role=alert)
    errors: dict[str, str] = field(default_factory=dict)  # field -> message
    name: str = ""             # the only value shown back; card details never are


def summary_html(view: PayView) -> str:
    s = view.summary
    rows = []
    for line in s.get("lines", []):
        name = escape(line.get("title", ""))
        if line.get("variant_title"):
            name += f' <span class="muted">({escape(line["variant_title"])})</span>'
        each = f'{line["quantity"]} × {view.money(line["unit_price"])}'
        rows.append(f'<tr><th scope="row">{name}<br><span class="muted">{each}</span></th>'
                    f'<td class="amount">{view.money(line["line_total"])}</td></tr>')
    rows.append(_total_row("Subtotal", view.money(s.get("subtotal", 0))))
    if s.get("discount"):
        code = f' ({escape(s["promo_code"])})' if s.get("promo_code") else ""
        rows.append(_total_row(f"Discount{code}", "−" + view.money(s["discount"])))
    shipping_name = f' ({escape(s["shipping_name"])})' if s.get("shipping_name") else ""
    rows.append(_total_row(f"Shipping{shipping_name}", view.money(s.get("shipping", 0))))
    rows.append(_total_row("Tax", view.money(s.get("tax", 0))))
    rows.append(f'<tr class="total"><th scope="row">Total</th>'
                f'<td class="amount">{view.money(view.total)}</td></tr>')
    minutes = max(int((view.expires_at - view.now).total_seconds() // 60), 0)
    return (f'<section class="card" aria-labelledby="summary"><h2 id="summary">Order summary</h2>'
            f'<table>{"".join(rows)}</table>'
            f'<p class="muted">This payment link expires at '
            f'{view.expires_at:%H:%M} UTC ({minutes} minute{"s" if minutes != 1 else ""} '
            f"from now). A confirmation goes to {escape(view.email)}.</p></section>")


def _total_row(label: str, amount: str) -> str:
    return f'<tr><th scope="row">{label}</th><td class="amount">{amount}</td></tr>'


def _field(name: str, label: str, state: FormState, *, hint: str = "", value: str = "",
           attrs: str = "") -> str:
    error = state.errors.get(name)
    described = " ".join(x for x in (f"{name}-hint" if hint else "",
                                     f"{name}-error" if error else "") if x)
    return (f'<label for="{name}">{label}</label>'
            f'<input id="{name}" name="{name}" value="{escape(value)}" required {attrs}'
            + (f' aria-describedby="{described}"' if described else "")
            + (' aria-invalid="true"' if error else "") + ">"
            + (f'<p class="hint" id="{name}-hint">{hint}</p>' if hint else "")
            + (f'<p class="field-error" id="{name}-error">{escape(error)}</p>' if error else ""))


def payment_form(view: PayView, state: FormState) -> str:
    alert = (f'<div class="error" role="alert">{escape(state.message)}</div>'
             if state.message else "")
    # autocomplete=off on the card fields: a browser must not offer a real saved card here.
    form = (
        f'<section class="card" aria-labelledby="pay"><h2 id="pay">Pay by card</h2>{alert}'
        f'<form method="post" action="/pay/{escape(view.session_id)}" novalidate>'
        + _field("number", "Card number", state, hint="Test cards only, see below.",
                 attrs='inputmode="numeric" autocomplete="off" maxlength="23" '
                       'placeholder="4242 4242 4242 4242"')
        + '<div class="row"><div>'
        + _field("expiry", "Expiry (MM/YY)", state,
                 attrs='inputmode="numeric" autocomplete="off" maxlength="7" placeholder="12/34"')
        + "</div><div>"
        + _field("cvc", "Security code (CVC)", state,
                 attrs='inputmode="numeric" autocomplete="off" maxlength="4" placeholder="123"')
        + "</div></div>"
        + _field("name", "Name on card", state, value=state.name,
                 attrs='autocomplete="cc-name" maxlength="100"')
        + f'<button type="submit">Pay {view.money(view.total)}</button></form></section>')
    cards = (
        '<section class="card" aria-labelledby="cards"><h2 id="cards">Test cards</h2><ul>'
        "<li><code>4242 4242 4242 4242</code>: the payment succeeds</li>"
        "<li><code>4000 0000 0000 0002</code>: the card is declined</li>"
        "<li><code>4000 0025 0000 3155</code>: asks for authentication (3-D Secure)</li></ul>"
        '<p class="muted">Any future expiry date, any 3-digit CVC, any name.</p></section>')
    body = (f"{TEST_NOTICE}<h1>{escape(view.shop_name)}</h1>{summary_html(view)}{form}{cards}")
    return page(f"Pay {format_money(view.total, view.currency)}", body, view.shop_name)


def authentication_page(view: PayView, challenge: str) -> str:
    action = f"/pay/{escape(view.session_id)}/authenticate"
    body = (
        f"{TEST_NOTICE}<h1>{escape(view.shop_name)}</h1>"
        '<section class="card" aria-labelledby="auth"><h2 id="auth">Confirm this payment</h2>'
        f"<p>Your bank asks you to confirm the payment of {view.money(view.total)} "
        "(a test of 3-D Secure: choose what the bank's answer should be).</p>"
        f'<form method="post" action="{action}">'
        f'<input type="hidden" name="challenge" value="{escape(challenge)}">'
        '<button type="submit" name="result" value="complete">Complete authentication</button>'
        '<button type="submit" name="result" value="fail" class="secondary">'
        "Fail authentication</button></form></section>")
    return page("Confirm the payment", body, view.shop_name)


def message_page(shop_name: str, title: str, paragraphs: list[str], *,
                 tone: str = "") -> str:
    """A page that only tells something (paid, expired, unknown link...). ``paragraphs`` are
    HTML, escaped by the caller."""
    text = "".join(f"<p>{p}</p>" for p in paragraphs)
    box = f'<div class="{tone}" role="status">' if tone else '<div role="status">'
    body = (f"{TEST_NOTICE}<h1>{escape(shop_name)}</h1>"
            f'<section class="card">{box}<h2>{escape(title)}</h2></div>{text}</section>')
    return page(title, body, shop_name)
