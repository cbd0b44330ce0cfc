"""The shop's plain HTML pages (the test payment page, the return from a payment, the
consent link): one self-contained document each, with inline CSS, no script and no
external asset, readable on a phone and usable with a keyboard and a screen reader.

Callers pass ``body`` as HTML they have escaped; the title and shop name are escaped here.
"""

from __future__ import annotations

from html import escape

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


def page(title: str, body: str, shop_name: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="robots" content="noindex">'
            f"<title>{escape(title)} · {escape(shop_name)}</title><style>{CSS}</style></head>"
            f"<body><main>{body}</main></body></html>")
