"""Makes the order factories (tests/orders/factories.py) and the cart helpers importable."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
for folder in (TESTS / "orders", TESTS / "outbox", TESTS / "cart"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
