"""The durable SMS outbox: every SMS is written here before anything tries to send it."""
from __future__ import annotations

from datetime import datetime
from typing import List, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import OutboundSms

DEV_OUTBOX = "dev_outbox"  # no SMS provider configured: kept for a person running the demo
PENDING = "pending"


def enqueue(db: Session, *, to: str, body: str, purpose: str, now: datetime,
            citizen_id: Optional[int] = None, sensitive: bool = False,
            deliver: bool = True, sender_key: Optional[str] = None,
            segments: Optional[int] = None) -> OutboundSms:
    """Adds an SMS in the caller's transaction; `deliver=False` keeps it in the dev outbox."""
    row = OutboundSms(
        to_number=to, body=body, purpose=purpose, sensitive=sensitive, citizen_id=citizen_id,
        status=PENDING if deliver else DEV_OUTBOX, attempts=0, created_at=now,
        next_attempt_at=now, updated_at=now, sender_key=sender_key, segments=segments,
    )
    db.add(row)
    db.flush()
    return row


def dev_messages(db: Session, *, to: Optional[str] = None, limit: int = 50) -> List[OutboundSms]:
    query = select(OutboundSms).where(OutboundSms.status == DEV_OUTBOX)
    if to:
        query = query.where(OutboundSms.to_number == to)
    return list(db.execute(query.order_by(OutboundSms.id.desc()).limit(limit)).scalars())
