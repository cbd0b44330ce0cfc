"""Aisle's action server package: ``rasa run actions --actions bot.actions``.

Importing a skill module registers its actions with rasa_sdk; every skill module is listed
here (one line each).
"""

from . import search  # noqa: F401
from . import cart  # noqa: F401
from . import checkout  # noqa: F401
from . import session  # noqa: F401
from . import orders  # noqa: F401
from . import aftersales  # noqa: F401
from . import support  # noqa: F401
