"""``python -m analytics consume-rasa-events``: Rasa's conversation events from RabbitMQ into
the analytics store, each exactly once.

Rasa's replicas publish every event of every conversation to the durable queue
``rasa_events`` (bot/endpoints.production.yml; published again until RabbitMQ confirms it,
so possibly more than once: bot/event_stream.py). This consumer takes them in batches and:

1. parses each message; one that is not a Rasa event (not JSON, no conversation, no event
   name or time) goes to the dead-letter queue ``rasa_events.dead`` with the reason in its
   headers, published with a confirmation before the original is acknowledged: it is kept
   for a person to look at, never lost and never retried forever;
2. writes the batch to ``rasa_events`` (storefront_api's migration 0011) in one
   transaction, each row keyed by the event's identity: its id in Rasa's tracker store
   (``aisle_event_id``: ``t:<id>``), or for a message without one a digest of the whole
   event (``h:<sha256>``); a key already there is skipped, so a message delivered twice is
   written once;
3. acknowledges the batch only after the commit.

A consumer killed anywhere in between loses nothing (RabbitMQ delivers the unacknowledged
messages again, to it or to another consumer) and doubles nothing (the keys). Several
consumers may run at once. While the analytics store is unreachable (a restart) the batch
waits, unacknowledged, and is written once the database answers again; a lost connection
to RabbitMQ ends the process (its container restarts it), losing nothing.

The store is PostgreSQL's analytics database (``--events``, default ANALYTICS_EVENTS_URL,
else DATABASE_URL), which the dashboard reads; ``--store URL`` (``--store`` alone: the URL
in ANALYTICS_STORE) writes to the ClickHouse store instead (``clickhouse://...`` or
``chdb:PATH``; ANALYTICS_STORE alone never diverts a consumer from PostgreSQL). There the
batch is one INSERT into the ReplacingMergeTree ``rasa_events`` keyed on the event key,
read FINAL, so a batch written again after a crash between the INSERT and the
acknowledgement counts once; an unreachable server is waited for as PostgreSQL is. The
ClickHouse consumer reads its own queue, ``rasa_events.clickhouse`` by default, which it
binds to Rasa's fanout exchange ``rasa-exchange`` (``--exchange``): every event reaches
both stores, rather than the two consumers sharing one queue's messages. Rasa declares
that exchange transient: after a RabbitMQ restart the binding is made again when this
consumer restarts (a lost connection ends it), and what Rasa published before that reached
PostgreSQL only. RabbitMQ is ``--amqp`` (default RABBITMQ_URL, else built from RABBITMQ_HOST,
RABBITMQ_PORT, RABBITMQ_USER and RABBITMQ_PASSWORD as Rasa's broker takes them). With
``--metrics-port`` it serves Prometheus metrics: events written, duplicates, dead letters,
the queue's backlog and the lag (how old the events it is writing are).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from .schema import InputError

log = logging.getLogger("analytics.rasa_events")

QUEUE = "rasa_events"
DEAD_SUFFIX = ".dead"
CLICKHOUSE_SUFFIX = ".clickhouse"  # the ClickHouse consumer's own queue
RASA_EXCHANGE = "rasa-exchange"  # Rasa's PikaEventBroker publishes to this fanout exchange
TABLE = "rasa_events"
EVENT_ID_KEY = "aisle_event_id"  # bot/event_stream.py
MAX_TEXT = 255


class NotAnEvent(ValueError):
    """A message that is not a Rasa event: dead-lettered with this reason."""


# --- one message -----------------------------------------------------------------------------

def event_key(body: dict) -> str:
    """The event's identity: its row in Rasa's tracker store, else a digest of it."""
    event_id = body.get(EVENT_ID_KEY)
    if isinstance(event_id, int) and not isinstance(event_id, bool) and event_id > 0:
        return f"t:{event_id}"
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "h:" + hashlib.sha256(canonical.encode()).hexdigest()


def _text(value: Any, limit: int = MAX_TEXT) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def row_of(raw: bytes, received_at: datetime) -> dict:
    """The analytics row of one message; raises NotAnEvent."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise NotAnEvent("not JSON") from None
    try:  # JSON may escape half a surrogate pair ("\ud800"), which no store can encode:
        # a dead letter, not a batch that fails at every delivery
        json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise NotAnEvent("text that is not valid Unicode") from None
    if not isinstance(body, dict):
        raise NotAnEvent("not a JSON object")
    conversation, name, timestamp = body.get("sender_id"), body.get("event"), body.get("timestamp")
    if not isinstance(conversation, str) or not 0 < len(conversation) <= 255:
        raise NotAnEvent("no sender_id")
    if not isinstance(name, str) or not 0 < len(name) <= 40:
        raise NotAnEvent("no event name")
    if not isinstance(timestamp, (int, float)) or isinstance(timestamp, bool) \
            or not math.isfinite(timestamp) or not 0 <= timestamp < 32503680000:
        raise NotAnEvent("no valid timestamp")
    intent = (body.get("parse_data") or {}).get("intent") if name == "user" else None
    intent = intent if isinstance(intent, dict) else {}
    confidence = intent.get("confidence")
    return {
        "event_key": event_key(body), "conversation_id": conversation,
        "ts": datetime.fromtimestamp(timestamp, timezone.utc).replace(tzinfo=None),
        "type": name, "intent": _text(intent.get("name")),
        "action": _text(body.get("name")) if name == "action" else None,
        "confidence": float(confidence) if isinstance(confidence, (int, float))
        and not isinstance(confidence, bool) and math.isfinite(confidence) else None,
        "input_channel": _text(body.get("input_channel"), 64),
        "policy": _text(body.get("policy")),
        "slot": _text(body.get("name")) if name == "slot" else None,
        "slot_value": json.dumps(body.get("value"), ensure_ascii=False)[:2000]
        if name == "slot" else None,
        "received_at": received_at}


