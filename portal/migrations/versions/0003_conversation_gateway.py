"""conversation gateway: owners, worker leases, richer transcripts, inbound SMS per conversation

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 20:28:04.825892
"""
from alembic import op
import sqlalchemy as sa
import portal.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column('owner_staff_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('owner_name', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('owner_since', portal.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('lease_owner', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('lease_until', portal.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.drop_column('taken_over_by')
        batch_op.drop_column('taken_over_at')

    with op.batch_alter_table('inbound_sms', schema=None) as batch_op:
        batch_op.add_column(sa.Column('conversation_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('transcript_message_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('next_attempt_at', portal.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_inbound_sms_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_inbound_sms_conversation_id_conversations'), 'conversations', ['conversation_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('transcript_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('in_reply_to', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('entities', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('action', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('status', sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column('outbound_sms_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('staff_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('staff_name', sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f('ix_transcript_messages_outbound_sms_id'), ['outbound_sms_id'], unique=False)
        batch_op.create_unique_constraint('uq_transcript_external_id', ['conversation_id', 'external_id'])
        batch_op.create_foreign_key(batch_op.f('fk_transcript_messages_outbound_sms_id_outbound_sms'), 'outbound_sms', ['outbound_sms_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('transcript_messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_transcript_messages_outbound_sms_id_outbound_sms'), type_='foreignkey')
        batch_op.drop_constraint('uq_transcript_external_id', type_='unique')
        batch_op.drop_index(batch_op.f('ix_transcript_messages_outbound_sms_id'))
        batch_op.drop_column('staff_name')
        batch_op.drop_column('staff_id')
        batch_op.drop_column('outbound_sms_id')
        batch_op.drop_column('status')
        batch_op.drop_column('action')
        batch_op.drop_column('entities')
        batch_op.drop_column('in_reply_to')
        batch_op.drop_column('external_id')

    with op.batch_alter_table('inbound_sms', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_inbound_sms_conversation_id_conversations'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_inbound_sms_conversation_id'))
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('attempts')
        batch_op.drop_column('transcript_message_id')
        batch_op.drop_column('conversation_id')

    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('taken_over_at', portal.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('taken_over_by', sa.String(length=100), nullable=True))
        batch_op.drop_column('lease_until')
        batch_op.drop_column('lease_owner')
        batch_op.drop_column('owner_since')
        batch_op.drop_column('owner_name')
        batch_op.drop_column('owner_staff_id')
        batch_op.drop_column('language')

