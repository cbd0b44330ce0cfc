-- The analytics store's tables, written by analytics/clickhouse/schema.py (schema_sql);
-- tests/analytics/test_clickhouse_store.py checks the two agree. The clickhouse service
-- of docker-compose.yml runs it at its first start.

CREATE DATABASE IF NOT EXISTS aisle;

CREATE TABLE IF NOT EXISTS aisle.events (
    event_id String,
    ts DateTime64(6, 'UTC'),
    name Nullable(String),
    session_id Nullable(String),
    customer_id Nullable(String),
    cart_id Nullable(String),
    order_number Nullable(String),
    conversation_id Nullable(String),
    channel Nullable(String),
    source Nullable(String),
    device Nullable(String),
    item_id Nullable(String),
    value Nullable(Int64),
    currency Nullable(String),
    consent Bool,
    properties Nullable(String),
    user_id Nullable(String),
    category Nullable(String),
    email Nullable(String),
    seq UInt64 DEFAULT 0
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (ifNull(user_id, ''), ts, event_id);

CREATE TABLE IF NOT EXISTS aisle.rasa_events (
    event_key String,
    conversation_id String,
    ts DateTime64(6, 'UTC'),
    type LowCardinality(String),
    intent Nullable(String),
    action Nullable(String),
    confidence Nullable(Float64),
    input_channel Nullable(String),
    policy Nullable(String),
    slot Nullable(String),
    slot_value Nullable(String),
    received_at DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (conversation_id, ts, event_key);
