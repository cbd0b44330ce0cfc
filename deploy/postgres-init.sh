#!/bin/sh
# Runs once, when the PostgreSQL volume is created (docker-entrypoint-initdb.d), as the
# superuser POSTGRES_USER (aisle), who owns both databases and every table the migrations and
# Rasa create in them.
# - Rasa's tracker store gets a database of its own: its table is called `events`, like the
#   shop's analytics table.
# - The dashboard connects as a role that can only read (deploy/postgres-reader.sql): what it
#   shows comes from the shop's and Rasa's tables, and a compromised dashboard must not be
#   able to write (e.g. a staff session).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -c "CREATE DATABASE rasa OWNER \"$POSTGRES_USER\""
for database in "$POSTGRES_DB" rasa; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$database" \
       -v reader=aisle_dashboard -v owner="$POSTGRES_USER" \
       -v password="$DASHBOARD_DB_PASSWORD" -f /aisle/postgres-reader.sql
done
