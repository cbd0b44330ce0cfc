"""Makes the after-sales factories and the cart helpers importable from the support tests."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "aftersales"
for folder in (HERE, HERE.parent / "cart"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
