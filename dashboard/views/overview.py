"""Overview: the period's KPIs against the period before, and sales per day."""

import streamlit as st

from analytics.abandonment import abandoned_carts
from analytics.chat import conversation_count
from dashboard import charts, data, display
from analytics.overview import daily_sales, kpis, main_currency

st.title("Overview")
page = data.page_data()
previous_filters = page.filters.previous()
st.caption(f"{page.filters.label()} · changes compare with {previous_filters.first_day:%d %b} "
           f"– {previous_filters.last_day:%d %b %Y}")


def period_kpis(filters: data.Filters, currency: str | None):
    events = data.filtered(page.everything, filters)
    now = data.as_of(page.everything, filters)
    carts = abandoned_carts(events, now=now).height
    tracker = data.filtered_conversations(data.PageData(page.everything, filters, events))
    return kpis(events, abandoned_carts=carts, currency=currency,
                conversations=conversation_count(events, tracker))


currency = main_currency(page.events) or main_currency(page.everything.lazy())
now_kpis = period_kpis(page.filters, currency)
before = period_kpis(previous_filters, currency)

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
sales = daily_sales(page.events, currency, page.filters.start, page.filters.end)
if sales["orders"].sum() == 0:
    st.info("No orders in this period.", icon=":material/info:")
else:
    st.altair_chart(charts.revenue_and_orders(sales, currency), width="stretch")