# --- the store -------------------------------------------------------------------------------

class Store:
    """The analytics database's ``rasa_events`` table; inserts skip keys already there."""

    @property
    def transient_errors(self) -> tuple[type[BaseException], ...]:
        """What a write raises while the database is unreachable: the batch waits."""
        import sqlalchemy.exc
        return sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa
        from .loaders import sync_url
        self.engine = sa.create_engine(sync_url(url), pool_pre_ping=True)
        try:
            self.table = sa.Table(TABLE, sa.MetaData(), autoload_with=self.engine)
        except sa.exc.NoSuchTableError:
            raise InputError(f"the analytics store has no {TABLE} table: run "
                             "`python -m storefront_api migrate` on it first") from None
        except sa.exc.OperationalError as error:
            raise InputError(f"cannot reach the analytics store: "
                             f"{str(error).splitlines()[0]}") from None

    def write(self, rows: list[dict]) -> int:
        """Insert in one transaction; the number of rows that were new."""
        if not rows:
            return 0
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        unique = list({row["event_key"]: row for row in rows}.values())
        statement = (insert(self.table).on_conflict_do_nothing(index_elements=["event_key"])
                     .returning(self.table.c.event_key))
        with self.engine.begin() as connection:
            return len(connection.execute(statement, unique).all())

    def close(self) -> None:
        self.engine.dispose()


