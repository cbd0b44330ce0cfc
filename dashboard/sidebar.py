"""The sidebar every page shares: date range and channels, kept in st.session_state."""

from __future__ import annotations

import streamlit as st

from analytics.schema import InputError
from dashboard import data

DATE_KEY = "date_range"
CHANNELS_KEY = "channels"
ERROR_KEY = "events_error"


def render() -> None:
    """Draw the filters and store the chosen ``data.Filters`` (None when there is no data)."""
    days, error = data.try_bounds()
    st.session_state[ERROR_KEY] = error
    if days is None:
        st.session_state[data.FILTERS_KEY] = None
        st.sidebar.caption("No events to filter yet.")
        return
    first, last = days
    default = data.default_filters(first, last)
    kept = st.session_state.get(data.FILTERS_KEY) or default
    try:  # the channels of the period shown and the one before (the Overview's window)
        channels = data.window_channels(data.events_source(), data.window_start(kept))
    except InputError as exc:
        st.session_state[ERROR_KEY] = str(exc)
        st.session_state[data.FILTERS_KEY] = None
        return
    with st.sidebar:
        st.subheader("Filters")
        picked = st.date_input("Date range (UTC)", value=(default.first_day, default.last_day),
                               min_value=first, max_value=last, key=DATE_KEY,
                               help="Both days included. KPIs compare with the period of "
                                    "the same length just before.")
        channels = st.multiselect("Channels", channels, key=CHANNELS_KEY,
                                  placeholder="All channels",
                                  help="site = the shop's own pages; the others are chats")
        read_at = data.read_at()
        st.caption(f"Events: `{_short(data.events_source())}` · data from {first:%d %b %Y} "
                   f"to {last:%d %b %Y}"
                   + (f" · read at {read_at:%H:%M:%S} UTC" if read_at else ""))
    # While a range is being picked the widget holds only its first day: keep the last
    # complete range until the second day is chosen.
    if isinstance(picked, (tuple, list)) and len(picked) == 2:
        st.session_state[data.FILTERS_KEY] = data.Filters(picked[0], picked[1],
                                                          tuple(sorted(channels)))
    else:
        kept = st.session_state.get(data.FILTERS_KEY) or default
        st.session_state[data.FILTERS_KEY] = data.Filters(kept.first_day, kept.last_day,
                                                          tuple(sorted(channels)))


def _short(source: str) -> str:
    """The source without a password, for the caption."""
    if "://" not in source:
        return source
    from sqlalchemy.engine import make_url
    return make_url(source).render_as_string(hide_password=True)
