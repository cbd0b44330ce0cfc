"""Conversations: how the assistant performs, and what its chats are worth."""

import json

import polars as pl
import streamlit as st

from analytics.chat import chat_metrics
from analytics.funnel import Funnel, Step, compute_funnel
from analytics.support import support_metrics
from analytics.overview import main_currency
from analytics.schema import InputError
from dashboard import charts, data, display

st.title("Conversations")
# ANALYTICS_STORE set: the chat outcomes and "Do chats sell?" are computed inside ClickHouse;
# the support inbox (which it does not compute) by polars over the events, with a note.
stored = data.store_page()
page = None if stored else data.page_data(properties=True)
filters = stored.filters if stored else page.filters
st.caption(filters.label())

if stored:
    try:
        with st.spinner("Asking ClickHouse…"):
            metrics = data.store_chat(stored.url, filters.start, filters.end, filters.channels)
            currency = data.store_currency(stored.url, filters.start, filters.end,
                                           filters.channels)
            rasa_rows = data.store_has_rasa_events(stored.url)
    except InputError as exc:
        data.no_data(f"The chat outcomes cannot be computed in ClickHouse: {exc}.",
                     "Check `ANALYTICS_STORE`.")
    st.caption(data.store_caption(stored.url))
else:
    tracker = data.filtered_conversations(page)
    metrics = chat_metrics(page.events, tracker)
if not metrics["conversations"]:
    data.no_data(f"No conversations for {filters.label()}.",
                 "Chats on the web page or a messaging channel show up here.")
if not stored:
    currency = main_currency(page.events) or main_currency(page.everything.lazy())
revenue = next((row for row in metrics["attributed_revenue"] if row["currency"] == currency),
               {})
fallback = metrics["fallback"]
reply = metrics["first_agent_reply"]

cols = st.columns(3)
cols[0].metric("Conversations", display.count(metrics["conversations"]), border=True)
cols[1].metric("Containment", display.percent(metrics["containment_rate"]), border=True,
               help="Conversations resolved without a human agent")
cols[2].metric("Handoff rate", display.percent(metrics["handoff_rate"]),
               f"{metrics['handoffs']:,} handoffs", **display.NOTE, border=True)
cols = st.columns(3)
cols[0].metric("Fallback rate", display.percent(fallback["fallback_rate"]) if fallback else "–",
               border=True,
               help="User messages the bot did not understand (needs Rasa's tracker store)")
cols[1].metric("Time to first agent reply (median)", display.duration(reply["median_seconds"]),
               f"p90 {display.duration(reply['p90_seconds'])}" if reply["p90_seconds"]
               is not None else None, **display.NOTE, border=True)
cols[2].metric(f"Attributed revenue ({currency})", display.money(revenue.get("net"), currency),
               f"{revenue.get('orders', 0):,} orders", **display.NOTE, border=True,
               help=f"Purchases in a conversation or within "
                    f"{metrics['attribution_window_seconds'] / 86400:g} days after one, "
                    "refunds deducted")
if stored and not rasa_rows:
    st.caption(f"The store's `rasa_events` ({data.store_label(stored.url)}) is empty: "
               "fallbacks and intents appear once Rasa's events are loaded "
               "(`consume-rasa-events --store`, `store-load --rasa-events`).")
elif not stored and tracker is None:
    st.caption(f"Rasa's tracker store ({data.tracker_url()}) is not there: fallbacks and "
               "intents appear once the assistant has talked to shoppers.")

left, right = st.columns(2)
with left:
    st.subheader("Why shoppers asked for a human")
    reasons = pl.DataFrame(metrics["handoff_reasons"])
    if reasons.is_empty():
        st.info("No handoffs in this period.", icon=":material/info:")
    else:
        st.altair_chart(charts.horizontal_bars(reasons, value="handoffs", label="reason",
                                               title="Reason", value_title="Handoffs"),
                        width="stretch")
with right:
    st.subheader("Top intents")
    intents = pl.DataFrame(metrics["top_intents"])
    if intents.is_empty():
        st.info("No user messages from Rasa's tracker store in this period.",
                icon=":material/info:")
    else:
        st.altair_chart(charts.horizontal_bars(intents, value="messages", label="intent",
                                               title="Intent", value_title="Messages"),
                        width="stretch")

st.subheader("Support inbox")
if stored:
    st.caption("Computed by polars over the shop's events (`ANALYTICS_EVENTS_URL`): "
               "ClickHouse does not compute the support inbox.")
    page = data.page_data(properties=True)
support = support_metrics(page.events)
if not support["handoffs"]:
    st.info("No conversation came to the support inbox in this period.",
            icon=":material/info:")
else:
    cols = st.columns(4)
    cols[0].metric("First reply (median)", display.duration(
        support["first_reply_median_seconds"]),
        f"p90 {display.duration(support['first_reply_p90_seconds'])}", **display.NOTE,
        border=True, help="From the shopper's request to an agent's first message")
    cols[1].metric("Resolution time (median)", display.duration(
        support["resolution_median_seconds"]),
        f"p90 {display.duration(support['resolution_p90_seconds'])}", **display.NOTE,
        border=True, help="From the request to the hand-back or resolution")
    cols[2].metric("CSAT", display.rating(support["csat_average"]),
                   f"{support['csat_responses']:,} ratings, "
                   f"{display.percent(support['csat_satisfied_rate'], 0)} 4-5",
                   **display.NOTE, border=True, help="The shoppers' 1-5 ratings after a "
                                                     "resolution")
    cols[3].metric("Backlog", display.count(support["backlog"]),
                   f"of {support['handoffs']:,} handoffs", **display.NOTE, border=True,
                   help="Handoffs of the period not resolved yet")
    left, right = st.columns(2)
    left.caption("Per agent")
    left.dataframe(display.support_table(support["by_agent"], "agent", "Agent"),
                   hide_index=True, width="stretch")
    right.caption("Per reason")
    right.dataframe(display.support_table(support["by_reason"], "label", "Reason"),
                    hide_index=True, width="stretch")

st.subheader("Do chats sell?")
st.caption("Sessions from an item view to a purchase within 24 h, with and without a chat.")
chat_funnel = Funnel([Step("view_item"), Step("add_to_cart"), Step("purchase")],
                     unit="session", breakdown="chat")
if stored:
    try:
        result = data.store_funnel(stored.url, json.dumps(chat_funnel.to_dict()),
                                   filters.start, filters.end, filters.channels)
    except InputError as exc:
        data.no_data(f"The chat funnel cannot be computed in ClickHouse: {exc}.",
                     "Check `ANALYTICS_STORE`.")
    st.caption(data.store_caption(stored.url))
else:
    result = compute_funnel(page.events, chat_funnel)
if result.is_empty():
    st.info("No item views in this period.", icon=":material/info:")
else:
    st.altair_chart(charts.funnel_bars(result, percent=True, unit="sessions"),
                    width="stretch")
