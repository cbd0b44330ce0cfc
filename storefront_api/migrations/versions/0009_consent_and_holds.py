"""consent per purpose (a row per decision); who holds a checkout's stock

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 10:00:00.000000

Customers' ``marketing_consent`` ticks from before become their first decision on the
marketing purpose (source "signup", at their sign-up time), so reminders keep going to
those who asked for them. The old single consent flag of checkouts and events meant
"X-Consent: granted", which is analytics consent now: it grants no marketing.
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'  # 0008_outbox_attempt_times (written at the same time)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=160), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_consents_subject_purpose', 'consents',
                    ['subject', 'purpose', 'recorded_at'], unique=False)
    op.create_index('ix_consents_purpose_recorded', 'consents', ['purpose', 'recorded_at'],
                    unique=False)
    with op.batch_alter_table('checkouts') as batch:
        batch.add_column(sa.Column('holder', sa.String(length=160), nullable=True))
        batch.create_index('ix_checkouts_holder_status', ['holder', 'status'], unique=False)
    op.execute(
        "INSERT INTO consents (subject, purpose, granted, source, recorded_at) "
        "SELECT 'customer:' || CAST(id AS VARCHAR(20)), 'marketing', marketing_consent, "
        "'signup', created_at FROM customers")


def downgrade() -> None:
    with op.batch_alter_table('checkouts') as batch:
        batch.drop_index('ix_checkouts_holder_status')
        batch.drop_column('holder')
    op.drop_index('ix_consents_purpose_recorded', table_name='consents')
    op.drop_index('ix_consents_subject_purpose', table_name='consents')
    op.drop_table('consents')
