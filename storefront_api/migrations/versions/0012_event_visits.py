"""event_visits: the Overview's daily reduction of the events, kept by PostgreSQL itself

Rows of (day, channel, session, conversation, cart started) with a number of events: what
``analytics.overview_data`` computes from every event of a window, so the Overview reads
these rows instead (docs/analytics.md, "The daily visits"). Statement-level triggers keep
it, whoever writes (the API, the Rasa events consumer, an import, the synthesizer), and
take no lock a writer could wait for:

- every INSERT or COPY into ``events`` appends its rows' reduction (one row per distinct
  visit of the statement, ``compact`` false); a DELETE appends the same with the counts
  negated; an UPDATE both (its rows before, negated, and after). A visit's number of events
  is the sum of its rows; a visit whose sum is 0 has no events left;
- ``compact_event_visits()`` folds the appended rows into one compact row per visit (a
  unique index on the compact rows), dropping those whose sum is 0. The API runs it every
  few minutes (storefront_api.events.visits), the synthesizer after writing; a run finding
  another one at work returns at once;
- TRUNCATE empties it (TRUNCATE itself locks out every writer).

Existing events are reduced here once, in the migration's transaction: event writes wait for
it (about a second per million events). PostgreSQL 15 or later (the unique index treats
NULLs as equal): on SQLite and older servers nothing is created and the Overview scans the
events as before. A data-only restore into a migrated schema must not load both the events
and event_visits with the triggers on (pg_restore --disable-triggers, or leave
event_visits out and run the reduction again).

Revision ID: 0012
Revises: 0011
"""

from alembic import op
from sqlalchemy import text

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

KEY = "day, channel, session_id, conversation_id, cart_started"
COMPACTION_LOCK = 0x4A15_1E00_0012  # pg_try_advisory_xact_lock: one compaction at a time

# The reduction of a set of event rows (``analytics.overview_data._reduce`` in SQL): ts is
# UTC without a time zone, so its date is the UTC day; no channel is the shop's own site.
REDUCE = """
    SELECT ts::date, coalesce(channel, 'site'), session_id, conversation_id,
           CASE WHEN name = 'add_to_cart' THEN cart_id END, {sign} count(*), {compact}
    FROM {rows}
    GROUP BY 1, 2, 3, 4, 5"""
APPEND = f"INSERT INTO event_visits ({KEY}, events, compact) {{select}}"


def _appended(rows: str, sign: str = "") -> str:
    return APPEND.format(select=REDUCE.format(rows=rows, sign=sign, compact="false"))


def statements(schema: str) -> list[str]:
    # the functions find their tables in the shop's schema, never in a session's temporary
    # tables
    path = f"SET search_path = {schema}, pg_temp"
    return [
        """CREATE TABLE event_visits (
            day date NOT NULL,
            channel varchar(40) NOT NULL,
            session_id varchar(128),
            conversation_id varchar(128),
            cart_started varchar(64),
            events bigint NOT NULL,
            compact boolean NOT NULL)""",
        "CREATE INDEX ix_event_visits_day ON event_visits (day)",
        f"""CREATE UNIQUE INDEX uq_event_visits_compact ON event_visits ({KEY})
            NULLS NOT DISTINCT WHERE compact""",
        f"""CREATE FUNCTION event_visits_added() RETURNS trigger LANGUAGE plpgsql {path} AS $$
        BEGIN
            {_appended("added_events")};
            RETURN NULL;
        END $$""",
        f"""CREATE FUNCTION event_visits_removed() RETURNS trigger LANGUAGE plpgsql {path}
        AS $$
        BEGIN
            {_appended("removed_events", sign="-")};
            RETURN NULL;
        END $$""",
        f"""CREATE FUNCTION event_visits_changed() RETURNS trigger LANGUAGE plpgsql {path}
        AS $$
        BEGIN
            {_appended("events_before", sign="-")};
            {_appended("events_after")};
            RETURN NULL;
        END $$""",
        f"""CREATE FUNCTION event_visits_emptied() RETURNS trigger LANGUAGE plpgsql {path}
        AS $$
        BEGIN
            TRUNCATE event_visits;
            RETURN NULL;
        END $$""",
        # The appended rows deleted and their sums added to the compact rows in one
        # statement: a row appended by a transaction that commits meanwhile is not seen by
        # the DELETE and waits for the next run. Only compactions write compact rows, one at
        # a time (the advisory lock), so the shop's writers never wait for a compaction.
        f"""CREATE FUNCTION compact_event_visits() RETURNS bigint LANGUAGE plpgsql {path}
        AS $$
        DECLARE
            folded bigint;
            emptied date[];
        BEGIN
            IF NOT pg_try_advisory_xact_lock({COMPACTION_LOCK}) THEN
                RETURN 0;
            END IF;
            WITH gone AS (DELETE FROM event_visits WHERE NOT compact RETURNING *),
            sums AS (SELECT {KEY}, sum(events) AS events, count(*) AS appended
                     FROM gone GROUP BY 1, 2, 3, 4, 5),
            kept AS (INSERT INTO event_visits AS v ({KEY}, events, compact)
                     SELECT {KEY}, events, true FROM sums ORDER BY 1, 2, 3, 4, 5
                     ON CONFLICT ({KEY}) WHERE compact
                     DO UPDATE SET events = v.events + excluded.events
                     RETURNING day, events)
            SELECT (SELECT coalesce(sum(appended), 0) FROM sums),
                   (SELECT array_agg(DISTINCT day) FROM kept WHERE events = 0)
            INTO folded, emptied;
            IF emptied IS NOT NULL THEN  -- visits whose events were all deleted
                DELETE FROM event_visits WHERE compact AND events = 0 AND day = ANY(emptied);
            END IF;
            RETURN folded;
        END $$""",
        """CREATE TRIGGER event_visits_on_insert AFTER INSERT ON events
            REFERENCING NEW TABLE AS added_events
            FOR EACH STATEMENT EXECUTE FUNCTION event_visits_added()""",
        """CREATE TRIGGER event_visits_on_delete AFTER DELETE ON events
            REFERENCING OLD TABLE AS removed_events
            FOR EACH STATEMENT EXECUTE FUNCTION event_visits_removed()""",
        """CREATE TRIGGER event_visits_on_update AFTER UPDATE ON events
            REFERENCING OLD TABLE AS events_before NEW TABLE AS events_after
            FOR EACH STATEMENT EXECUTE FUNCTION event_visits_changed()""",
        """CREATE TRIGGER event_visits_on_truncate AFTER TRUNCATE ON events
            FOR EACH STATEMENT EXECUTE FUNCTION event_visits_emptied()""",
        # the events already there, reduced once (creating the triggers locked the table
        # against writers until the migration commits)
        APPEND.format(select=REDUCE.format(rows="events", sign="", compact="true")),
    ]


def _supported() -> bool:
    bind = op.get_bind()
    return (bind.dialect.name == "postgresql"
            and bind.dialect.server_version_info >= (15,))


def upgrade() -> None:
    if not _supported():
        return
    schema = op.get_bind().execute(text("SELECT quote_ident(current_schema())")).scalar()
    for statement in statements(schema):
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
            "DROP FUNCTION IF EXISTS event_visits_changed()",
            "DROP FUNCTION IF EXISTS event_visits_removed()",
            "DROP FUNCTION IF EXISTS compact_event_visits()",
            "DROP FUNCTION IF EXISTS event_visits_added()",
            "DROP TABLE IF EXISTS event_visits"):
        op.execute(statement)
