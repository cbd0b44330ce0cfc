"""Carriers behind one small interface: a label (tracking number and URL) and the scans a
parcel goes through.

The built-in carriers are simulations good enough to run a shop on before a real carrier
account exists: their tracking numbers have the real formats and check digits (UPU S10 for
Aisle Express, UPS-style 1Z for Parcelway), and their scans follow a plausible route from
our warehouse to the shopper's town. The plan is derived from the tracking number, so it is
the same every time it is asked for. A real carrier would implement the same two methods
over its API.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta
from typing import Any, Protocol

from .models import TRACKING_STEPS

Scan = tuple[str, str, str, datetime]  # status, location, description, at (UTC, naive)

STEP_LABELS = {"label_created": "Label created", "picked_up": "Picked up",
               "in_transit": "In transit", "at_sorting_centre": "At the sorting centre",
               "out_for_delivery": "Out for delivery", "delivered": "Delivered"}

# Hours after the label is made at which each step happens, before per-parcel variation.
_STEP_HOURS = {"picked_up": 4, "in_transit": 10, "at_sorting_centre": 22,
               "out_for_delivery": 42, "delivered": 47}
# Sorting centres by destination country; elsewhere, the international hub.
_SORTING_CENTRES = {
    "US": ["Memphis, TN", "Louisville, KY", "Indianapolis, IN", "Chicago, IL", "Dallas, TX"],
    "CA": ["Mississauga, ON", "Montreal, QC", "Calgary, AB"],
    "GB": ["Birmingham", "Warrington", "Swindon", "Daventry"],
    "DE": ["Leipzig", "Hannover", "Köln"], "FR": ["Roissy-en-France", "Lyon", "Bordeaux"],
    "AU": ["Sydney, NSW", "Melbourne, VIC"],
}
_DELIVERED = ["Delivered to the resident", "Delivered, left at the front door",
              "Delivered to a neighbour", "Delivered to the mailroom"]


class Carrier(Protocol):
    code: str
    name: str

    def create_label(self, order: Any) -> tuple[str, str]:
        """A new tracking number and the page where the shopper follows it."""

    def timeline(self, shipment: Any, now: datetime) -> list[Scan]:
        """The scans of ``shipment`` that have happened by ``now``, oldest first."""


class SimulatedCarrier:
    """What the built-in carriers share: the route, the times, the tracking page."""

    code = name = ""
    warehouse = "Aisle fulfilment centre, Columbus, OH"

    def __init__(self, storefront_url: str):
        self.storefront_url = storefront_url.rstrip("/")

    def tracking_url(self, tracking_number: str) -> str:
        return f"{self.storefront_url}/track/{tracking_number}"

    def serial(self, digits: int) -> str:
        return "".join(random.SystemRandom().choice("0123456789") for _ in range(digits))

    def create_label(self, order: Any) -> tuple[str, str]:
        number = self.new_tracking_number()
        return number, self.tracking_url(number)

    def new_tracking_number(self) -> str:
        raise NotImplementedError

    def plan(self, shipment: Any, address: dict[str, Any]) -> list[Scan]:
        """Every step of the route, with its planned time."""
        rng = random.Random(hashlib.sha256(shipment.tracking_number.encode()).digest())
        country = str(address.get("country") or "").upper()
        town = ", ".join(p for p in (address.get("city"), address.get("region") or country)
                         if p) or "your area"
        centre = rng.choice(_SORTING_CENTRES.get(country, ["International hub, Leipzig DE"]))
        where = {
            "picked_up": (self.warehouse, f"Picked up by {self.name}"),
            "in_transit": (self.warehouse.split(", ", 1)[-1], "Departed the origin facility"),
            "at_sorting_centre": (centre, "Arrived at the sorting centre"),
            "out_for_delivery": (town, "Out for delivery with the local courier"),
            "delivered": (town, rng.choice(_DELIVERED)),
        }
        scans, hours = [], 0.0
        for step in TRACKING_STEPS:
            hours = max(hours + 0.5, _STEP_HOURS[step] * rng.uniform(0.8, 1.25))
            location, description = where[step]
            scans.append((step, location, description,
                          shipment.created_at + timedelta(hours=round(hours, 2))))
        return scans

    def timeline(self, shipment: Any, now: datetime, address: dict[str, Any] | None = None
                 ) -> list[Scan]:
        return [scan for scan in self.plan(shipment, address or {}) if scan[3] <= now]


class AisleExpress(SimulatedCarrier):
    """Postal-style numbers, UPU S10: 'AX' + 8 digits + check digit + 'US'."""

    code, name = "aisle_express", "Aisle Express"

    def new_tracking_number(self) -> str:
        serial = self.serial(8)
        return f"AX{serial}{s10_check_digit(serial)}US"


class Parcelway(SimulatedCarrier):
    """Courier-style numbers, like UPS: '1Z' + account + service + 7 digits + check digit."""

    code, name = "parcelway", "Parcelway"
    account = "A1S7E4"

    def new_tracking_number(self) -> str:
        body = f"{self.account}01{self.serial(7)}"
        return f"1Z{body}{ups_check_digit(body)}"


def s10_check_digit(serial: str) -> int:
    """The UPU S10 check digit of 8 digits (weights 8 6 4 2 3 5 9 7, modulo 11)."""
    total = sum(int(d) * w for d, w in zip(serial, (8, 6, 4, 2, 3, 5, 9, 7)))
    check = 11 - total % 11
    return {10: 0, 11: 5}.get(check, check)


def ups_check_digit(body: str) -> int:
    """The check digit of a 1Z number's 15 characters after '1Z' (letters count as digits)."""
    values = [int(c) if c.isdigit() else (ord(c) - 63) % 10 for c in body]
    total = sum(v * (2 if i % 2 else 1) for i, v in enumerate(values))
    return (10 - total % 10) % 10


CARRIERS = {carrier.code: carrier for carrier in (AisleExpress, Parcelway)}
DEFAULT_CARRIER = AisleExpress.code


def carrier_for(code: str, storefront_url: str) -> SimulatedCarrier:
    return CARRIERS[code](storefront_url)
