"""citizen cases (Skriv til kommunen) and the handoff's link to its conversation row

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa
import portal.db


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('handoff_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('conversation_row_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('within_opening_hours', sa.Boolean(), nullable=True))
        batch_op.create_index(batch_op.f('ix_handoff_requests_conversation_row_id'),
                              ['conversation_row_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_handoff_requests_conversation_row_id_conversations'),
            'conversations', ['conversation_row_id'], ['id'], ondelete='SET NULL')
    op.create_table('citizen_cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('citizen_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.Enum('sms', 'webchat', 'portal', 'rest', name='channel', native_enum=False, length=20), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=True),
    sa.Column('reply_to_letter_id', sa.Integer(), nullable=True),
    sa.Column('handoff_request_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', portal.db.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('answered_at', portal.db.UTCDateTime(), nullable=True),
    sa.Column('answered_by', sa.Integer(), nullable=True),
    sa.Column('answer_letter_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['answer_letter_id'], ['letters.id'], name=op.f('fk_citizen_cases_answer_letter_id_letters'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_citizen_cases_citizen_id_citizens'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_citizen_cases_conversation_id_conversations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['handoff_request_id'], ['handoff_requests.id'], name=op.f('fk_citizen_cases_handoff_request_id_handoff_requests'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reply_to_letter_id'], ['letters.id'], name=op.f('fk_citizen_cases_reply_to_letter_id_letters'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_citizen_cases'))
    )
    with op.batch_alter_table('citizen_cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_citizen_cases_citizen_id'), ['citizen_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_citizen_cases_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index('ix_citizen_cases_status_created', ['status', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('citizen_cases', schema=None) as batch_op:
        batch_op.drop_index('ix_citizen_cases_status_created')
        batch_op.drop_index(batch_op.f('ix_citizen_cases_conversation_id'))
        batch_op.drop_index(batch_op.f('ix_citizen_cases_citizen_id'))
    op.drop_table('citizen_cases')
    with op.batch_alter_table('handoff_requests', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_handoff_requests_conversation_row_id_conversations'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_handoff_requests_conversation_row_id'))
        batch_op.drop_column('within_opening_hours')
        batch_op.drop_column('conversation_row_id')
