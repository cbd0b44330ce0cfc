"""The built-in carriers: real tracking number formats, a plausible and stable route."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from storefront_api.fulfilment.carriers import (CARRIERS, AisleExpress, Parcelway,
                                                s10_check_digit, ups_check_digit)
from storefront_api.fulfilment.models import TRACKING_STEPS


def test_check_digits():
    # S10: 4*8 + 7*6 + 3*4 + 1*2 + 2*3 + 4*5 + 8*9 + 2*7 = 200; 11 - 200 % 11 = 9
    assert s10_check_digit("47312482") == 9
    assert s10_check_digit("00000000") == 5  # 11 - 0 = 11 counts as 5
    assert ups_check_digit("999AA1012345678") == 4  # UPS's sample number 1Z999AA10123456784


@pytest.mark.parametrize("carrier, pattern", [(AisleExpress, r"AX\d{9}US"),
                                              (Parcelway, r"1ZA1S7E401\d{8}")])
def test_labels(carrier, pattern):
    shop = carrier("https://shop.example")
    numbers = {shop.create_label(None)[0] for _ in range(50)}
    assert len(numbers) == 50 and all(re.fullmatch(pattern, n) for n in numbers)
    number, url = shop.create_label(None)
    assert url == f"https://shop.example/track/{number}"


def test_timeline_follows_the_route_in_time():
    carrier = CARRIERS["aisle_express"]("https://shop.example")
    created = datetime(2025, 3, 1, 9, 0)
    shipment = SimpleNamespace(tracking_number="AX123456785US", created_at=created)
    address = {"city": "Leeds", "postal_code": "LS1 4AP", "country": "GB"}
    everything = carrier.timeline(shipment, created + timedelta(days=7), address)
    assert [scan[0] for scan in everything] == list(TRACKING_STEPS)
    times = [scan[3] for scan in everything]
    assert times == sorted(times) and created < times[0]
    assert timedelta(hours=30) < times[-1] - created < timedelta(hours=72)
    assert everything[-1][1] == "Leeds, GB" and everything[2][1] in (
        "Birmingham", "Warrington", "Swindon", "Daventry")
    assert carrier.timeline(shipment, created + timedelta(days=7), address) == everything
    halfway = carrier.timeline(shipment, times[2], address)
    assert [scan[0] for scan in halfway] == list(TRACKING_STEPS[:3])
    assert carrier.timeline(shipment, created, address) == []