class ClickHouseStore:
    """The ClickHouse store's ``rasa_events`` (analytics/clickhouse/schema.py): a
    ReplacingMergeTree ordered by (conversation, time, event key), read FINAL. A batch is
    one INSERT; a key written before merges with it, so writing a batch again (redelivered
    after a crash before its acknowledgement) changes no count. ``write`` returns how many
    keys were not there before the batch (a lookup on the sorting key's prefix): exact for
    one consumer, for the metrics only."""

    def __init__(self, url: str, table: str = TABLE) -> None:
        from .clickhouse.store import StoreUnreachable, open_store
        self.table = table
        self.transient_errors = (StoreUnreachable,)
        self.store = open_store(url)
        try:
            self.store.create_tables()  # if not there (docker-compose's server has them)
        except StoreUnreachable as error:
            raise InputError(f"cannot reach the analytics store: {error}") from None

    def write(self, rows: list[dict]) -> int:
        import polars as pl
        from .clickhouse.ingest import RASA_COLUMNS
        from .clickhouse.store import StoreUnreachable, sql_string
        if not rows:
            return 0
        unique = list({row["event_key"]: row for row in rows}.values())
        conversations = ", ".join(sorted({sql_string(r["conversation_id"]) for r in unique}))
        keys = ", ".join(sql_string(r["event_key"]) for r in unique)
        try:  # for the metric only: a query too long for the server is no reason to stop
            there = int(self.store.query(
                f"SELECT count() AS n FROM (SELECT DISTINCT event_key FROM {self.table} "
                f"WHERE conversation_id IN ({conversations}) AND event_key IN ({keys}))"
            )["n"][0])
        except StoreUnreachable:
            raise
        except InputError:
            there = 0
        self.store.insert_frame(pl.DataFrame(unique, schema=RASA_COLUMNS, orient="row"),
                                self.table)
        return len(unique) - there

    def close(self) -> None:
        close = getattr(self.store, "close", None)
        if close is not None:
            close()


# --- metrics ---------------------------------------------------------------------------------

@dataclass
class Metrics:
    """Prometheus metrics of the consumer (registered once per process)."""

    registry: Any = None
    written: Any = field(init=False)
    duplicates: Any = field(init=False)
    dead: Any = field(init=False)
    backlog: Any = field(init=False)
    lag: Any = field(init=False)
    batch_seconds: Any = field(init=False)

    def __post_init__(self) -> None:
        from prometheus_client import REGISTRY, Counter, Gauge, Histogram
        registry = self.registry or REGISTRY
        self.written = Counter("aisle_rasa_events_written_total",
                               "Rasa events written to the analytics store", registry=registry)
        self.duplicates = Counter("aisle_rasa_events_duplicates_total",
                                  "Messages whose event was already written (redeliveries)",
                                  registry=registry)
        self.dead = Counter("aisle_rasa_events_dead_lettered_total",
                            "Messages that were not Rasa events, sent to the dead-letter queue",
                            ["reason"], registry=registry)
        self.backlog = Gauge("aisle_rasa_events_queue_messages",
                             "Messages waiting in the rasa_events queue", registry=registry)
        self.lag = Gauge("aisle_rasa_events_lag_seconds",
                         "Age of the oldest event in the batch just written (0 when idle)",
                         registry=registry)
        self.batch_seconds = Histogram("aisle_rasa_events_batch_seconds",
                                       "Time to write and acknowledge one batch",
                                       registry=registry)


# --- the consumer ----------------------------------------------------------------------------

def amqp_url(explicit: str | None = None) -> str:
    if explicit or os.environ.get("RABBITMQ_URL"):
        return explicit or os.environ["RABBITMQ_URL"]
    host = os.environ.get("RABBITMQ_HOST", "127.0.0.1")
    port = os.environ.get("RABBITMQ_PORT", "5672")
    user = quote(os.environ.get("RABBITMQ_USER", "guest"), safe="")
    password = quote(os.environ.get("RABBITMQ_PASSWORD", "guest"), safe="")
    return f"amqp://{user}:{password}@{host}:{port}/%2F"


