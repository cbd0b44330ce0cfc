"""Full-text search index, proper to each database.

SQLite: an FTS5 table with the porter stemmer (plural/singular) over title, keywords and
description, plus an FTS5 trigram table over titles for partial words.
PostgreSQL: a weighted tsvector column with a GIN index, and pg_trgm over titles.
Both are filled by storefront_api.catalog.search.rebuild_index.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE product_fts USING fts5("
            "title, keywords, body, tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        op.execute("CREATE VIRTUAL TABLE product_trigram USING fts5(title, tokenize = 'trigram')")
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("ALTER TABLE products ADD COLUMN search_vector tsvector")
        op.execute("CREATE INDEX ix_products_search_vector ON products USING gin (search_vector)")
        op.execute(
            "CREATE INDEX ix_products_title_trgm ON products USING gin (lower(title) gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS product_trigram")
        op.execute("DROP TABLE IF EXISTS product_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_products_title_trgm")
        op.execute("DROP INDEX IF EXISTS ix_products_search_vector")
        op.execute("ALTER TABLE products DROP COLUMN IF EXISTS search_vector")
