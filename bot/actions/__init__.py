"""Aisle's action server package: ``rasa run actions --actions bot.actions``.

Importing a skill module registers its actions with rasa_sdk; every skill module is listed
here (one line each).
"""

import gc

from . import search  # noqa: F401
from . import add_to_cart  # noqa: F401
from . import cart  # noqa: F401
from . import stock_alerts  # noqa: F401
from . import checkout  # noqa: F401
from . import session  # noqa: F401
from . import orders  # noqa: F401
from . import aftersales  # noqa: F401
from . import support  # noqa: F401
from . import refunds  # noqa: F401
from . import contact  # noqa: F401
from . import faq  # noqa: F401

# The action server imports this package once, at start-up: what exists now (rasa_sdk,
# Sanic, these modules) lives as long as the process. Kept out of the garbage collector's
# full passes, which otherwise stall a chat turn for 40-80 ms now and then (measured).
gc.freeze()
