"""Overview: the period's KPIs against the period before, and sales per day.

It holds no events: the KPIs come from the Overview's window (``data.overview_window``:
the distinct visits, the cart steps and the purchases of the period and the one before),
a few times fewer rows than the events (docs/analytics.md, "At merchant scale")."""

import streamlit as st

from analytics.overview import daily_sales
from analytics.overview_data import period_kpis
from dashboard import charts, data, display

st.title("Overview")
window, filters = data.overview_page_window()
previous_filters = filters.previous()
current = window.period(filters.start, filters.end, filters.channels)
if current.events == 0:
    data.no_period_events(filters)
st.caption(f"{filters.label()} · changes compare with {previous_filters.first_day:%d %b} "
           f"– {previous_filters.last_day:%d %b %Y}")


def kpis_of(period, f: data.Filters, currency: str | None):
    tracker = data.tracker_rows(f, lambda: period.conversation_ids)
    return period_kpis(period, currency=currency, now=min(f.end, window.last),
                       tracker_ids=None if tracker is None else tracker["conversation_id"])


currency = window.main_currency(filters.start, filters.end, filters.channels)
now_kpis = kpis_of(current, filters, currency)
before = kpis_of(window.period(previous_filters.start, previous_filters.end,
                               filters.channels), previous_filters, currency)

counts = st.columns(4)
counts[0].metric("Sessions", display.count(now_kpis.sessions),
                 display.change(now_kpis.sessions, before.sessions), border=True)
counts[1].metric("Conversations", display.count(now_kpis.conversations),
                 display.change(now_kpis.conversations, before.conversations), border=True)
counts[2].metric("Orders", display.count(now_kpis.orders),
                 display.change(now_kpis.orders, before.orders), border=True)
counts[3].metric(f"Revenue ({currency or 'no sales'})",
                 display.money(now_kpis.revenue, currency),
                 display.change(now_kpis.revenue, before.revenue), border=True)
rates = st.columns(4)
rates[0].metric("Conversion rate", display.percent(now_kpis.conversion_rate),
                display.points_change(now_kpis.conversion_rate, before.conversion_rate),
                border=True, help="Sessions with a purchase / sessions")
rates[1].metric("Average order value", display.money(now_kpis.average_order_value, currency),
                display.change(now_kpis.average_order_value, before.average_order_value),
                border=True)
rates[2].metric("Cart abandonment rate", display.percent(now_kpis.cart_abandonment_rate),
                display.points_change(now_kpis.cart_abandonment_rate,
                                      before.cart_abandonment_rate),
                delta_color="inverse", border=True,
                help="Abandoned carts (1 h idle) / carts started")
rates[3].metric("Abandoned carts", display.count(now_kpis.abandoned_carts),
                display.change(now_kpis.abandoned_carts, before.abandoned_carts),
                delta_color="inverse", border=True)

st.subheader("Revenue and orders per day")
sales = daily_sales(current.purchases.lazy(), currency, filters.start, filters.end)
if sales["orders"].sum() == 0:
    st.info("No orders in this period.", icon=":material/info:")
else:
    st.altair_chart(charts.revenue_and_orders(sales, currency), width="stretch")
