"""Proactive SMS notices when a letter arrives ("Du har fått brev ... Svar LES").

Not to citizens reserved in KRR, not to opted-out numbers, not between 21:00 and 08:00
(held until 08:00; SMS_QUIET_HOURS), and at most one notice per citizen per hour: letters arriving in
between are summed up in the next notice.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import List, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.config import Settings
from portal.models import Citizen, Letter, SmsNotice
from portal.services.audit import Actor, record
from portal.services.letters import mark_notified
from portal.texts import sms as texts
from portal.conversations.sms_inbox import queue_reply
from portal.sms.sender_keys import ensure_identity, is_opted_out

MIN_GAP = timedelta(hours=1)


def outside_quiet_hours(moment: datetime, settings: Settings) -> datetime:
    """The moment itself, or the end of the quiet hours (08:00) when it falls inside them."""
    if settings.sms_quiet_hours is None:
        return moment
    quiet_from, quiet_until = (time(hour) for hour in settings.sms_quiet_hours)
    zone = ZoneInfo(settings.timezone)
    local = moment.astimezone(zone)
    if quiet_until <= local.time() < quiet_from:
        return moment
    day = local.date() if local.time() < quiet_until else local.date() + timedelta(days=1)
    return datetime.combine(day, quiet_until, zone).astimezone(moment.tzinfo)


def _reachable(db: Session, citizen: Citizen) -> bool:
    return (not citizen.krr_reserved and citizen.mobile is not None
            and not is_opted_out(db, citizen.mobile))


def _add_to_pending(db: Session, citizen_id: int, letter_id: int) -> Optional[SmsNotice]:
    """Adds the letter to the citizen's pending notice, if there is one (locked while it does)."""
    pending = db.execute(select(SmsNotice).where(
        SmsNotice.citizen_id == citizen_id, SmsNotice.status == "pending")
        .with_for_update()).scalar_one_or_none()
    if pending is None:
        return None
    if letter_id not in pending.letter_ids:
        pending.letter_ids = [*pending.letter_ids, letter_id]
    db.commit()
    return pending


def schedule(db: Session, settings: Settings, letter: Letter, *,
             now: datetime) -> Optional[SmsNotice]:
    """Plans a notice for a newly dispatched letter, or adds it to one already planned."""
    citizen = db.get(Citizen, letter.citizen_id)
    if not _reachable(db, citizen):
        return None
    pending = _add_to_pending(db, citizen.id, letter.id)
    if pending is not None:
        return pending
    last_sent = db.execute(select(SmsNotice.sent_at).where(
        SmsNotice.citizen_id == citizen.id, SmsNotice.status == "sent")
        .order_by(SmsNotice.sent_at.desc()).limit(1)).scalar_one_or_none()
    due = max(now, last_sent + MIN_GAP) if last_sent else now
    notice = SmsNotice(citizen_id=citizen.id, letter_ids=[letter.id], created_at=now,
                       due_at=outside_quiet_hours(due, settings), status="pending")
    try:
        with db.begin_nested():  # one pending notice per citizen (a partial unique index)
            db.add(notice)
            db.flush()
    except IntegrityError:  # a concurrent letter planned it first: join that notice
        pending = _add_to_pending(db, citizen.id, letter.id)
        if pending is None:
            raise
        return pending
    db.commit()
    return notice


def _text(settings: Settings, citizen: Citizen, letters: List[Letter]) -> str:
    language = citizen.language.value
    newest = max(letters, key=lambda letter: letter.sent_at)
    template = texts.NOTICE_ONE if len(letters) == 1 else texts.NOTICE_MANY
    return template[language].format(municipality=settings.municipality_name,
                                     title=newest.title, count=len(letters))


def send_due(db: Session, settings: Settings, *, now: datetime) -> int:
    """Turns due notices into SMS in the outbox; returns how many were sent."""
    sent = 0
    due = db.execute(select(SmsNotice).where(SmsNotice.status == "pending",
                                             SmsNotice.due_at <= now)
                     .order_by(SmsNotice.due_at).with_for_update(skip_locked=True)).scalars()
    for notice in list(due):
        citizen = db.get(Citizen, notice.citizen_id)
        letters = list(db.execute(select(Letter).where(
            Letter.id.in_(notice.letter_ids), Letter.read_at.is_(None))).scalars())
        if not letters or not _reachable(db, citizen):
            notice.status = "skipped"
            db.commit()
            continue
        identity = ensure_identity(db, settings.identity_key, citizen.mobile, now)
        identity.notice_letter_ids = [letter.id for letter in
                                      sorted(letters, key=lambda l: l.sent_at, reverse=True)]
        row = queue_reply(db, settings, identity.sender_key, _text(settings, citizen, letters),
                          now=now, language=citizen.language.value, purpose="notice")
        mark_notified(db, [letter.id for letter in letters], now=now)
        notice.status, notice.sent_at = "sent", now
        notice.outbound_sms_id = row.id if row is not None else None
        record(db, Actor.system("sms-notice"), "letter.notice", at=now, citizen_id=citizen.id,
               object_type="sms_notice", object_id=notice.id,
               detail={"letters": notice.letter_ids})
        db.commit()
        sent += 1
    return sent
