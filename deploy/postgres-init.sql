-- Rasa's tracker store gets a database of its own: its table is called `events`, like the
-- shop's analytics table. Runs once, when the PostgreSQL volume is created.
CREATE DATABASE rasa OWNER aisle;
