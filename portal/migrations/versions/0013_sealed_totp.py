"""staff TOTP secrets sealed at rest: room for the sealed form

Revision ID: 0013_sealed_totp
Revises: 0012_evaluation_jobs
Create Date: 2026-12-02

Secrets enrolled before this are plain; the portal seals each at its member's next login
(portal/staff/totp.py), and `assistant staff reseal-totp` seals them all at once.
"""
from alembic import op
import sqlalchemy as sa


revision = '0013_sealed_totp'
down_revision = '0012_evaluation_jobs'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_members', schema=None) as batch_op:
        batch_op.alter_column('totp_secret', existing_type=sa.String(length=64),
                              type_=sa.String(length=255), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('staff_members', schema=None) as batch_op:
        batch_op.alter_column('totp_secret', existing_type=sa.String(length=255),
                              type_=sa.String(length=64), existing_nullable=True)
