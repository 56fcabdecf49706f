"""Citizens writing to the municipality ("Skriv til kommunen") and caseworkers answering.

A case body is the citizen's own message to the municipality and is stored as written; the
transcript keeps only a redacted copy. The bot files it as a draft first, restates it and sends
it on the citizen's JA (a NEI deletes the draft): the bot's own store keeps only redacted text,
so the words the citizen confirms live here, not in a slot. The answer reaches the citizen's
inbox as a letter (letters.dispatch: SvarUt lifecycle, print when unread) and is announced with
the usual SMS notice (LetterNotifier.letter_dispatched) once committed: answer_and_notify does
both.
"""
from __future__ import annotations

from datetime import datetime
from typing import List, Optional

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from portal.config import Settings
from portal.conversations.service import find_conversation
from portal.db import MAX_ID
from portal.errors import Conflict, InvalidInput, NotFound
from portal.models import (
    ActorType,
    Channel,
    Citizen,
    CitizenCase,
    HandoffRequest,
    Letter,
    LetterCategory,
)
from portal.notifications import LetterNotifier
from portal.services import letters
from portal.services.audit import Actor, record

MAX_BODY = 1500  # characters: a long SMS (10 segments) still fits
DRAFT, OPEN, ANSWERED = "draft", "open", "answered"
QUEUED = (OPEN, ANSWERED)  # what staff see; a draft is the citizen's until sent
ANSWER_TITLE = {"nb": "Svar på henvendelsen din", "nn": "Svar på førespurnaden din",
                "en": "Reply to your message"}


def staff_actor(staff_id: int, channel: str = "staff-api") -> Actor:
    return Actor(ActorType.CASEWORKER, f"staff:{staff_id}", channel)


def _checked_text(text: Optional[str], *, what: str = "message") -> str:
    body = (text or "").strip()
    if not body:
        raise InvalidInput(f"The {what} is empty.", code="empty_message")
    if len(body) > MAX_BODY:
        raise InvalidInput(f"The {what} is longer than {MAX_BODY} characters.",
                           code="message_too_long", details={"max_length": MAX_BODY})
    if "\x00" in body:
        raise InvalidInput(f"The {what} contains a NUL character.", code="invalid_text")
    return body


