"""Aisle's merchant dashboard: ``streamlit run dashboard/app.py`` (``make run`` starts it).

The entrypoint is the frame around every page: it draws the shared sidebar filters, then
runs the page chosen in the navigation (``st.navigation``, Streamlit's recommended way
to build a multipage app).
"""

import sys
from pathlib import Path

# `streamlit run dashboard/app.py` puts dashboard/ on the path, not the repository root.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import auth, sidebar  # noqa: E402

st.set_page_config(page_title="Aisle · merchant dashboard", page_icon=":material/storefront:",
                   layout="wide")
auth.require_sign_in()  # DASHBOARD_AUTH=staff: only a merchant or admin signed in to the shop

# The pages live in views/, not pages/: a pages/ folder beside the entrypoint switches
# Streamlit to its older multipage mode, which runs the page files directly on reruns and
# skips this frame (the shared sidebar filters vanish after the first interaction).
PAGES = [
    st.Page("views/overview.py", title="Overview", icon=":material/monitoring:", default=True),
    st.Page("views/funnel.py", title="Funnel", icon=":material/filter_alt:"),
    st.Page("views/abandonment.py", title="Abandonment & recovery",
            icon=":material/remove_shopping_cart:"),
    st.Page("views/segments.py", title="Segments", icon=":material/groups:"),
    st.Page("views/conversations.py", title="Conversations", icon=":material/forum:"),
]

page = st.navigation(PAGES)
sidebar.render()
page.run()
