"""Index cart lines by variant (deleting or restocking a variant finds its carts), and let
product colour/size summaries grow beyond 400 characters (imported catalogs).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cart_lines_variant_id", "cart_lines", ["variant_id"])
    if op.get_bind().dialect.name == "sqlite":
        return  # SQLite does not enforce VARCHAR lengths; no need to rebuild the table
    with op.batch_alter_table("products") as batch:
        batch.alter_column("colors", type_=sa.Text(), existing_type=sa.String(400))
        batch.alter_column("sizes", type_=sa.Text(), existing_type=sa.String(400))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        with op.batch_alter_table("products") as batch:
            batch.alter_column("colors", type_=sa.String(400), existing_type=sa.Text())
            batch.alter_column("sizes", type_=sa.String(400), existing_type=sa.Text())
    op.drop_index("ix_cart_lines_variant_id", "cart_lines")
