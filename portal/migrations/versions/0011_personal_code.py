"""personal codes: the SMS-code login's second factor, with a pending reset

Revision ID: 0011_personal_code
Revises: 0010_retention
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

import portal.db


revision = '0011_personal_code'
down_revision = '0010_retention'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'personal_codes',
        sa.Column('citizen_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=255), nullable=False),
        sa.Column('set_at', portal.db.UTCDateTime(), nullable=False),
        sa.Column('reset_requested_at', portal.db.UTCDateTime(), nullable=True),
        sa.Column('reset_due_at', portal.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'],
                                name=op.f('fk_personal_codes_citizen_id_citizens'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('citizen_id', name=op.f('pk_personal_codes')),
    )


def downgrade() -> None:
    op.drop_table('personal_codes')
