"""scale-out: cart changes keyed by Idempotency-Key (applied once when sent again), and
Rasa's conversation events as the analytics consumer writes them (rasa_events)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09 09:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'cart_requests',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('cart_id', sa.Integer(), nullable=False),
        sa.Column('request_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['cart_id'], ['carts.id'], ondelete='CASCADE',
                                name=op.f('fk_cart_requests_cart_id_carts')),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_cart_requests')),
    )
    op.create_index(op.f('ix_cart_requests_cart_id'), 'cart_requests', ['cart_id'])
    op.create_table(
        'rasa_events',
        sa.Column('event_key', sa.String(length=80), nullable=False),
        sa.Column('conversation_id', sa.String(length=255), nullable=False),
        sa.Column('ts', sa.DateTime(), nullable=False),
        sa.Column('type', sa.String(length=40), nullable=False),
        sa.Column('intent', sa.String(length=255), nullable=True),
        sa.Column('action', sa.String(length=255), nullable=True),
        sa.Column('confidence', sa.Float(), nullable=True),
        sa.Column('input_channel', sa.String(length=64), nullable=True),
        sa.Column('policy', sa.String(length=255), nullable=True),
        sa.Column('slot', sa.String(length=255), nullable=True),
        sa.Column('slot_value', sa.Text(), nullable=True),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('event_key', name=op.f('pk_rasa_events')),
    )
    op.create_index('ix_rasa_events_ts', 'rasa_events', ['ts'])
    op.create_index('ix_rasa_events_conversation_id', 'rasa_events', ['conversation_id'])


def downgrade() -> None:
    op.drop_index('ix_rasa_events_conversation_id', table_name='rasa_events')
    op.drop_index('ix_rasa_events_ts', table_name='rasa_events')
    op.drop_table('rasa_events')
    op.drop_index(op.f('ix_cart_requests_cart_id'), table_name='cart_requests')
    op.drop_table('cart_requests')
