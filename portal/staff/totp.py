"""Staff TOTP secrets: made at enrolment, sealed at rest with STAFF_TOTP_KEY (a database dump
alone cannot make codes), opened only to show the enrolment QR code or to check a code."""
from __future__ import annotations

import hmac
from datetime import datetime
from typing import Optional

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import sealing
from portal.models import StaffMember

SETTING = "STAFF_TOTP_KEY"
STEP = 30  # seconds of one TOTP code (RFC 6238)


def new_secret(key: str) -> str:
    """A fresh base32 secret, sealed for storing."""
    return sealing.seal(key, pyotp.random_base32(), SETTING)


def secret_of(member: StaffMember, key: str) -> Optional[str]:
    """The member's base32 secret in clear, or None before enrolment began."""
    if not member.totp_secret:
        return None
    return sealing.open_sealed(key, member.totp_secret, SETTING)


def matching_step(member: StaffMember, code: str, now: datetime, key: str) -> Optional[int]:
    """The time step (now, or one either side for clock drift) the code belongs to."""
    code = "".join(ch for ch in str(code or "") if ch.isdigit())
    secret = secret_of(member, key)
    if len(code) != 6 or not secret:
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.at(step * STEP), code):
            return step
    return None


def keep_sealed(member: StaffMember, key: str) -> None:
    """Seals the secret with the newest key (one stored in clear before sealing began, or
    under a key being rotated out); done at each login, in the caller's transaction."""
    if member.totp_secret:
        member.totp_secret = sealing.reseal(key, member.totp_secret, SETTING)


def reseal_all(db: Session, key: str) -> int:
    """Seals every member's secret with the newest key; how many there were. Commits."""
    members = db.execute(select(StaffMember).where(StaffMember.totp_secret.is_not(None)))
    count = 0
    for member in members.scalars():
        keep_sealed(member, key)
        count += 1
    db.commit()
    return count
