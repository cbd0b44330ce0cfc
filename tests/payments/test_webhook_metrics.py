"""The payment webhook's outcomes as the operator's Prometheus metric
(``aisle_payment_webhooks_total`` by outcome, storefront_api/observability.py): an order made,
a repeat, a refused (forged) delivery, each counted once, as GET /metrics shows it."""

from __future__ import annotations

import re

from payment_helpers import deliver, open_checkout, orders_of, session_event, webhook_secret


def webhook_counts(metrics: str) -> dict[str, float]:
    return {outcome: float(value) for outcome, value in re.findall(
        r'^aisle_payment_webhooks_total\{outcome="(\w+)"\} ([0-9.e+]+)$', metrics, re.M)}


async def counts(client) -> dict[str, float]:
    response = await client.get("/metrics")
    assert response.status == 200
    return webhook_counts(await response.text())


async def test_each_webhook_outcome_is_counted_once(client, db):
    checkout = await open_checkout(client, db)
    event = session_event(checkout)
    before = await counts(client)

    assert (await deliver(client, event, "whsec_not_the_shops")).status == 400
    assert (await deliver(client, event, webhook_secret(client))).status == 200
    assert (await deliver(client, event, webhook_secret(client))).status == 200
    assert len(await orders_of(db, checkout["token"])) == 1

    after = await counts(client)
    grew = {outcome: after.get(outcome, 0) - before.get(outcome, 0) for outcome in after}
    assert {k: v for k, v in grew.items() if v} == {"refused": 1, "order": 1, "duplicate": 1}
