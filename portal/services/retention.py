"""Retention: the content of conversations older than CONVERSATION_RETENTION_DAYS is erased
everywhere it lives (transcripts, staff notes, inbound SMS, the outbox, Rasa's trackers, log
files), unless a caseworker holds the conversation; a citizen's unsent draft to the
municipality goes after DRAFT_DAYS. Rows, predictions, statuses and the audit
trail stay, so the figures and the workspace keep working."""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Dict, List, Optional

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal import logfiles
from portal.config import Settings
from portal.errors import Conflict, Forbidden, InvalidInput
from portal.models import (ActorType, Conversation, ConversationNote, InboundSms, OutboundSms,
                           SmsIdentity, StaffMember, TranscriptMessage)
from portal.services import cases
from portal.services.audit import Actor, record
from portal.staff import accounts
from portal.tracker_db import TrackerDb

ERASED = ""  # what an erased text becomes (the column is NOT NULL)
DRAFT_DAYS = 1  # a message to the municipality neither sent nor refused
IN_FLIGHT = ("pending", "sending")  # outbox rows whose body is still to be sent
MAX_REASON = 500
SYSTEM = Actor(ActorType.SYSTEM, "retention", "system")


@dataclass
class Purged:
    """What one purge erased: texts per place, tracker events and log files."""

    messages: int = 0
    notes: int = 0
    inbound_sms: int = 0
    outbound_sms: int = 0
    sms_state: int = 0
    drafts: int = 0
    tracker_events: int = 0
    log_files: int = 0

    def as_dict(self) -> Dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def summary(self) -> str:
        return ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in self.as_dict().items())


def cutoff(settings: Settings, now: datetime) -> datetime:
    return now - timedelta(days=settings.conversation_retention_days)


def _held():
    return select(Conversation.id).where(Conversation.held_at.is_not(None))


def _held_keys(db: Session) -> List[str]:
    return list(db.execute(select(Conversation.sender_key)
                           .where(Conversation.held_at.is_not(None))).scalars())


def _count(db: Session, statement) -> int:
    return db.execute(statement.execution_options(synchronize_session=False)).rowcount or 0


def purge(db: Session, settings: Settings, now: datetime, *,
          tracker: Optional[TrackerDb] = None) -> Purged:
    """Erases content older than the retention period; commits. Held conversations stay."""
    before = cutoff(settings, now)
    held, held_keys = _held(), _held_keys(db)
    done = Purged()
    done.messages = _count(db, update(TranscriptMessage).where(
        TranscriptMessage.at < before, TranscriptMessage.erased_at.is_(None),
        TranscriptMessage.conversation_id.not_in(held)).values(text=ERASED, erased_at=now))
    done.notes = _count(db, update(ConversationNote).where(
        ConversationNote.at < before, ConversationNote.text != ERASED,
        ConversationNote.conversation_id.not_in(held)).values(text=ERASED))
    done.inbound_sms = _count(db, update(InboundSms).where(
        InboundSms.received_at < before, InboundSms.body != ERASED,
        InboundSms.sender_key.not_in(held_keys)).values(body=ERASED))
    done.outbound_sms = _count(db, update(OutboundSms).where(
        OutboundSms.created_at < before, OutboundSms.body != ERASED,
        OutboundSms.status.not_in(IN_FLIGHT),
        (OutboundSms.sender_key.is_(None)) | OutboundSms.sender_key.not_in(held_keys))
        .values(body=ERASED))
    done.sms_state = _count(db, update(SmsIdentity).where(
        SmsIdentity.last_inbound_at < before, SmsIdentity.sender_key.not_in(held_keys),
        (SmsIdentity.more_text.is_not(None)) | (SmsIdentity.choices.is_not(None)))
        .values(more_text=None, choices=None))
    done.drafts = cases.purge_drafts(db, now - timedelta(days=DRAFT_DAYS))
    db.commit()
    own = tracker is None
    tracker = tracker or TrackerDb(settings.tracker_url)
    try:
        done.tracker_events = tracker.purge_before(before, held_keys)
    finally:
        if own:
            tracker.close()
    done.log_files = logfiles.purge_old(settings.var_dir / "logs", before)
    record(db, SYSTEM, "retention.purge", at=now, object_type="conversation",
           detail={"before": before.isoformat(), "held": len(held_keys), **done.as_dict()})
    db.commit()
    return done


# --- holds -------------------------------------------------------------------------------------

def hold(db: Session, conversation: Conversation, member: StaffMember, reason: str,
         now: datetime) -> None:
    """A caseworker keeps the conversation's content from the purge, with a reason."""
    reason = " ".join(reason.split()) if isinstance(reason, str) else ""
    if not reason:
        raise InvalidInput("A hold needs a reason.", code="empty_reason")
    if "\x00" in reason:
        raise InvalidInput("A reason cannot contain NUL characters.", code="invalid_reason")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"A reason has at most {MAX_REASON} characters.",
                           code="reason_too_long")
    if conversation.held_at is not None:
        raise Conflict("The conversation is held already.", code="already_held")
    if conversation.erased_at is not None:
        raise Conflict("The citizen deleted this conversation.", code="conversation_erased")
    conversation.held_at, conversation.held_by, conversation.hold_reason = now, member.id, reason
    record(db, accounts.actor(member), "conversation.hold", at=now,
           citizen_id=conversation.citizen_id, object_type="conversation",
           object_id=conversation.id)


def lift_hold(db: Session, conversation: Conversation, member: StaffMember,
              now: datetime) -> None:
    """Ends the hold: the one who placed it, or an admin. The next purge erases as usual."""
    if conversation.held_at is None:
        raise Conflict("The conversation is not held.", code="not_held")
    if conversation.held_by != member.id and not member.is_admin:
        raise Forbidden("Only the caseworker who placed the hold, or an admin, lifts it.",
                        code="not_holder")
    held_since = conversation.held_at
    conversation.held_at = conversation.held_by = conversation.hold_reason = None
    record(db, accounts.actor(member), "conversation.lift_hold", at=now,
           citizen_id=conversation.citizen_id, object_type="conversation",
           object_id=conversation.id, detail={"held_since": held_since.isoformat()})


# --- once a day ----------------------------------------------------------------------------------

class DailyPurge:
    """Runs the purge when a day has passed since the last run (`assistant up`'s SMS worker
    calls `maybe_run` on every loop); the first run is at start."""

    def __init__(self, every: timedelta = timedelta(days=1)):
        self.every = every
        self.last: Optional[datetime] = None

    def due(self, now: datetime) -> bool:
        return self.last is None or now - self.last >= self.every

    def maybe_run(self, context) -> Optional[Purged]:
        now = context.clock.now()
        if not self.due(now):
            return None
        self.last = now
        with context.sessions() as db:
            return purge(db, context.settings, now)
