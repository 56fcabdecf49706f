"""The citizen's inbox: dispatch, listing, reading, and the paper fallback."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import List, Optional

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.config import Settings
from portal.db import MAX_ID
from portal.errors import Conflict, InvalidInput, NotFound
from portal.identity import normalize_fnr
from portal.models import (
    UNREAD_STATUSES,
    Channel,
    Citizen,
    CitizenSession,
    SmsIdentity,
    Letter,
    LetterCategory,
    LetterStatus,
)
from portal.services.audit import Actor, record
from portal.workhours import add_working_hours


@dataclass(frozen=True)
class NewLetter:
    """What the case/archive system sends."""

    fnr: str
    sender_unit: str
    title: str
    body: str
    category: str
    external_id: Optional[str] = None


def print_deadline(settings: Settings, sent_at: datetime) -> datetime:
    return add_working_hours(
        sent_at, settings.print_deadline_working_hours, tz=settings.timezone,
        day_start=settings.workday_start_hour, day_end=settings.workday_end_hour,
    )


def _earlier(db: Session, letter: NewLetter, citizen: Citizen) -> Optional[Letter]:
    """The letter already filed under this sender and external id, if it is this citizen's."""
    earlier = db.execute(select(Letter).where(
        Letter.sender_unit == letter.sender_unit,
        Letter.external_id == letter.external_id,
    )).scalar_one_or_none()
    if earlier is not None and earlier.citizen_id != citizen.id:
        raise Conflict("That external id was used for another recipient.",
                       code="external_id_conflict")
    return earlier


def dispatch(db: Session, settings: Settings, letter: NewLetter, *, now: datetime,
             actor: Actor) -> tuple[Letter, bool]:
    """Files a letter in the citizen's inbox. Returns (letter, created).

    A repeated dispatch with the same sender and external id returns the first letter.
    Citizens reserved against digital contact (KRR) get the letter on paper at once.
    """
    fnr = normalize_fnr(letter.fnr, allow_synthetic=settings.allow_synthetic_fnr)
    try:
        category = LetterCategory(letter.category)
    except ValueError:
        raise InvalidInput(f"Unknown category {letter.category!r}.", code="invalid_category")
    citizen = db.execute(select(Citizen).where(Citizen.fnr == fnr)).scalar_one_or_none()
    if citizen is None:
        raise NotFound("No citizen with that fødselsnummer.", code="citizen_not_found")
    if letter.external_id:
        earlier = _earlier(db, letter, citizen)
        if earlier is not None:
            return earlier, False
    row = Letter(
        citizen_id=citizen.id, sender_unit=letter.sender_unit, title=letter.title,
        body=letter.body, category=category, external_id=letter.external_id,
        status=LetterStatus.MOTTATT, sent_at=now,
        print_due_at=now if citizen.krr_reserved else print_deadline(settings, now),
    )
    try:
        with db.begin_nested():  # a concurrent dispatch of the same external id may win
            db.add(row)
            db.flush()
    except IntegrityError:
        earlier = _earlier(db, letter, citizen) if letter.external_id else None
        if earlier is None:
            raise
        return earlier, False
    record(db, actor, "letter.dispatch", at=now, citizen_id=citizen.id,
           object_type="letter", object_id=row.id)
    return row, True


_UNREAD_FIRST = case((Letter.read_at.is_(None), 0), else_=1)
_SUMMARY = (Letter.id, Letter.title, Letter.sender_unit, Letter.category, Letter.status,
            Letter.sent_at, Letter.read_at.is_(None).label("is_unread"))


def _summaries(unread_only: bool):
    """The inbox page and the unread count in one statement, built once per kind."""
    unread_count = (select(func.count()).select_from(Letter)
                    .where(Letter.citizen_id == bindparam("citizen_id"),
                           Letter.read_at.is_(None)).scalar_subquery())
    query = select(*_SUMMARY, unread_count.label("unread_count")).where(
        Letter.citizen_id == bindparam("citizen_id"))
    if unread_only:
        query = query.where(Letter.read_at.is_(None))
    return (query.order_by(_UNREAD_FIRST, Letter.sent_at.desc(), Letter.id.desc())
            .limit(bindparam("limit")))


_INBOX = {True: _summaries(True), False: _summaries(False)}