@dataclass
class Consumer:
    """Consumes ``queue`` into ``store`` in batches of at most ``batch`` messages, each
    written at most ``wait`` seconds after its first message arrived."""

    store: Store | ClickHouseStore
    amqp: str
    queue: str = QUEUE
    batch: int = 500
    wait: float = 0.5
    metrics: Metrics | None = None
    stopping: bool = False
    written: int = 0
    exchange: str = ""  # a fanout exchange to bind the queue to ("": none)

    def run(self, *, until_idle: float | None = None) -> int:
        """Consume until stopped (SIGTERM, SIGINT) or, with ``until_idle``, until the queue
        stayed empty that long; the number of events written."""
        import pika
        connection = pika.BlockingConnection(pika.URLParameters(self.amqp))
        try:
            channel = connection.channel()
            channel.queue_declare(self.queue, durable=True)  # as Rasa's broker declares it
            if self.exchange:  # declared as Rasa's broker declares it (fanout, transient)
                channel.exchange_declare(self.exchange, exchange_type="fanout")
                channel.queue_bind(self.queue, self.exchange, routing_key="")
            channel.queue_declare(self.queue + DEAD_SUFFIX, durable=True)
            channel.confirm_delivery()  # dead letters are published with a confirmation
            channel.basic_qos(prefetch_count=self.batch)
            self._consume(channel, until_idle)
        finally:
            if connection.is_open:
                connection.close()
        return self.written

    def _consume(self, channel: Any, until_idle: float | None) -> None:
        pending: list[tuple[int, bytes]] = []
        first_at = idle_since = time.monotonic()
        checked_backlog = 0.0
        for method, _properties, body in channel.consume(self.queue, inactivity_timeout=0.1):
            now = time.monotonic()
            if method is not None:
                if not pending:
                    first_at = now
                pending.append((method.delivery_tag, body))
                idle_since = now
            if pending and (len(pending) >= self.batch or now - first_at >= self.wait
                            or method is None):
                self._flush(channel, pending)
                pending = []
            if self.metrics is not None and now - checked_backlog >= 5:
                checked_backlog = now
                self._measure_backlog(channel)
            if self.stopping or (until_idle is not None and not pending
                                 and now - idle_since >= until_idle):
                break
        channel.cancel()  # the unacknowledged prefetched messages go back to the queue

    def _flush(self, channel: Any, pending: list[tuple[int, bytes]]) -> None:
        started = time.perf_counter()
        received_at = datetime.now(timezone.utc).replace(tzinfo=None)
        rows = []
        for _tag, body in pending:
            try:
                rows.append(row_of(body, received_at))
            except NotAnEvent as error:
                self._dead_letter(channel, body, str(error))
        new = self._write(channel, rows)
        crash_point("rasa-events-committed")
        channel.basic_ack(pending[-1][0], multiple=True)  # after the commit
        self.written += new
        if self.metrics is not None:
            self.metrics.written.inc(new)
            self.metrics.duplicates.inc(len(rows) - new)
            oldest = min((row["ts"] for row in rows), default=None)
            self.metrics.lag.set((received_at - oldest).total_seconds() if oldest else 0)
            self.metrics.batch_seconds.observe(time.perf_counter() - started)
        log.debug("wrote %d new events of %d messages", new, len(pending))

    def _write(self, channel: Any, rows: list[dict]) -> int:
        """The batch written; while the analytics store is unreachable (restarting), the
        batch stays unacknowledged and is tried again, the connection to RabbitMQ kept
        alive meanwhile."""
        pause = 1.0
        while True:
            try:
                return self.store.write(rows)
            except self.store.transient_errors as error:
                if self.stopping:
                    raise
                log.warning("the analytics store is unreachable (%s); the batch of %d "
                            "events waits and is tried again in %.0f s",
                            str(error).splitlines()[0][:200], len(rows), pause)
                channel.connection.sleep(pause)  # answers RabbitMQ's heartbeats meanwhile
                pause = min(pause * 2, 30.0)

    def _dead_letter(self, channel: Any, body: bytes, reason: str) -> None:
        import pika
        channel.basic_publish("", self.queue + DEAD_SUFFIX, body, pika.BasicProperties(
            delivery_mode=2, headers={"x-aisle-reason": reason, "x-aisle-queue": self.queue}))
        log.warning("a message of %s is not a Rasa event (%s): moved to %s%s", self.queue,
                    reason, self.queue, DEAD_SUFFIX)
        if self.metrics is not None:
            self.metrics.dead.labels(reason).inc()

    def _measure_backlog(self, channel: Any) -> None:
        declared = channel.queue_declare(self.queue, durable=True, passive=True)
        self.metrics.backlog.set(declared.method.message_count)
        if not declared.method.message_count:
            self.metrics.lag.set(0)


