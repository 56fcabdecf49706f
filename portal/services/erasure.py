"""A citizen deletes their own conversation ("slett samtalen min"): its content is erased
everywhere the portal keeps it, its log lines are scrubbed, and its login ends. Rasa's tracker
erases itself in the same turn (channels/tracker_store.py). The audit keeps that it happened,
without content."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import List, Optional

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from portal import logfiles
from portal.config import Settings
from portal.conversation_ids import channel_of
from portal.conversations.service import find_conversation
from portal.errors import Conflict, InvalidInput
from portal.models import (ActorType, Channel, CitizenSession, Conversation, ConversationNote,
                           InboundSms, NluAnnotation, OutboundSms, SmsIdentity,
                           TranscriptMessage)
from portal.services.audit import Actor, record
from portal.services.retention import ERASED, IN_FLIGHT
from portal.services.sessions import end_session


MAX_KEY = 128  # conversations.sender_key


@dataclass(frozen=True)
class Erased:
    at: datetime
    messages: int
    log_files: int


def _conversation(db: Session, channel: Optional[str], key: Optional[str]
                  ) -> Optional[Conversation]:
    if not channel or not key or channel_of(key) != channel or "\x00" in key \
            or len(key) > MAX_KEY:
        raise InvalidInput("A conversation id of the named channel is required.",
                           code="invalid_conversation")
    return find_conversation(db, Channel(channel), key)


def _texts(db: Session, conversation: Conversation) -> List[str]:
    messages = select(TranscriptMessage.text).where(
        TranscriptMessage.conversation_id == conversation.id,
        TranscriptMessage.erased_at.is_(None))
    notes = select(ConversationNote.text).where(
        ConversationNote.conversation_id == conversation.id)
    return [*db.execute(messages).scalars(), *db.execute(notes).scalars()]


def _erase_rows(db: Session, conversation: Conversation, now: datetime) -> int:
    ids = select(TranscriptMessage.id).where(TranscriptMessage.conversation_id == conversation.id)
    db.execute(delete(NluAnnotation).where(NluAnnotation.message_id.in_(ids))
               .execution_options(synchronize_session=False))
    erased = db.execute(update(TranscriptMessage).where(
        TranscriptMessage.conversation_id == conversation.id,
        TranscriptMessage.erased_at.is_(None)).values(text=ERASED, erased_at=now)
        .execution_options(synchronize_session=False)).rowcount
    db.execute(update(ConversationNote).where(
        ConversationNote.conversation_id == conversation.id).values(text=ERASED)
        .execution_options(synchronize_session=False))
    db.execute(update(InboundSms).where(InboundSms.conversation_id == conversation.id)
               .values(body=ERASED).execution_options(synchronize_session=False))
    if conversation.channel == Channel.SMS:
        db.execute(update(OutboundSms).where(
            OutboundSms.sender_key == conversation.sender_key,
            OutboundSms.status.not_in(IN_FLIGHT)).values(body=ERASED)
            .execution_options(synchronize_session=False))
        db.execute(update(SmsIdentity).where(SmsIdentity.sender_key == conversation.sender_key)
                   .values(more_text=None, choices=None)
                   .execution_options(synchronize_session=False))
    conversation.erased_at = now
    return erased


def erase_conversation(db: Session, settings: Settings, channel: Optional[str],
                       key: Optional[str], now: datetime) -> Erased:
    """Erases the conversation `key` of `channel` at its citizen's request; commits. A held
    conversation is refused (409 conversation_on_hold) and nothing changes."""
    conversation = _conversation(db, channel, key)
    if conversation is not None and conversation.held_at is not None:
        raise Conflict("The municipality holds this conversation; it cannot be deleted now.",
                       code="conversation_on_hold")
    texts = _texts(db, conversation) if conversation is not None else []
    messages = _erase_rows(db, conversation, now) if conversation is not None else 0
    sessions = list(db.execute(select(CitizenSession).where(
        CitizenSession.channel == Channel(channel), CitizenSession.conversation_id == key,
        CitizenSession.ended_at.is_(None))).scalars())
    citizen_id = conversation.citizen_id if conversation is not None else None
    for row in sessions:
        end_session(db, row, now=now, reason="erased")
        citizen_id = citizen_id or row.citizen_id
    actor = (Actor.citizen(citizen_id, channel) if citizen_id
             else Actor(ActorType.CITIZEN, "anonymous", channel))
    record(db, actor, "conversation.erase", at=now, citizen_id=citizen_id,
           object_type="conversation", object_id=conversation.id if conversation else None,
           detail={"messages": messages, "sessions_ended": len(sessions)})
    db.commit()
    return Erased(now, messages, logfiles.scrub(settings.var_dir / "logs", texts))
