"""the support inbox: who holds a handoff, first reply, outcome and rating; notes, canned
replies, agents' presence

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 09:00:00.000000

Three canned replies to start from (admins change them in the inbox).
"""

from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

STARTERS = [
    ("hello", "Greeting",
     "Hi {first_name|there}, I'm {agent_name} from {shop_name}. I've read our conversation "
     "so far; how can I help?"),
    ("order", "Looking at the order",
     "Thank you! I'm looking at {order_number|your order} now; one moment please."),
    ("bye", "Closing",
     "Glad I could help. Is there anything else before I hand you back to our assistant?"),
]


def upgrade() -> None:
    with op.batch_alter_table('handoffs') as batch:
        batch.add_column(sa.Column('agent_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('first_reply_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('outcome', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('csat_asked_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('csat', sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column('rated_at', sa.DateTime(), nullable=True))
        batch.create_index('ix_handoffs_agent_id', ['agent_id'], unique=False)

    op.create_table('handoff_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('handoff_id', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(length=80), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'],
                            name=op.f('fk_handoff_notes_handoff_id_handoffs'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoff_notes'))
    )
    op.create_index('ix_handoff_notes_handoff_id', 'handoff_notes', ['handoff_id'],
                    unique=False)

    canned = op.create_table('canned_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shortcut', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=80), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('updated_by', sa.String(length=80), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_canned_replies')),
    sa.UniqueConstraint('shortcut', name=op.f('uq_canned_replies_shortcut'))
    )
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    op.bulk_insert(canned, [{"shortcut": shortcut, "title": title, "text": text,
                             "updated_by": "Aisle", "updated_at": now}
                            for shortcut, title, text in STARTERS])

    op.create_table('agent_presence',
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('agent', sa.String(length=80), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_agent_presence'))
    )
    op.create_index('ix_agent_presence_last_seen_at', 'agent_presence', ['last_seen_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_agent_presence_last_seen_at', table_name='agent_presence')
    op.drop_table('agent_presence')
    op.drop_table('canned_replies')
    op.drop_index('ix_handoff_notes_handoff_id', table_name='handoff_notes')
    op.drop_table('handoff_notes')
    with op.batch_alter_table('handoffs') as batch:
        batch.drop_index('ix_handoffs_agent_id')
        for column in ('rated_at', 'csat', 'csat_asked_at', 'outcome', 'first_reply_at',
                       'agent_id'):
            batch.drop_column(column)
