"""Aisle analytics: load shop events (Aisle's database, Rasa's tracker store, outside logs,
synthetic traffic), compute funnels, abandonment, segments and chat outcomes.

Every computation takes a conformed ``pl.LazyFrame`` of events (see ``analytics.schema``)
and returns a ``pl.DataFrame`` or a plain dict; ``python -m analytics`` is the command line.
"""

from .schema import EVENT_SCHEMA, InputError, conform

__all__ = ["EVENT_SCHEMA", "InputError", "conform"]
