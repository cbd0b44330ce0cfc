"""Fixtures of the order, after-sales and support action tests (import them in a test module
with ``from service_fixtures import *``; conftest.py's storefront is reused).

Orders are made in the running test shop's own database (service_order_factory.py, run in
the main environment); shipping and delivering then go through the merchant API, as in the
shop.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
SHOP_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"


@pytest.fixture(scope="session")
def shop_database(storefront_url, tmp_path_factory) -> Path:
    """The SQLite file behind conftest's storefront (it lives in the session's shop dir)."""
    found = sorted({path.resolve() for path in
                    tmp_path_factory.getbasetemp().glob("shop*/shop.db")})
    if len(found) != 1:
        pytest.skip(f"cannot tell the test shop's database apart: {found}")
    return found[0]


@pytest.fixture
def make_order(shop_database) -> Callable[..., dict[str, Any]]:
    """``make_order(status=..., lines=1, quantity=2, delivered_days_ago=1, email=None)``:
    a paid order in that status; returns {number, email, total, lines: [{sku, title,
    quantity}]}."""
    def build(**spec: Any) -> dict[str, Any]:
        done = subprocess.run(
            [str(SHOP_PYTHON), str(HERE / "service_order_factory.py"),
             f"sqlite+aiosqlite:///{shop_database}", json.dumps(spec)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])
    return build


@pytest.fixture
def shop_rows(shop_database) -> Callable[..., list[dict[str, Any]]]:
    """``shop_rows(sql, *params)``: rows of the test shop's database, for state no API
    shows (analytics events)."""
    def query(sql: str, *params: Any) -> list[dict[str, Any]]:
        with sqlite3.connect(shop_database) as connection:
            connection.row_factory = sqlite3.Row
            return [dict(row) for row in connection.execute(sql, params)]
    return query


def ship(shop, number: str) -> dict[str, Any]:
    """The merchant ships the order (label, tracking number): the order document."""
    return shop.post(f"/api/admin/orders/{number}/shipments", {}, admin=True)


def order_form_tracker(tracker_for, order: dict[str, Any], latest: Any = "affirm",
                       **slots: Any):
    """A tracker in which the order form is done for ``order``."""
    return tracker_for(slots={"order_number": order["number"],
                              "customer_email": order["email"], **slots},
                       latest_message=latest)
