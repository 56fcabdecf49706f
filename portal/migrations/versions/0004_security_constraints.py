"""one open handoff per conversation, one pending notice per citizen, SMS expiry

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
import portal.db


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _merge_duplicates() -> None:
    """Rows the old select-then-insert duplicated: keep the first, fold the rest into it."""
    bind = op.get_bind()
    duplicates = bind.execute(sa.text(
        "SELECT id, channel, conversation_id FROM handoff_requests WHERE status = 'open' "
        "ORDER BY id")).all()
    seen = set()
    for row_id, channel, conversation in duplicates:
        if (channel, conversation) in seen:
            bind.execute(sa.text("UPDATE handoff_requests SET status = 'closed', "
                                 "closed_at = requested_at WHERE id = :id"), {"id": row_id})
        seen.add((channel, conversation))
    notices = sa.table("sms_notices", sa.column("id", sa.Integer),
                       sa.column("citizen_id", sa.Integer), sa.column("letter_ids", sa.JSON),
                       sa.column("status", sa.String))
    first = {}
    for row in bind.execute(sa.select(notices).where(notices.c.status == "pending")
                            .order_by(notices.c.id)).all():
        if row.citizen_id not in first:
            first[row.citizen_id] = (row.id, list(row.letter_ids))
            continue
        keep_id, letters = first[row.citizen_id]
        letters.extend(i for i in row.letter_ids if i not in letters)
        bind.execute(notices.update().where(notices.c.id == keep_id).values(letter_ids=letters))
        bind.execute(notices.update().where(notices.c.id == row.id).values(status="skipped"))


def upgrade() -> None:
    _merge_duplicates()
    with op.batch_alter_table('handoff_requests', schema=None) as batch_op:
        batch_op.create_index('uq_handoff_requests_open_conversation',
                              ['channel', 'conversation_id'], unique=True,
                              sqlite_where=sa.text("status = 'open'"),
                              postgresql_where=sa.text("status = 'open'"))
    with op.batch_alter_table('sms_notices', schema=None) as batch_op:
        batch_op.create_index('uq_sms_notices_pending_citizen', ['citizen_id'], unique=True,
                              sqlite_where=sa.text("status = 'pending'"),
                              postgresql_where=sa.text("status = 'pending'"))
    with op.batch_alter_table('outbound_sms', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', portal.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbound_sms', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
    with op.batch_alter_table('sms_notices', schema=None) as batch_op:
        batch_op.drop_index('uq_sms_notices_pending_citizen')
    with op.batch_alter_table('handoff_requests', schema=None) as batch_op:
        batch_op.drop_index('uq_handoff_requests_open_conversation')
