"""cart recovery reminders

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cart_reminders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cart_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('channel', sa.String(length=40), nullable=True),
    sa.Column('conversation_id', sa.String(length=128), nullable=True),
    sa.Column('promo_code_id', sa.Integer(), nullable=True),
    sa.Column('cart_total', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.Column('order_number', sa.String(length=16), nullable=True),
    sa.Column('recovered_at', sa.DateTime(), nullable=True),
    sa.Column('recovered_value', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['cart_id'], ['carts.id'], name=op.f('fk_cart_reminders_cart_id_carts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['promo_code_id'], ['promo_codes.id'], name=op.f('fk_cart_reminders_promo_code_id_promo_codes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cart_reminders')),
    sa.UniqueConstraint('cart_id', 'kind', 'number', name='uq_cart_reminders_cart_kind_number')
    )
    with op.batch_alter_table('cart_reminders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cart_reminders_cart_id'), ['cart_id'], unique=False)
        batch_op.create_index('ix_cart_reminders_outcome_sent', ['outcome', 'sent_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cart_reminders', schema=None) as batch_op:
        batch_op.drop_index('ix_cart_reminders_outcome_sent')
        batch_op.drop_index(batch_op.f('ix_cart_reminders_cart_id'))

    op.drop_table('cart_reminders')
