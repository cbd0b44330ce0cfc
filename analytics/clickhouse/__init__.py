"""The analytics store in ClickHouse, for shops whose events outgrow one machine's memory.

- ``schema``: the tables (events and Rasa's events, ReplacingMergeTree on the event id,
  a partition per month, ordered by unit and time) as DDL;
- ``store``: where the SQL runs: chdb (ClickHouse's engine in this process, ``chdb:PATH``)
  or a ClickHouse server over HTTP (``clickhouse://host:8123/db``);
- ``funnel``: ordered funnels computed inside ClickHouse with the rule of
  ``analytics.funnel`` (docs/analytics.md), not with ``windowFunnel``.
"""