def list_letters(db: Session, citizen_id: int, *, actor: Actor, now: datetime,
                 unread_only: bool = False, limit: int = 20) -> tuple[List[dict], int]:
    """The citizen's letters (unread first, newest first, no bodies) and how many are unread."""
    rows = db.connection().execute(_INBOX[unread_only], {"citizen_id": citizen_id,
                                                         "limit": limit}).mappings().all()
    record(db, actor, "letter.list", at=now, citizen_id=citizen_id,
           detail={"count": len(rows), "unread_only": unread_only})
    return [dict(row) for row in rows], rows[0]["unread_count"] if rows else 0


def count_unread(db: Session, citizen_id: int) -> int:
    return db.execute(select(func.count()).select_from(Letter).where(
        Letter.citizen_id == citizen_id, Letter.read_at.is_(None))).scalar_one()


_OWN_LETTER = select(Letter).where(Letter.id == bindparam("letter_id"),
                                   Letter.citizen_id == bindparam("citizen_id"))


def read_letter(db: Session, citizen_id: int, letter_id: int, *, via: Channel, actor: Actor,
                now: datetime) -> Letter:
    """Opens a letter: the first digital read before printing marks it LEST and cancels print."""
    if not 0 < letter_id <= MAX_ID:
        raise NotFound("No such letter.", code="letter_not_found")
    letter = db.execute(_OWN_LETTER, {"letter_id": letter_id, "citizen_id": citizen_id}
                        ).scalar_one_or_none()
    if letter is None:
        raise NotFound("No such letter.", code="letter_not_found")
    if letter.read_at is None:
        # Conditional updates: a concurrent read or print run cannot both win.
        db.execute(
            update(Letter).where(Letter.id == letter.id, Letter.read_at.is_(None))
            .values(read_at=now, read_via=via).execution_options(synchronize_session=False)
        )
        db.execute(
            update(Letter).where(Letter.id == letter.id, Letter.status.in_(UNREAD_STATUSES))
            .values(status=LetterStatus.LEST).execution_options(synchronize_session=False)
        )
        db.refresh(letter)
    letter.first_read = letter.read_at == now  # this request opened it
    record(db, actor, "letter.read", at=now, citizen_id=citizen_id,
           object_type="letter", object_id=letter.id, detail={"via": via.value})
    return letter


def mark_notified(db: Session, letter_ids: List[int], *, now: datetime) -> None:
    """MOTTATT → VARSLET once a notice has gone out."""
    db.execute(
        update(Letter)
        .where(Letter.id.in_(letter_ids), Letter.status == LetterStatus.MOTTATT)
        .values(status=LetterStatus.VARSLET, notified_at=now)
        .execution_options(synchronize_session=False)
    )


def send_due_to_print(db: Session, *, now: datetime) -> List[int]:
    """Moves unread letters past their print deadline to SENDT_PRINT; returns their ids."""
    due = db.execute(select(Letter.id, Letter.citizen_id).where(
        Letter.status.in_(UNREAD_STATUSES), Letter.read_at.is_(None),
        Letter.print_due_at <= now,
    ).with_for_update(skip_locked=True)).all()
    ids = [row.id for row in due]
    if not ids:
        return []
    db.execute(
        update(Letter)
        .where(Letter.id.in_(ids), Letter.status.in_(UNREAD_STATUSES),
               Letter.read_at.is_(None))
        .values(status=LetterStatus.SENDT_PRINT, sent_to_print_at=now)
        .execution_options(synchronize_session=False)
    )
    actor = Actor.system("print-due")
    for row in due:
        record(db, actor, "letter.send_to_print", at=now, citizen_id=row.citizen_id,
               object_type="letter", object_id=row.id)
    return ids


def noticed_letters(db: Session, session: CitizenSession, *, actor: Actor,
                    now: datetime) -> List[Letter]:
    """The citizen's letters that the last SMS notice to this SMS conversation named."""
    if session.channel != Channel.SMS:
        return []
    identity = db.get(SmsIdentity, session.conversation_id)
    ids = (identity.notice_letter_ids or []) if identity else []
    if not ids:
        return []
    rows = db.execute(select(Letter).where(Letter.id.in_(ids),
                                           Letter.citizen_id == session.citizen_id)).scalars()
    order = {letter_id: n for n, letter_id in enumerate(ids)}
    found = sorted(rows, key=lambda letter: order[letter.id])
    record(db, actor, "letter.list", at=now, citizen_id=session.citizen_id,
           detail={"count": len(found), "noticed": True})
    return found