def _owned(db: Session, model, row_id: int, citizen_id: int, what: str):
    """The citizen's own row of `model`; NotFound (`<what>_not_found`) for any other id."""
    row = None
    if 0 < row_id <= MAX_ID:
        row = db.execute(select(model).where(
            model.id == row_id, model.citizen_id == citizen_id)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No such {what}.", code=f"{what}_not_found")
    return row


def _own_letter(db: Session, citizen_id: int, letter_id: Optional[int]) -> Optional[Letter]:
    return None if letter_id is None else _owned(db, Letter, letter_id, citizen_id, "letter")


def write_case(db: Session, *, citizen_id: int, channel: Channel, conversation_key: str,
               text: str, reply_to_letter_id: Optional[int], now: datetime,
               actor: Actor, draft: bool = False) -> CitizenCase:
    """Files the citizen's message in the caseworker queue (or as the citizen's draft), linked
    to its conversation and to the conversation's open handoff request (a message taken
    outside opening hours)."""
    body = _checked_text(text)
    letter = _own_letter(db, citizen_id, reply_to_letter_id)
    conversation = find_conversation(db, channel, conversation_key)
    handoff = db.execute(select(HandoffRequest.id).where(
        HandoffRequest.channel == channel, HandoffRequest.conversation_id == conversation_key,
        HandoffRequest.status == "open")).scalar_one_or_none()
    row = CitizenCase(citizen_id=citizen_id, channel=channel,
                      conversation_id=conversation.id if conversation else None,
                      reply_to_letter_id=letter.id if letter else None,
                      handoff_request_id=handoff, body=body, created_at=now,
                      status=DRAFT if draft else OPEN)
    db.add(row)
    db.flush()
    record(db, actor, "case.draft" if draft else "case.write", at=now, citizen_id=citizen_id, object_type="citizen_case",
           object_id=row.id, detail={"reply_to_letter_id": row.reply_to_letter_id,
                                     "length": len(body)})
    return row


def _audited_read(db: Session, actor: Actor, row: CitizenCase, now: datetime) -> None:
    record(db, actor, "case.read", at=now, citizen_id=row.citizen_id,
           object_type="citizen_case", object_id=row.id)


def list_cases(db: Session, *, actor: Actor, now: datetime, status: Optional[str] = OPEN,
               limit: int = 50, offset: int = 0,
               newest_first: bool = False) -> List[CitizenCase]:
    """The queue's cases, oldest first (or newest); every case shown is an audited read. A
    citizen's draft is never shown."""
    query = select(CitizenCase).where(
        CitizenCase.status == status if status else CitizenCase.status.in_(QUEUED))
    order = ((CitizenCase.created_at.desc(), CitizenCase.id.desc()) if newest_first
             else (CitizenCase.created_at, CitizenCase.id))
    rows = list(db.execute(query.order_by(*order).limit(limit).offset(offset)).scalars())
    for row in rows:
        _audited_read(db, actor, row, now)
    return rows


def _own_draft(db: Session, citizen_id: int, case_id: int) -> CitizenCase:
    case = _owned(db, CitizenCase, case_id, citizen_id, "case")
    if case.status != DRAFT:
        raise Conflict("The message is sent already.", code="case_sent")
    return case


def send_draft(db: Session, *, citizen_id: int, case_id: int, now: datetime,
               actor: Actor) -> CitizenCase:
    """The citizen's JA: the draft joins the queue, its waiting time counted from now."""
    case = _own_draft(db, citizen_id, case_id)
    sent = db.execute(
        update(CitizenCase).where(CitizenCase.id == case.id, CitizenCase.status == DRAFT)
        .values(status=OPEN, created_at=now).execution_options(synchronize_session=False))
    if not sent.rowcount:  # a second JA racing the first
        raise Conflict("The message is sent already.", code="case_sent")
    db.refresh(case)
    record(db, actor, "case.write", at=now, citizen_id=citizen_id, object_type="citizen_case",
           object_id=case.id, detail={"reply_to_letter_id": case.reply_to_letter_id,
                                      "length": len(case.body)})
    return case


def discard_draft(db: Session, *, citizen_id: int, case_id: int, now: datetime,
                  actor: Actor) -> None:
    """The citizen's NEI: the draft and its words are deleted; nothing was sent."""
    case = _own_draft(db, citizen_id, case_id)
    db.delete(case)
    record(db, actor, "case.discard", at=now, citizen_id=citizen_id,
           object_type="citizen_case", object_id=case_id)


def purge_drafts(db: Session, before: datetime) -> int:
    """Drafts never confirmed or refused, left before `before`, are deleted."""
    return db.execute(delete(CitizenCase).where(
        CitizenCase.status == DRAFT, CitizenCase.created_at < before)
        .execution_options(synchronize_session=False)).rowcount or 0


def count_cases(db: Session, status: str = OPEN) -> int:
    """How many cases wait for an answer (or have another status of the queue)."""
    return db.execute(select(func.count()).select_from(CitizenCase)
                      .where(CitizenCase.status == status)).scalar_one()


def _case(db: Session, case_id: int) -> CitizenCase:
    """A case in the staff queue; a citizen's draft is nobody else's to see."""
    case = db.get(CitizenCase, case_id) if 0 < case_id <= MAX_ID else None
    if case is None or case.status == DRAFT:
        raise NotFound("No such case.", code="case_not_found")
    return case


def read_case(db: Session, case_id: int, *, actor: Actor, now: datetime) -> CitizenCase:
    """One case for a caseworker; the read is audited."""
    case = _case(db, case_id)
    _audited_read(db, actor, case, now)
    return case


def answer_case(db: Session, settings: Settings, case_id: int, *, staff_id: int, text: str,
                now: datetime, actor: Optional[Actor] = None) -> tuple[CitizenCase, Letter]:
    """A caseworker's answer: the case is closed once and the answer filed as a letter.

    The caller commits, then calls LetterNotifier.letter_dispatched(letter) for the SMS notice
    (answer_and_notify).
    """
    body = _checked_text(text, what="answer")
    actor = actor or staff_actor(staff_id)
    case = _case(db, case_id)
    # Conditional: two caseworkers answering at once cannot both send a letter.
    claimed = db.execute(
        update(CitizenCase).where(CitizenCase.id == case.id, CitizenCase.status == OPEN)
        .values(status=ANSWERED, answered_at=now, answered_by=staff_id)
        .execution_options(synchronize_session=False)).rowcount
    if not claimed:
        raise Conflict("The case is answered already.", code="case_answered")
    citizen = db.get(Citizen, case.citizen_id)
    language = citizen.language.value
    title = ANSWER_TITLE.get(language, ANSWER_TITLE["nb"])
    if case.reply_to_letter_id:
        original = db.get(Letter, case.reply_to_letter_id)
        if original is not None:
            title = f"{title}: {original.title}"[:300]
    letter, _ = letters.dispatch(
        db, settings, letters.NewLetter(
            fnr=citizen.fnr, sender_unit=settings.municipality_name, title=title, body=body,
            category=LetterCategory.GENERELL.value, external_id=f"citizen-case-{case.id}"),
        now=now, actor=actor)
    db.execute(update(CitizenCase).where(CitizenCase.id == case.id)
               .values(answer_letter_id=letter.id).execution_options(synchronize_session=False))
    db.refresh(case)
    record(db, actor, "case.answer", at=now, citizen_id=case.citizen_id,
           object_type="citizen_case", object_id=case.id, detail={"letter_id": letter.id})
    return case, letter


def answer_and_notify(db: Session, settings: Settings, notifier: LetterNotifier, case_id: int,
                      *, staff_id: int, text: str, now: datetime,
                      actor: Optional[Actor] = None) -> tuple[CitizenCase, Letter]:
    """answer_case, committed, then the answer letter's SMS notice (letter_dispatched)."""
    case, letter = answer_case(db, settings, case_id, staff_id=staff_id, text=text, now=now,
                               actor=actor)
    db.commit()
    notifier.letter_dispatched(letter)
    return case, letter
