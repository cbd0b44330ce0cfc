"""The merchant's fulfilment path: prepare, ship with a tracking number, scans, delivered."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from order_factories import ADMIN, get_json, make_order, outbox_messages, post_json, status_events

from storefront_api.fulfilment.carriers import s10_check_digit, ups_check_digit
from storefront_api.orders.models import OrderStatusChange
from storefront_api.orders.service import order_token
from storefront_api.outbox.models import OutboxMessage


def _statuses(document: dict) -> list[str]:
    return [entry["status"] for entry in document["history"]]


async def test_the_whole_path_to_delivery(client, db, settings):
    order = await make_order(db, conversation_id="conv-fulfil-1")
    number = order["number"]
    prepared = await post_json(client, f"/api/admin/orders/{number}/status",
                               {"status": "being_prepared", "note": "picking"})
    assert prepared["status"] == "being_prepared"
    assert prepared["history"][-1]["note"] == "picking"

    shipped = await post_json(client, f"/api/admin/orders/{number}/shipments", {}, expect=201)
    assert shipped["status"] == "shipped"
    [shipment] = shipped["shipments"]
    tracking = shipment["tracking_number"]
    assert re.fullmatch(r"AX\d{9}US", tracking)
    assert int(tracking[10]) == s10_check_digit(tracking[2:10])
    assert shipment["tracking_url"] == f"{settings.storefront_url}/track/{tracking}"
    assert shipment["carrier_name"] == "Aisle Express" and shipment["events"] == []

    scans = []
    for _ in range(5):  # no status given: each scan is the next step
        scan = await post_json(client, f"/api/admin/shipments/{tracking}/events", {},
                               expect=201)
        scans.append(scan["events"][-1])
    assert [s["status"] for s in scans] == ["picked_up", "in_transit", "at_sorting_centre",
                                            "out_for_delivery", "delivered"]
    assert all(s["location"] and s["description"] for s in scans)
    assert scans[-1]["location"] == "Arlington, VA"  # the shopper's town
    assert scan["order_status"] == "delivered"

    token = order_token(settings.secret_key, number)
    seen = await get_json(client, f"/api/orders/{number}", params={"token": token})
    assert seen["status"] == "delivered" and seen["status_label"] == "Delivered"
    assert _statuses(seen) == ["awaiting_preparation", "being_prepared", "shipped", "delivered"]
    assert all(entry["at"] for entry in seen["history"])
    assert [e["status"] for e in seen["shipments"][0]["events"]][-1] == "delivered"

    changes = [(e.properties["from"], e.properties["to"]) for e in await status_events(db, number)]
    assert changes == [("awaiting_preparation", "being_prepared"),
                       ("being_prepared", "shipped"), ("shipped", "delivered")]
    assert {e.conversation_id for e in await status_events(db, number)} == {"conv-fulfil-1"}

    tags = [m.payload["tag"] for m in await outbox_messages(db, to=order["email"])]
    assert tags == ["order-shipped", "order-out-for-delivery", "order-delivered"]
    shipped_mail = (await outbox_messages(db, to=order["email"]))[-3].payload
    assert tracking in shipped_mail["text"] and shipment["tracking_url"] in shipped_mail["text"]
    notices = [m.payload for m in await outbox_messages(db, conversation_id="conv-fulfil-1")]
    assert [n["intent"] for n in notices] == ["EXTERNAL_order_shipped", "EXTERNAL_order_delivered"]
    assert notices[0]["entities"]["tracking_number"] == tracking


async def test_shipping_a_waiting_order_prepares_it_first(client, db):
    order = await make_order(db)
    shipped = await post_json(client, f"/api/admin/orders/{order['number']}/shipments",
                              {"carrier": "parcelway"}, expect=201)
    assert _statuses(shipped) == ["awaiting_preparation", "being_prepared", "shipped"]
    tracking = shipped["shipments"][0]["tracking_number"]
    assert re.fullmatch(r"1Z[0-9A-Z]{16}", tracking)
    assert int(tracking[-1]) == ups_check_digit(tracking[2:-1])
    assert len(await status_events(db, order["number"])) == 2
    async with db.read() as session:  # no conversation: an e-mail, and no chat notice
        notices = (await session.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "conversation"))).all()
    assert not [n for n in notices if n.payload["entities"].get("order_number") == order["number"]]
    assert [m.payload["tag"] for m in await outbox_messages(db, to=order["email"])] == [
        "order-shipped"]


async def _history_count(db, order_id: int) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count(OrderStatusChange.id))
                                    .where(OrderStatusChange.order_id == order_id))


@pytest.mark.parametrize("status", ["delivered", "refunded", "awaiting_preparation"])
async def test_illegal_transitions_are_refused(client, db, status):
    order = await make_order(db)
    body = await post_json(client, f"/api/admin/orders/{order['number']}/status",
                           {"status": status}, expect=409)
    assert body["type"].endswith("/illegal-transition")
    assert body["allowed"] == ["being_prepared", "cancelled"]
    assert "being_prepared" in body["detail"]
    assert await _history_count(db, order["id"]) == 1
    assert await status_events(db, order["number"]) == []


@pytest.mark.parametrize("status", ["shipped", "cancelled"])
async def test_statuses_with_their_own_route(client, db, status):
    order = await make_order(db)
    await post_json(client, f"/api/admin/orders/{order['number']}/status",
                    {"status": "being_prepared"})
    body = await post_json(client, f"/api/admin/orders/{order['number']}/status",
                           {"status": status}, expect=409)
    assert body["type"].endswith("/status-has-own-route")
    assert await _history_count(db, order["id"]) == 2


async def test_delivered_by_hand_and_no_second_shipment(client, db):
    order = await make_order(db, conversation_id="conv-by-hand")
    number = order["number"]
    shipped = await post_json(client, f"/api/admin/orders/{number}/shipments", {}, expect=201)
    again = await post_json(client, f"/api/admin/orders/{number}/shipments", {}, expect=409)
    assert again["allowed"] == ["delivered"]
    done = await post_json(client, f"/api/admin/orders/{number}/status",
                           {"status": "delivered", "note": "signed for at the counter"})
    assert done["status"] == "delivered" and done["next_statuses"] == ["refunded"]
    notices = await outbox_messages(db, conversation_id="conv-by-hand")
    assert [n.payload["intent"] for n in notices][-1] == "EXTERNAL_order_delivered"
    # The carrier's late delivery scan is recorded but delivers nothing twice.
    tracking = shipped["shipments"][0]["tracking_number"]
    await post_json(client, f"/api/admin/shipments/{tracking}/events",
                    {"status": "delivered"}, expect=201)
    assert len(await status_events(db, number)) == 3
    assert len(await outbox_messages(db, conversation_id="conv-by-hand")) == 2


async def test_scans_only_move_forward(client, db):
    order = await make_order(db)
    shipped = await post_json(client, f"/api/admin/orders/{order['number']}/shipments", {},
                              expect=201)
    tracking = shipped["shipments"][0]["tracking_number"]
    url = f"/api/admin/shipments/{tracking.lower()}/events"  # case does not matter
    await post_json(client, url, {"status": "in_transit", "location": "Somewhere, OH",
                                  "description": "Arrived at a hub"}, expect=201)
    repeat = await post_json(client, url, {"status": "in_transit"}, expect=201)
    assert [e["status"] for e in repeat["events"]] == ["in_transit", "in_transit"]
    assert repeat["events"][0]["location"] == "Somewhere, OH"
    back = await post_json(client, url, {"status": "picked_up"}, expect=409)
    assert back["type"].endswith("/tracking-step-backwards")
    await post_json(client, url, {"status": "delivered"}, expect=201)
    after = await post_json(client, url, {}, expect=409)
    assert after["type"].endswith("/shipment-delivered")


async def test_public_tracking(client, db):
    order = await make_order(db)
    shipped = await post_json(client, f"/api/admin/orders/{order['number']}/shipments", {},
                              expect=201)
    tracking = shipped["shipments"][0]["tracking_number"]
    await post_json(client, f"/api/admin/shipments/{tracking}/events", {}, expect=201)
    data = await get_json(client, f"/api/tracking/{tracking}")
    assert data["status"] == "picked_up" and len(data["events"]) == 1
    assert order["number"] not in str(data) and order["email"] not in str(data)
    page = await client.get(f"/track/{tracking}")
    assert page.status == 200 and page.content_type == "text/html"
    assert "Picked up" in await page.text()
    await get_json(client, "/api/tracking/AX000000000US", expect=404)
    missing = await client.get("/track/AX000000000US")
    assert missing.status == 404 and missing.content_type == "text/html"
    assert "No shipment" in await missing.text()


async def test_order_list_filters_and_pages(client, db):
    orders = [await make_order(db) for _ in range(3)]
    await post_json(client, f"/api/admin/orders/{orders[0]['number']}/status",
                    {"status": "being_prepared"})
    page = await get_json(client, "/api/admin/orders", params={"status": "being_prepared",
                                                              "page_size": 200}, headers=ADMIN)
    assert all(item["status"] == "being_prepared" for item in page["items"])
    assert orders[0]["number"] in [item["number"] for item in page["items"]]
    first = await get_json(client, "/api/admin/orders", params={"page_size": 2}, headers=ADMIN)
    second = await get_json(client, "/api/admin/orders", params={"page_size": 2, "page": 2},
                            headers=ADMIN)
    assert len(first["items"]) == 2 and first["total"] >= 3
    assert not {o["number"] for o in first["items"]} & {o["number"] for o in second["items"]}
    assert first["items"][0]["number"] == orders[-1]["number"]  # newest first
    bad = await get_json(client, "/api/admin/orders", params={"status": "lost"},
                         headers=ADMIN, expect=422)
    assert bad["errors"][0]["field"] == "status"


@pytest.mark.parametrize("method, path, body", [
    ("post", "/api/admin/orders/ZZ-00000/status", {"status": "being_prepared"}),
    ("post", "/api/admin/orders/ZZ-00000/shipments", {}),
    ("post", "/api/admin/shipments/AX000000000US/events", {}),
    ("get", "/api/admin/orders/ZZ-00000", None),
])
async def test_unknown_orders_and_shipments(client, method, path, body):
    resp = await getattr(client, method)(path, json=body, headers=ADMIN)
    data = await resp.json()
    assert resp.status == 404 and resp.content_type == "application/problem+json", data


@pytest.mark.parametrize("path, raw", [
    ("status", b'{"status": '), ("status", b'[]'), ("status", b'{"status": "lost"}'),
    ("status", b'{"status": "being_prepared", "note": "' + b"x" * 600 + b'"}'),
    ("status", b'{"status": "being_prepared", "extra": 1}'),
    ("shipments", b'{"carrier": "pigeon"}'), ("shipments", b'not json'),
])
async def test_bad_input_changes_nothing(client, db, path, raw):
    order = await make_order(db)
    resp = await client.post(f"/api/admin/orders/{order['number']}/{path}", data=raw,
                             headers={**ADMIN, "Content-Type": "application/json"})
    data = await resp.json()
    assert resp.status in (400, 422) and data["status"] == resp.status, data
    assert await _history_count(db, order["id"]) == 1
    seen = await get_json(client, f"/api/admin/orders/{order['number']}", headers=ADMIN)
    assert seen["status"] == "awaiting_preparation" and seen["shipments"] == []


async def test_merchant_routes_need_the_admin_token(client, db):
    order = await make_order(db)
    for path in (f"/api/admin/orders/{order['number']}/status",
                 f"/api/admin/orders/{order['number']}/shipments"):
        resp = await client.post(path, json={"status": "being_prepared"},
                                 headers={"Authorization": "Bearer wrong"})
        assert resp.status == 401
    assert await _history_count(db, order["id"]) == 1


@pytest.mark.parametrize("path, body", [
    ("status", {"status": "being_prepared", "note": "nul\x00byte"}),
    ("status", {"status": "being_prepared", "note": "two\nlines"}),
])
async def test_control_characters_are_refused(client, db, path, body):
    order = await make_order(db)
    await post_json(client, f"/api/admin/orders/{order['number']}/{path}", body, expect=422)
    assert await _history_count(db, order["id"]) == 1


async def test_scan_text_is_checked(client, db):
    order = await make_order(db)
    shipped = await post_json(client, f"/api/admin/orders/{order['number']}/shipments", {},
                              expect=201)
    url = f"/api/admin/shipments/{shipped['shipments'][0]['tracking_number']}/events"
    for body in ({"location": "Hub\x00"}, {"description": ""}, {"status": "lost"},
                 {"location": "x" * 121}, {"at": "2025-01-01"}):
        await post_json(client, url, body, expect=422)
    data = await get_json(client, f"/api/admin/orders/{order['number']}", headers=ADMIN)
    assert data["shipments"][0]["events"] == []


@pytest.mark.parametrize("path", ["/api/admin/orders/AB-1%00", "/api/admin/orders/" + "A" * 300])
async def test_impossible_admin_numbers(client, path):
    resp = await client.get(path, headers=ADMIN)
    assert resp.status == 404


@pytest.mark.parametrize("number", ["AX%00", "x" * 200, "%E2%82%AC"])
async def test_impossible_tracking_numbers(client, number):
    assert (await client.get(f"/api/tracking/{number}")).status == 404
    resp = await client.post(f"/api/admin/shipments/{number}/events", json={}, headers=ADMIN)
    assert resp.status == 404
