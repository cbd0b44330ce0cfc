"""Segments: whom to retarget (RFM and rule segments), who is likely to buy, audience CSV."""

import polars as pl
import streamlit as st

from analytics.audience import HEADERS, audience_csv, audience_hashes
from analytics.consent import advertising_consents
from analytics.schema import InputError
from analytics.segments import members, rfm, rule_segments, segment_summary
from dashboard import charts, data, display
from analytics.overview import main_currency
from dashboard.propensity_view import propensity_section

st.title("Segments")
page = data.page_data()
st.caption(f"{page.filters.label()} · as of {page.as_of:%d %b %Y %H:%M} UTC")


@st.cache_data(ttl=data.EVENTS_TTL, show_spinner=False)
def advertising(source: str) -> frozenset[str]:
    """E-mail hashes whose latest decision grants advertising (the audience's only test)."""
    return advertising_consents(source)


try:
    granted = advertising(data.events_source())
except InputError as exc:  # e.g. a database from before the consents table
    st.warning(f"Consent decisions could not be read ({exc}): nobody is exported.",
               icon=":material/warning:")
    granted = frozenset()
rfm_frame = rfm(page.events, now=page.as_of)
rule_frame = rule_segments(page.events, now=page.as_of)
summary = segment_summary(rfm_frame, rule_frame, granted)
currency = main_currency(page.events) or main_currency(page.everything.lazy())
if summary.is_empty():
    data.no_data(f"No segments for {page.filters.label()}.",
                 "Segments need buyers or browsing shoppers in the period.")

summary = summary.with_columns(
    (pl.col("value") / 10 ** display.exponent(currency)).alias("value_units"))
rfm_summary = summary.filter(pl.col("kind") == "rfm")
rule_summary = summary.filter(pl.col("kind") == "rule")

cols = st.columns(3)
cols[0].metric("Buyers scored (RFM)", display.count(rfm_frame.height), border=True)
cols[1].metric("Reachable buyers", display.count(rfm_summary["reachable"].sum()), border=True,
               help="Consented to advertising audiences and have an e-mail address")
cols[2].metric("Users in rule segments", display.count(rule_frame["user_id"].n_unique()),
               border=True)

st.subheader("RFM segments")
st.caption("Recency, frequency and monetary value scored 1–5 by quintile among the period's "
           "buyers; value is purchases minus refunds.")
if rfm_summary.is_empty():
    st.info("No purchases in this period, so no RFM segments.", icon=":material/info:")
else:
    left, right = st.columns(2)
    left.altair_chart(charts.horizontal_bars(rfm_summary, value="users", label="segment",
                                             title="Segment", value_title="Buyers"),
                      width="stretch")
    right.altair_chart(charts.horizontal_bars(rfm_summary, value="value_units",
                                              label="segment", title="Segment",
                                              value_title=f"Value ({currency})",
                                              value_format=",.2f", colour="#54a24b"),
                       width="stretch")

st.subheader("Rule segments")
st.dataframe(rule_summary.select("segment", "users", "reachable", "value_units"),
             hide_index=True, width="stretch",
             column_config={"value_units": st.column_config.NumberColumn(
                 f"value ({currency})", format="%.2f")})
st.caption("high_value_cart_abandoners: unrecovered carts in the top quarter by value, last 30 "
           "days · browse_abandoners: viewed, never carted, last 30 days · one_time_buyers: "
           "one purchase, 30+ days ago · lapsed_vips: top 10 % by value, no purchase for 90 "
           "days")

st.subheader("Audience export")
names = summary["segment"].to_list()
left, middle, right = st.columns([2, 1, 2])
segment = left.selectbox("Segment", names, key="audience_segment")
platform = middle.radio("Format", list(HEADERS), key="audience_platform",
                        format_func={"google": "Google Customer Match",
                                     "meta": "Meta custom audience"}.get)
chosen = members(rfm_frame, rule_frame, segment)
exported = audience_hashes(chosen, granted).len()
right.metric("Exported (consented, with e-mail)", f"{exported:,} of {chosen.height:,}")
st.download_button(f"Download {segment} audience CSV",
                   audience_csv(chosen, granted, platform=platform),
                   file_name=f"audience-{segment}-{platform}.csv", mime="text/csv",
                   on_click="ignore", disabled=exported == 0, icon=":material/download:")
st.caption("One SHA-256 hash per trimmed, lower-cased e-mail address, only for customers whose "
           "latest decision grants advertising audiences (consent to analytics or marketing "
           "e-mail is not enough): the customer-list format the ad platforms take. No "
           "address leaves Aisle in clear text.")

propensity_section(page)
