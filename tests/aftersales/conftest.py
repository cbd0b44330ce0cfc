"""Makes the shared helpers (tests/cart/cart_helpers.py, aftersales_factories.py here) importable."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent / "cart"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
