"""Personal codes (Din side's second factor for the SMS-code login): argon2 hashes, choosing and
changing a code, and the reset of a forgotten one.

The reset rule: asking for a reset sends an SMS to the registered mobile saying a reset was
asked for and takes effect after `personal_code_reset_hours` (24) unless the citizen answers
AVBRYT, or logs in with the code they still know, before then. Until it takes effect the old
code keeps working; once due, the next SMS-code login (personal code left out) lets the
citizen choose a new one. Someone holding only the phone can therefore not reset the code
without the citizen being told and given a day to stop it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.config import Settings
from portal.conversation_ids import channel_of
from portal.models import Channel, Citizen, Language, PersonalCode, SmsIdentity
from portal.services import personal_code_rules
from portal.services.audit import Actor, record
from portal.sms import outbox

# OWASP's smallest argon2id setting: a login does one verification, whoever the number is.
hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified when there is no code to compare with, so that every attempt costs the same.
_NO_CODE = hasher.hash("no personal code")

RESET_SMS = {
    Language.NB: "Noen har bedt om å nullstille den personlige koden din hos {municipality}. "
                 "Koden blir nullstilt {due}. Var det ikke deg? Svar AVBRYT på denne SMS-en, "
                 "eller logg inn med koden din før da.",
    Language.NN: "Nokon har bede om å nullstille den personlege koden din hos {municipality}. "
                 "Koden blir nullstilt {due}. Var det ikkje deg? Svar AVBRYT på denne SMS-en, "
                 "eller logg inn med koden din før då.",
    Language.EN: "Someone asked to reset your personal code at {municipality}. The code will "
                 "be reset {due}. Was it not you? Reply AVBRYT to this SMS, or log in with "
                 "your code before then.",
}
CANCELLED_SMS = {
    Language.NB: "Nullstillingen av den personlige koden din er avbrutt. Koden din gjelder "
                 "fortsatt. Hilsen {municipality}",
    Language.NN: "Nullstillinga av den personlege koden din er avbroten. Koden din gjeld "
                 "framleis. Helsing {municipality}",
    Language.EN: "The reset of your personal code has been cancelled. Your code still works. "
                 "{municipality}",
}


@dataclass(frozen=True)
class CodeState:
    """What a login of this citizen needs: `has_code` (a code to type), `reset_due` (a reset
    that has waited long enough), `reset_pending` (one still waiting)."""

    row: Optional[PersonalCode]
    now: datetime

    @property
    def reset_due(self) -> bool:
        return self.row is not None and self.row.reset_due_at is not None \
            and self.row.reset_due_at <= self.now

    @property
    def reset_pending(self) -> bool:
        return self.row is not None and self.row.reset_due_at is not None \
            and self.row.reset_due_at > self.now

    @property
    def has_code(self) -> bool:
        return self.row is not None and not self.reset_due


def state_of(db: Session, citizen_id: Optional[int], now: datetime) -> CodeState:
    """One query whether or not there is a citizen (unknown numbers cost the same)."""
    row = db.execute(select(PersonalCode).where(
        PersonalCode.citizen_id == (citizen_id if citizen_id is not None else -1))
    ).scalar_one_or_none()
    return CodeState(row, now)


def matches(state: CodeState, typed: Optional[str]) -> bool:
    """Whether `typed` opens this state: the code when there is one, nothing when there is
    none (first login, or a reset that is due). Always exactly one argon2 verification."""
    expected = state.row.code_hash if state.has_code else _NO_CODE
    try:
        right = hasher.verify(expected, typed or "")
    except (VerificationError, InvalidHashError):
        right = False
    return right if state.has_code else not typed


def set_code(db: Session, citizen: Citizen, code: object, *, actor: Actor,
             now: datetime) -> None:
    """Stores a new code (checked against the rules) and ends any pending reset; audited."""
    checked = personal_code_rules.check(code, citizen.fnr)
    row = db.get(PersonalCode, citizen.id)
    action = "personal_code.changed" if row is not None else "personal_code.set"
    if row is None:
        row = PersonalCode(citizen_id=citizen.id, set_at=now, code_hash="")
        db.add(row)
    row.code_hash, row.set_at = hasher.hash(checked), now
    row.reset_requested_at = row.reset_due_at = None
    record(db, actor, action, at=now, citizen_id=citizen.id, object_type="personal_code",
           object_id=citizen.id)


def apply_due_reset(db: Session, state: CodeState, *, actor: Actor, now: datetime) -> None:
    """A reset that has waited its time removes the old code; the citizen chooses a new one."""
    if state.reset_due:
        record(db, actor, "personal_code.reset_done", at=now, citizen_id=state.row.citizen_id,
               object_type="personal_code", object_id=state.row.citizen_id)
        db.delete(state.row)


def cancel_reset(db: Session, settings: Settings, row: PersonalCode, citizen: Citizen, *,
                 actor: Actor, reason: str, now: datetime) -> None:
    """Ends a pending reset: the old code stays; the citizen is told by SMS."""
    row.reset_requested_at = row.reset_due_at = None
    record(db, actor, "personal_code.reset_cancelled", at=now, citizen_id=citizen.id,
           object_type="personal_code", object_id=citizen.id, detail={"reason": reason})
    if citizen.mobile:
        body = CANCELLED_SMS[citizen.language].format(municipality=settings.municipality_name)
        outbox.enqueue(db, to=citizen.mobile, body=body, purpose="personal_code", now=now,
                       citizen_id=citizen.id, deliver=settings.twilio_configured)


def _local_due(settings: Settings, due: datetime, language: Language) -> str:
    """When the reset takes effect, in the municipality's time: 03.12.2026 kl. 11:00."""
    local = due.astimezone(ZoneInfo(settings.timezone))
    at = {Language.NB: "kl.", Language.NN: "kl.", Language.EN: "at"}[language]
    return f"{local:%d.%m.%Y} {at} {local:%H:%M}"


