"""Search index: a narrow projection of products plus full text proper to each database.

``product_search`` holds, per product, only what filters, sorts and facets read (category,
prices, stock flag, rating, date, colour/size bitmasks), stamped with the ``search_state``
version that last changed it: each server process keeps these few dozen bytes per product
in memory and reloads only the rows with a newer version. ``search_facet_values`` gives each
colour and size its bit.

SQLite: FTS5 with the porter stemmer (plural/singular) over title, keywords and description,
plus an FTS5 trigram table over titles for partial words.
PostgreSQL: a weighted tsvector on product_search with a GIN index, pg_trgm over titles.
All of it is filled by storefront_api.catalog.search.rebuild_index.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "product_search",
        sa.Column("id", sa.Integer, sa.ForeignKey("products.id", ondelete="CASCADE"),
                  primary_key=True, autoincrement=False),
        sa.Column("category_id", sa.Integer),
        sa.Column("min_price", sa.Integer, nullable=False),
        sa.Column("max_price", sa.Integer, nullable=False),
        sa.Column("in_stock", sa.Boolean, nullable=False),
        sa.Column("rating", sa.Float, nullable=False),
        sa.Column("rating_count", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("color_mask", sa.BigInteger, nullable=False),
        sa.Column("size_mask", sa.BigInteger, nullable=False),
        sa.Column("stock_color_mask", sa.BigInteger, nullable=False),
        sa.Column("stock_size_mask", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_product_search_version", "product_search", ["version"])
    op.create_table(
        "search_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        # the version of the last full rebuild: readers older than it reload everything
        sa.Column("rebuilt_version", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO search_state (id, version, rebuilt_version) VALUES (1, 0, 0)")
    op.create_table(
        "search_facet_values",
        sa.Column("facet", sa.String(10), primary_key=True),   # color | size
        sa.Column("value", sa.String(60), primary_key=True),   # lower-cased, for matching
        sa.Column("label", sa.String(60), nullable=False),     # as shown to shoppers
        sa.Column("bit", sa.BigInteger, nullable=False),       # a power of two
        sa.Column("position", sa.Integer, nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE product_fts USING fts5("
            "title, keywords, body, tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        op.execute("CREATE VIRTUAL TABLE product_trigram USING fts5(title, tokenize = 'trigram')")
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("ALTER TABLE product_search ADD COLUMN search_vector tsvector")
        op.execute("CREATE INDEX ix_product_search_vector ON product_search "
                   "USING gin (search_vector)")
        op.execute(
            "CREATE INDEX ix_products_title_trgm ON products USING gin (lower(title) gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS product_trigram")
        op.execute("DROP TABLE IF EXISTS product_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_products_title_trgm")
    op.drop_table("search_state")
    op.drop_table("search_facet_values")
    op.drop_table("product_search")
