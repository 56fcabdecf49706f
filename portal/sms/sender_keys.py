"""SMS conversation keys: a keyed hash of the phone number, so Rasa never sees the number."""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.models import SmsIdentity


def sender_key(identity_key: str, phone: str) -> str:
    digest = hmac.new(identity_key.encode(), b"sms\x1f" + phone.encode(), hashlib.sha256)
    return "sms-" + digest.hexdigest()[:40]


def ensure_identity(db: Session, identity_key: str, phone: str, now: datetime) -> SmsIdentity:
    """The identity row of a phone number, created on first contact."""
    key = sender_key(identity_key, phone)
    row = db.get(SmsIdentity, key)
    if row is None:
        try:
            with db.begin_nested():
                row = SmsIdentity(sender_key=key, phone=phone, created_at=now)
                db.add(row)
        except IntegrityError:  # created concurrently
            row = db.get(SmsIdentity, key)
    return row


def identity_of_phone(db: Session, phone: str) -> Optional[SmsIdentity]:
    return db.execute(select(SmsIdentity).where(SmsIdentity.phone == phone)).scalar_one_or_none()


def is_opted_out(db: Session, phone: str) -> bool:
    row = identity_of_phone(db, phone)
    return row is not None and row.opted_out_at is not None
