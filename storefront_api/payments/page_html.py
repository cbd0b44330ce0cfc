"""HTML of the test gateway's hosted payment page: self-contained (inline CSS, no script, no
external asset), readable on a phone, usable with a keyboard and a screen reader.

Every value from the database or the shopper goes through ``escape``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from ..money import format_money

CSS = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;
 background:#f4f4f6}
main{max-width:34rem;margin:0 auto;padding:1rem}
.card{background:#fff;border-radius:.75rem;padding:1.25rem;margin:0 0 1rem;
 box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.4rem;margin:.25rem 0 1rem}h2{font-size:1.1rem;margin:0 0 .75rem}
.test{background:#fff4ce;border:2px solid #8a6d00;border-radius:.5rem;padding:.75rem 1rem;
 margin:0 0 1rem;color:#3d3000}
table{width:100%;border-collapse:collapse}
td,th{padding:.35rem 0;vertical-align:top;text-align:left;font-weight:normal}
td.amount{text-align:right;white-space:nowrap;padding-left:1rem}
tr.total th,tr.total td{font-weight:700;border-top:1px solid #ccc;padding-top:.6rem}
.muted{color:#555;font-size:.9rem}
label{display:block;font-weight:600;margin:.9rem 0 .25rem}
input{width:100%;font:inherit;padding:.65rem .75rem;min-height:44px;border:1px solid #767676;
 border-radius:.4rem;background:#fff;color:inherit}
input[aria-invalid=true]{border:2px solid #b00020}
.row{display:flex;gap:.75rem}.row>div{flex:1}
.hint{color:#555;font-size:.85rem;margin:.2rem 0 0}
.field-error{color:#b00020;font-size:.9rem;margin:.25rem 0 0}
.error{background:#fde8ea;border:2px solid #b00020;color:#5c0010;border-radius:.5rem;
 padding:.75rem 1rem;margin:0 0 1rem}
.ok,.bad{border-radius:.5rem;padding:.1rem 1rem;margin:0 0 1rem}
.ok{background:#e6f4ea;border:2px solid #1e6b34;color:#0d3b1c}
.bad{background:#fde8ea;border:2px solid #b00020;color:#5c0010}
.ok h2,.bad h2{margin:.6rem 0}
button{width:100%;font:inherit;font-weight:700;padding:.8rem;min-height:48px;margin-top:1.25rem;
 border:0;border-radius:.5rem;background:#1f4fd1;color:#fff;cursor:pointer}
a.button{display:block;text-align:center;font-weight:700;padding:.8rem;min-height:48px;
 border-radius:.5rem;background:#1f4fd1;color:#fff;text-decoration:none}
button.secondary{background:#fff;color:#1f4fd1;border:2px solid #1f4fd1;margin-top:.75rem}
button:focus-visible,input:focus-visible{outline:3px solid #ffbf47;outline-offset:2px}
code{font-size:.95rem;background:#eef;padding:0 .25rem;border-radius:.25rem}
ul{padding-left:1.2rem;margin:.25rem 0}
"""

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


def page(title: str, body: str, shop_name: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="robots" content="noindex">'
            f"<title>{escape(title)} · {escape(shop_name)}</title><style>{CSS}</style></head>"
            f"<body><main>{body}</main></body></html>")


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
