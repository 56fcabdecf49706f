"""evaluation jobs: a job's kind, one running evaluation per version, its result

Revision ID: 0012_evaluation_jobs
Revises: 0011_personal_code
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0012_evaluation_jobs'
down_revision = '0011_personal_code'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('training_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=10), nullable=False,
                                      server_default='train'))
        batch_op.add_column(sa.Column('evaluation_slot', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('evaluation_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_training_jobs_evaluation_slot'),
                                          ['evaluation_slot'])
        batch_op.create_foreign_key(
            batch_op.f('fk_training_jobs_evaluation_id_model_evaluations'),
            'model_evaluations', ['evaluation_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('training_jobs', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_training_jobs_evaluation_id_model_evaluations'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_training_jobs_evaluation_slot'),
                                 type_='unique')
        batch_op.drop_column('evaluation_id')
        batch_op.drop_column('evaluation_slot')
        batch_op.drop_column('kind')