def request_reset(db: Session, settings: Settings, citizen: Optional[Citizen], *,
                  now: datetime) -> Optional[str]:
    """Starts the waiting period of a reset and tells the registered mobile; returns why
    nothing was started (for the audit row), or None."""
    state = state_of(db, citizen.id if citizen is not None else None, now)
    if citizen is None:
        return "unknown"
    if not state.has_code:
        return "no_code"
    if citizen.mobile is None:
        return "no_mobile"
    if state.reset_pending:
        return "already_pending"
    due = now + timedelta(hours=settings.personal_code_reset_hours)
    state.row.reset_requested_at, state.row.reset_due_at = now, due
    body = RESET_SMS[citizen.language].format(
        municipality=settings.municipality_name,
        due=_local_due(settings, due, citizen.language))
    outbox.enqueue(db, to=citizen.mobile, body=body, purpose="personal_code", now=now,
                   citizen_id=citizen.id, deliver=settings.twilio_configured)
    return None


def cancel_reset_by_phone(db: Session, settings: Settings, channel: Channel,
                          conversation_id: str, *, now: datetime) -> bool:
    """AVBRYT from the registered mobile's own SMS conversation cancels its pending resets."""
    if channel is not Channel.SMS or channel_of(conversation_id) != "sms":
        return False
    identity = db.get(SmsIdentity, conversation_id)  # an SMS conversation's id is its key
    if identity is None:
        return False
    rows = db.execute(select(PersonalCode, Citizen).join(
        Citizen, Citizen.id == PersonalCode.citizen_id).where(
        Citizen.mobile == identity.phone, PersonalCode.reset_due_at > now)).all()
    for row, citizen in rows:
        cancel_reset(db, settings, row, citizen, actor=Actor.citizen(citizen.id, "sms"),
                     reason="sms_reply", now=now)
    return bool(rows)
