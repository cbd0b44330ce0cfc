"""The fuzz run's helpers (api_fuzzer.py, fuzz_shop.py) import as plain modules."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
