"""event_visits: the Overview's daily reduction of the events, kept by PostgreSQL itself

Rows of (day, channel, session, conversation, cart started) with a number of events: what
``analytics.overview_data`` computes from every event of a window, so the Overview reads
these rows instead (docs/analytics.md, "The daily visits"). Statement-level triggers keep
it, whoever writes (the API, the Rasa events consumer, an import, the synthesizer):

- every INSERT or COPY into ``events`` appends its rows' reduction (one row per distinct
  visit of the statement, ``compact`` false). Appending takes no row lock, so writers never
  wait for each other or deadlock over a shared visit;
- ``compact_event_visits()`` folds each day holding appended rows into one row per visit
  (``compact`` true); the API runs it every few minutes (storefront_api.events.visits), the
  synthesizer after writing. A visit may have several rows between two runs: readers sum;
- a DELETE or UPDATE of events works its days out again from the events (neither happens
  in a live shop: the synthesizer's ``--replace`` and tests delete); TRUNCATE empties it.

Existing events are reduced here once. PostgreSQL 15 or later: on SQLite and older servers
nothing is created and the Overview scans the events as before.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

KEY = "day, channel, session_id, conversation_id, cart_started"

# The reduction of a set of event rows (``analytics.overview_data._reduce`` in SQL): ts is
# UTC without a time zone, so its date is the UTC day; no channel is the shop's own site.
REDUCE = """
    SELECT ts::date, coalesce(channel, 'site'), session_id, conversation_id,
           CASE WHEN name = 'add_to_cart' THEN cart_id END, count(*), {compact}
    FROM {rows} {where}
    GROUP BY 1, 2, 3, 4, 5"""
APPEND = f"INSERT INTO event_visits ({KEY}, events, compact) {{select}}"

STATEMENTS = [
    """CREATE TABLE event_visits (
        day date NOT NULL,
        channel varchar(40) NOT NULL,
        session_id varchar(128),
        conversation_id varchar(128),
        cart_started varchar(64),
        events bigint NOT NULL,
        compact boolean NOT NULL)""",
    "CREATE INDEX ix_event_visits_day ON event_visits (day)",
    "CREATE INDEX ix_event_visits_appended ON event_visits (day) WHERE NOT compact",
    f"""CREATE FUNCTION event_visits_added() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {APPEND.format(select=REDUCE.format(rows="added_events", where="", compact="false"))};
        RETURN NULL;
    END $$""",
    # Rows deleted and their sums written back in one statement: an appended row committed
    # meanwhile is not seen by the DELETE and stays for the next run; two runs at once
    # cannot both take a row (the second's DELETE skips what the first deleted).
    f"""CREATE FUNCTION compact_event_visits() RETURNS integer LANGUAGE plpgsql AS $$
    DECLARE
        days date[];
    BEGIN
        SELECT array_agg(DISTINCT day) INTO days FROM event_visits WHERE NOT compact;
        IF days IS NULL THEN
            RETURN 0;
        END IF;
        WITH gone AS (DELETE FROM event_visits WHERE day = ANY(days) RETURNING *)
        INSERT INTO event_visits ({KEY}, events, compact)
        SELECT {KEY}, sum(events), true FROM gone GROUP BY 1, 2, 3, 4, 5;
        RETURN cardinality(days);
    END $$""",
    # A deletion or an update works its days out again from the events. The lock waits for
    # the writers appending and holds new ones back until this transaction ends, so none of
    # their events is both recounted here and appended by them.
    f"""CREATE FUNCTION event_visits_recount() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        days date[];
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            SELECT array_agg(DISTINCT d) INTO days FROM (
                SELECT ts::date AS d FROM changed_before
                UNION SELECT ts::date FROM changed_after) AS touched;
        ELSE
            SELECT array_agg(DISTINCT ts::date) INTO days FROM changed_before;
        END IF;
        IF days IS NULL THEN
            RETURN NULL;
        END IF;
        LOCK TABLE event_visits IN SHARE ROW EXCLUSIVE MODE;
        DELETE FROM event_visits WHERE day = ANY(days);
        {APPEND.format(select=REDUCE.format(
            rows="events", compact="true",
            where="WHERE ts >= (SELECT min(d) FROM unnest(days) AS d) "
                  "AND ts < (SELECT max(d) FROM unnest(days) AS d) + 1 "
                  "AND ts::date = ANY(days)"))};
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION event_visits_emptied() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        TRUNCATE event_visits;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER event_visits_on_insert AFTER INSERT ON events
        REFERENCING NEW TABLE AS added_events
        FOR EACH STATEMENT EXECUTE FUNCTION event_visits_added()""",
    """CREATE TRIGGER event_visits_on_delete AFTER DELETE ON events
        REFERENCING OLD TABLE AS changed_before
        FOR EACH STATEMENT EXECUTE FUNCTION event_visits_recount()""",
    """CREATE TRIGGER event_visits_on_update AFTER UPDATE ON events
        REFERENCING OLD TABLE AS changed_before NEW TABLE AS changed_after
        FOR EACH STATEMENT EXECUTE FUNCTION event_visits_recount()""",
    """CREATE TRIGGER event_visits_on_truncate AFTER TRUNCATE ON events
        FOR EACH STATEMENT EXECUTE FUNCTION event_visits_emptied()""",
    # the events already there, reduced once (the table is locked against writers meanwhile)
    "LOCK TABLE events IN SHARE MODE",
    APPEND.format(select=REDUCE.format(rows="events", where="", compact="true")),
]


def _supported() -> bool:
    bind = op.get_bind()
    return (bind.dialect.name == "postgresql"
            and bind.dialect.server_version_info >= (15,))


def upgrade() -> None:
    if not _supported():
        return
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in (
            "DROP TRIGGER IF EXISTS event_visits_on_truncate ON events",
            "DROP TRIGGER IF EXISTS event_visits_on_update ON events",
            "DROP TRIGGER IF EXISTS event_visits_on_delete ON events",
            "DROP TRIGGER IF EXISTS event_visits_on_insert ON events",
            "DROP FUNCTION IF EXISTS event_visits_emptied()",
            "DROP FUNCTION IF EXISTS event_visits_recount()",
            "DROP FUNCTION IF EXISTS compact_event_visits()",
            "DROP FUNCTION IF EXISTS event_visits_added()",
            "DROP TABLE IF EXISTS event_visits"):
        op.execute(statement)
