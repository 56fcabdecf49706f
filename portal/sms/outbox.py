"""The durable SMS outbox: every SMS is written here before anything tries to send it.

Sensitive bodies (one-time codes) are kept sealed (portal/sealing.py, OUTBOX_KEY) and only
opened to send them or to show them in the demo outbox; they carry an expiry after which they
are never sent.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import List, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import correlation, sealing
from portal.models import OutboundSms

DEV_OUTBOX = "dev_outbox"  # no SMS provider configured: kept for a person running the demo
PENDING = "pending"
EXPIRED = "expired"  # a one-time code whose time ran out before it could be sent


def seal(key: str, body: str) -> str:
    return sealing.seal(key, body, "OUTBOX_KEY")


def open_body(key: str, stored: str) -> str:
    """The text to send for a stored body (sealed or not)."""
    return sealing.open_sealed(key, stored, "OUTBOX_KEY")


def enqueue(db: Session, *, to: str, body: str, purpose: str, now: datetime,
            citizen_id: Optional[int] = None, sensitive: bool = False,
            deliver: bool = True, sender_key: Optional[str] = None,
            segments: Optional[int] = None, key: Optional[str] = None,
            expires_at: Optional[datetime] = None) -> OutboundSms:
    """Adds an SMS in the caller's transaction; `deliver=False` keeps it in the dev outbox.

    `sensitive` bodies are sealed with `key` (the OUTBOX_KEY); `expires_at`: never sent after.
    """
    row = OutboundSms(
        to_number=to, body=seal(key, body) if sensitive else body, purpose=purpose,
        sensitive=sensitive, citizen_id=citizen_id,
        status=PENDING if deliver else DEV_OUTBOX, attempts=0, created_at=now,
        next_attempt_at=now, updated_at=now, sender_key=sender_key, segments=segments,
        expires_at=expires_at, correlation_id=correlation.current(),
    )
    db.add(row)
    db.flush()
    return row


@dataclass(frozen=True)
class DevSms:
    """A dev outbox entry as shown to the person running the demo (bodies opened)."""

    id: int
    to_number: str
    body: str
    purpose: str
    created_at: datetime


def dev_messages(db: Session, key: str, *, to: Optional[str] = None,
                 limit: int = 50) -> List[DevSms]:
    query = select(OutboundSms).where(OutboundSms.status == DEV_OUTBOX)
    if to:
        query = query.where(OutboundSms.to_number == to)
    rows = db.execute(query.order_by(OutboundSms.id.desc()).limit(limit)).scalars()
    return [DevSms(row.id, row.to_number, open_body(key, row.body), row.purpose, row.created_at)
            for row in rows]