def crash_point(name: str) -> None:
    """Tests only (AISLE_CRASH_AT): die like a killed process at this point."""
    if os.environ.get("AISLE_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


# --- the command -----------------------------------------------------------------------------

def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "consume-rasa-events", help="move Rasa's events from RabbitMQ into the analytics store "
                                    "(exactly once; runs until stopped)")
    parser.add_argument("--amqp", metavar="URL", help="RabbitMQ (default RABBITMQ_URL, else "
                        "RABBITMQ_HOST/PORT/USER/PASSWORD)")
    parser.add_argument("--store", nargs="?", const="", metavar="URL",
                        help="write to the ClickHouse store at URL (clickhouse://... or "
                        "chdb:PATH; --store alone: $ANALYTICS_STORE) instead of PostgreSQL's "
                        "analytics database (--events, the default)")
    parser.add_argument("--queue", help=f"default {QUEUE}, or {QUEUE}{CLICKHOUSE_SUFFIX} "
                        "with --store")
    parser.add_argument("--exchange", help=f"bind the queue to this fanout exchange (default "
                        f"with --store: Rasa's {RASA_EXCHANGE}; '' for none)")
    parser.add_argument("--batch", type=int, default=500, help="messages per transaction")
    parser.add_argument("--wait", type=float, default=0.5,
                        help="seconds a message may wait for its batch to fill")
    parser.add_argument("--metrics-port", type=int,
                        default=int(os.environ.get("RASA_EVENTS_METRICS_PORT", "0")),
                        help="serve Prometheus metrics on this port (0: none)")
    parser.add_argument("--metrics-host", default=os.environ.get("RASA_EVENTS_METRICS_HOST",
                                                                 "127.0.0.1"))
    parser.add_argument("--until-idle", type=float, metavar="SECONDS",
                        help="stop once the queue stayed empty this long (default: never)")
    parser.set_defaults(handler=_command)


def _command(args) -> dict:
    from storefront_api.logs import configure_logging
    from .loaders import default_events_source
    configure_logging("rasa-events")
    if not 1 <= args.batch <= 10000 or not 0 < args.wait <= 60:
        raise InputError("--batch must be 1 to 10000 and --wait 0 to 60 seconds")
    metrics = None
    if args.metrics_port:
        from prometheus_client import start_http_server
        metrics = Metrics()
        start_http_server(args.metrics_port, addr=args.metrics_host)
    if args.store is not None:
        from .clickhouse.store import default_store_url
        if args.events:
            raise InputError("--store (ClickHouse) or --events (PostgreSQL), not both")
        url = args.store or default_store_url()
        if not url:
            raise InputError("--store without a URL needs ANALYTICS_STORE")
        store = ClickHouseStore(url)
        queue = args.queue or QUEUE + CLICKHOUSE_SUFFIX
        exchange = RASA_EXCHANGE if args.exchange is None else args.exchange
        if queue == QUEUE:
            log.warning("the ClickHouse consumer reads %s, which the PostgreSQL consumer "
                        "reads: each store gets only part of the events", QUEUE)
    else:
        store = Store(args.events or default_events_source())
        queue, exchange = args.queue or QUEUE, args.exchange or ""
    consumer = Consumer(store, amqp_url(args.amqp), queue, args.batch, args.wait, metrics,
                        exchange=exchange)

    def stop(*_):
        consumer.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("consuming %s into the %s analytics store", queue,
             "ClickHouse" if args.store is not None else "PostgreSQL")
    started = time.monotonic()
    try:
        written = consumer.run(until_idle=args.until_idle)
    finally:
        store.close()
    return {"queue": queue, "written": written,
            "seconds": round(time.monotonic() - started, 1)}
