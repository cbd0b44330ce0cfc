"""outbox: when a message was first and last tried (its retries run for 72 hours from the
first attempt; operators see both times in `outbox --failed`)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 18:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_messages') as batch:
        batch.add_column(sa.Column('first_attempt_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('last_attempt_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_messages') as batch:
        batch.drop_column('last_attempt_at')
        batch.drop_column('first_attempt_at')
