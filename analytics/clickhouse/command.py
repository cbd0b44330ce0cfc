"""``--store`` for the commands that compute inside ClickHouse (funnel, abandonment,
chat-metrics): without it they compute with polars over ``--events`` as before."""

from __future__ import annotations

from contextlib import contextmanager

from ..schema import InputError


def add_store_option(parser) -> None:
    parser.add_argument("--store", nargs="?", const="", metavar="URL",
                        help="compute inside the ClickHouse analytics store "
                             "(clickhouse://host:8123/db or chdb:PATH; --store alone: "
                             "$ANALYTICS_STORE) instead of reading --events")


def wants_store(args) -> bool:
    return getattr(args, "store", None) is not None


def range_from_args(args) -> dict:
    """The common options' range and channels, as the ClickHouse functions take them."""
    from ..cli import channels_from_args, parse_when
    start = parse_when(args.start) if args.start else None
    end = parse_when(args.end, end=True) if args.end else None
    if start and end and start >= end:
        raise InputError("--from must be before --to")
    return {"start": start, "end": end, "channels": channels_from_args(args)}


@contextmanager
def store_from_args(args):
    """The store ``--store`` names (open for the block); refuses sources it would ignore."""
    from .store import default_store_url, open_store
    url = args.store or default_store_url()
    if not url:
        raise InputError("--store without a URL needs ANALYTICS_STORE")
    if getattr(args, "events", None):
        raise InputError("--store computes over the store's events: no --events")
    if getattr(args, "tracker", None):
        raise InputError("--store reads Rasa's events from the store's rasa_events "
                         "(store-load --rasa-events): no --tracker")
    store = open_store(url)
    try:
        yield store
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
