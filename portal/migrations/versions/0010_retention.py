"""retention: holds on conversations, erased content marks

Revision ID: 0010_retention
Revises: 0009
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa
import portal.db


revision = '0010_retention'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held_at', portal.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('held_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('hold_reason', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('erased_at', portal.db.UTCDateTime(), nullable=True))
    with op.batch_alter_table('transcript_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', portal.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('transcript_messages', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
        batch_op.drop_column('hold_reason')
        batch_op.drop_column('held_by')
        batch_op.drop_column('held_at')
