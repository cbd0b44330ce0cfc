"""Makes the shared helpers in tests/cart/cart_helpers.py importable from this folder."""

import sys
from pathlib import Path

CART_TESTS = str(Path(__file__).resolve().parent.parent / "cart")
if CART_TESTS not in sys.path:
    sys.path.insert(0, CART_TESTS)
