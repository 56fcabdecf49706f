"""The one conversation service: every channel records its messages and asks who answers here.

Functions take the caller's SQLAlchemy session and never commit (the caller decides what is
one transaction), except where a savepoint makes a concurrent duplicate harmless.
Text is redacted (portal.privacy: what citizens write also loses any 4-8 digit run, which may
be a personal code) before it is stored.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, Iterable, List, Optional

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import correlation
from portal.config import Settings
from portal.conversations.sms_inbox import queue_reply
from portal.errors import Conflict, Forbidden, InvalidInput
from portal.models import (ActorType, Channel, Conversation, InboundSms, OutboundSms,
                           TranscriptMessage)
from portal.privacy import QUOTES_CITIZEN, redact_citizen_text, redact_reply, redact_text
from portal.services.audit import Actor, record
from portal.sms.sender_keys import ensure_identity
from portal.text_input import storable
from portal.texts import conversation as texts
from portal.texts.language import detect

BOT, PERSON = "bot", "person"
IN, OUT = "in", "out"
CITIZEN, BOT_AUTHOR, CASEWORKER, SYSTEM = "citizen", "bot", "caseworker", "system"
DROPPED, PENDING, DELIVERED = "dropped", "pending", "delivered"
PREFIXES = {Channel.SMS: "sms-", Channel.WEBCHAT: "web-"}
MAX_TEXT = 4000


@dataclass(frozen=True)
class Recorded:
    """A recorded citizen message: whether this call stored it, and who answers it."""

    message: TranscriptMessage
    new: bool
    route: str


def route_of(conversation: Conversation) -> str:
    return BOT if conversation.owner_staff_id is None else PERSON


def owner_of(db: Session, conversation_id: int, *, lock: bool = False) -> Optional[int]:
    """The staff id owning the conversation as committed now (None: the bot)."""
    query = select(Conversation.owner_staff_id).where(Conversation.id == conversation_id)
    if lock:
        # FOR NO KEY UPDATE: enough against a concurrent take-over, and it does not wait for
        # (or deadlock with) rows being inserted that merely reference the conversation.
        query = query.with_for_update(key_share=True)
    return db.execute(query).scalar_one()


def lock_conversation(db: Session, conversation_id: int, now: datetime) -> None:
    """Row-locks the conversation (and moves its last message time) before anything else."""
    db.execute(update(Conversation).where(Conversation.id == conversation_id)
               .values(last_message_at=now).execution_options(synchronize_session=False))


def find_conversation(db: Session, channel: Channel, key: str) -> Optional[Conversation]:
    return db.execute(select(Conversation).where(
        Conversation.channel == channel, Conversation.sender_key == key)).scalar_one_or_none()


def open_conversation(db: Session, channel: Channel, key: str, now: datetime, *,
                      language: Optional[str] = None) -> Conversation:
    """The conversation of a channel's pseudonymous key, created on first contact."""
    channel = Channel(channel)
    prefix = PREFIXES.get(channel)
    if prefix and not key.startswith(prefix):
        raise InvalidInput(f"A {channel.value} conversation key starts with {prefix!r}.",
                           code="invalid_conversation_key")
    found = find_conversation(db, channel, key)
    if found is not None:
        return found
    try:
        with db.begin_nested():
            found = Conversation(channel=channel, sender_key=key, started_at=now,
                                 last_message_at=now, language=language)
            db.add(found)
    except IntegrityError:  # opened concurrently
        found = find_conversation(db, channel, key)
    return found


def link_citizen(db: Session, channel: Channel, key: str, citizen_id: int) -> None:
    """The conversation belongs to this citizen from their login on (if it is recorded)."""
    db.execute(update(Conversation).where(Conversation.channel == channel,
                                          Conversation.sender_key == key)
               .values(citizen_id=citizen_id).execution_options(synchronize_session=False))


def _external(db: Session, conversation: Conversation, external_id: str):
    return db.execute(select(TranscriptMessage).where(
        TranscriptMessage.conversation_id == conversation.id,
        TranscriptMessage.external_id == external_id)).scalar_one_or_none()


def record_citizen_message(db: Session, conversation: Conversation, text: str, now: datetime,
                           *, external_id: Optional[str] = None,
                           language: Optional[str] = None) -> Recorded:
    """Records what a citizen wrote, once per external id; says who answers it."""
    if external_id:
        existing = _external(db, conversation, external_id)
        if existing is not None:
            return Recorded(existing, False, route_of(conversation))
    message = TranscriptMessage(
        conversation_id=conversation.id, at=now, direction=IN, author=CITIZEN,
        text=redact_citizen_text(storable(text or "")[:MAX_TEXT]), external_id=external_id,
        language=language or conversation.language)
    try:
        with db.begin_nested():
            db.add(message)
    except IntegrityError:  # the same message recorded concurrently
        return Recorded(_external(db, conversation, external_id), False,
                        route_of(conversation))
    conversation.last_message_at = now
    if language:
        conversation.language = language
    return Recorded(message, True, route_of(conversation))


def record_prediction(db: Session, message_id: int, intent: Optional[str],
                      confidence: Optional[float], entity_names: Iterable[str]) -> None:
    """What NLU made of a citizen message: the intent, its confidence, entity NAMES only."""
    message = db.get(TranscriptMessage, message_id)
    if message is None or message.author != CITIZEN:
        raise InvalidInput("No citizen message with this id.", code="unknown_message")
    message.intent = (intent or None) and str(intent)[:60]
    message.confidence = None if confidence is None else round(float(confidence), 4)
    message.entities = sorted({str(name)[:60] for name in entity_names}) or None


def replies_to(db: Session, message_id: int) -> List[TranscriptMessage]:
    return list(db.execute(select(TranscriptMessage).where(
        TranscriptMessage.in_reply_to == message_id, TranscriptMessage.direction == OUT)
        .order_by(TranscriptMessage.id)).scalars())


def record_bot_replies(db: Session, conversation: Conversation, in_reply_to: Optional[int],
                       messages: List[Dict[str, Any]], now: datetime, *,
                       author: str = BOT_AUTHOR,
                       check_owner: bool = True) -> List[TranscriptMessage]:
    """Records the bot's replies to one citizen message, exactly once; returns those that may
    be sent. The owner is checked again (row locked on PostgreSQL): replies computed while a
    person took over are recorded as dropped and not returned. `check_owner=False` only for
    answers that must go out whoever owns the conversation (the STOPP confirmation)."""
    if in_reply_to is not None:
        earlier = replies_to(db, in_reply_to)
        if earlier:  # a retried turn: recorded already
            return [m for m in earlier if m.status != DROPPED]
    owner = owner_of(db, conversation.id, lock=True) if check_owner else None
    status = DROPPED if owner is not None else None
    recorded = []
    for reply in messages:
        text = reply.get("text") or ""
        buttons = reply.get("buttons") or []
        if buttons:
            text = "\n".join([text, *[f"[{b.get('title', '')}]" for b in buttons]]).strip()
        if not text:
            continue
        message = TranscriptMessage(
            conversation_id=conversation.id, at=now, direction=OUT, author=author,
            text=redact_reply(text[:MAX_TEXT], bool(reply.get(QUOTES_CITIZEN))),
            in_reply_to=in_reply_to,
            action=(reply.get("action") or None) and str(reply["action"])[:80],
            language=reply.get("language") or conversation.language, status=status)
        db.add(message)
        recorded.append(message)
    db.flush()
    conversation.last_message_at = now
    return [] if status == DROPPED else recorded


def attach_outbound(message: TranscriptMessage, row: Optional[OutboundSms]) -> None:
    """Links an SMS transcript message to its outbox row; its status follows the row."""
    if message.status == DROPPED:
        return
    message.outbound_sms_id = row.id if row is not None else None
    message.status = row.status if row is not None else "suppressed"


def follow_status(db: Session, outbound_sms_id: int, status: str) -> None:
    """Sets the delivery status of the transcript messages sent as this outbox row."""
    db.execute(update(TranscriptMessage)
               .where(TranscriptMessage.outbound_sms_id == outbound_sms_id,
                      TranscriptMessage.status != DROPPED)
               .values(status=status).execution_options(synchronize_session=False))


def follow_outbox(db: Session, provider_sid: str) -> None:
    """Copies the outbox row's delivery status (after a Twilio callback) onto the transcript."""
    row = db.execute(select(OutboundSms.id, OutboundSms.status)
                     .where(OutboundSms.provider_sid == provider_sid)).first()
    if row is not None:
        follow_status(db, row.id, row.status)


def _staff(staff_id: int, channel: str = "caseworker") -> Actor:
    return Actor(ActorType.CASEWORKER, f"staff:{staff_id}", channel)


def _tell_citizen(db: Session, settings: Settings, conversation: Conversation, text: str,
                  now: datetime, *, author: str, staff_id: Optional[int] = None,
                  staff_name: Optional[str] = None) -> TranscriptMessage:
    """Records an outgoing message of a person or the system and sends it over the citizen's
    own channel: SMS through the outbox; web chat picks up `pending` messages live."""
    message = TranscriptMessage(
        conversation_id=conversation.id, at=now, direction=OUT, author=author,
        text=redact_text(text[:MAX_TEXT]), language=conversation.language, staff_id=staff_id,
        staff_name=staff_name, status=PENDING)
    db.add(message)
    db.flush()
    if conversation.channel == Channel.SMS:

        row = queue_reply(db, settings, conversation.sender_key, text, now=now,
                          language=conversation.language or "nb", commit=False)
        attach_outbound(message, row)
    conversation.last_message_at = now
    return message


def announce(db: Session, settings: Settings, conversation: Conversation, text: str,
             now: datetime) -> TranscriptMessage:
    """A message of the municipality's system to the citizen, over their own channel."""
    return _tell_citizen(db, settings, conversation, text, now, author=SYSTEM)


def take_over(db: Session, settings: Settings, conversation: Conversation, staff_id: int,
              staff_first_name: str, now: datetime) -> TranscriptMessage:
    """A person takes the conversation from the bot; the citizen is told who answers now."""
    owner = owner_of(db, conversation.id, lock=True)
    db.refresh(conversation)
    if owner is not None and owner != staff_id:
        raise Conflict(f"{conversation.owner_name} already answers this conversation.",
                       code="owned_by_another")
    name = (staff_first_name or "").strip()[:100]
    if not name:
        raise InvalidInput("The first name to show the citizen is required.")
    conversation.owner_staff_id, conversation.owner_name = staff_id, name
    conversation.owner_since = now
    record(db, _staff(staff_id), "conversation.take_over", at=now,
           citizen_id=conversation.citizen_id, object_type="conversation",
           object_id=conversation.id)
    return _tell_citizen(db, settings, conversation, texts.pick(
        texts.PERSON_JOINED, conversation.language, name=name,
        municipality=settings.municipality_name), now, author=SYSTEM)


def _require_owner(db: Session, conversation: Conversation, staff_id: int) -> None:
    if owner_of(db, conversation.id, lock=True) != staff_id:
        raise Forbidden("Only the person who took over the conversation answers in it.",
                        code="not_owner")
    db.refresh(conversation)


def answer_as_person(db: Session, settings: Settings, conversation: Conversation,
                     staff_id: int, text: str, now: datetime) -> TranscriptMessage:
    """The owning person's reply, over the citizen's own channel."""
    _require_owner(db, conversation, staff_id)
    if not (text or "").strip():
        raise InvalidInput("The reply is empty.")
    record(db, _staff(staff_id), "conversation.answer", at=now,
           citizen_id=conversation.citizen_id, object_type="conversation",
           object_id=conversation.id)
    return _tell_citizen(db, settings, conversation, text.strip(), now, author=CASEWORKER,
                         staff_id=staff_id, staff_name=conversation.owner_name)


def hand_back(db: Session, settings: Settings, conversation: Conversation, staff_id: int,
              now: datetime) -> TranscriptMessage:
    """The person gives the conversation back to the bot."""
    _require_owner(db, conversation, staff_id)
    conversation.owner_staff_id = conversation.owner_name = conversation.owner_since = None
    record(db, _staff(staff_id), "conversation.hand_back", at=now,
           citizen_id=conversation.citizen_id, object_type="conversation",
           object_id=conversation.id)
    return _tell_citizen(db, settings, conversation, texts.pick(
        texts.PERSON_LEFT, conversation.language), now, author=SYSTEM)


def undelivered_live(db: Session, keys: Iterable[str]) -> List[TranscriptMessage]:
    """Person and system messages of web chat conversations not yet shown in the browser."""
    keys = list(keys)
    if not keys:
        return []
    return list(db.execute(
        select(TranscriptMessage).join(Conversation,
                                       Conversation.id == TranscriptMessage.conversation_id)
        .where(Conversation.channel == Channel.WEBCHAT, Conversation.sender_key.in_(keys),
               TranscriptMessage.status == PENDING, TranscriptMessage.erased_at.is_(None),
               TranscriptMessage.author.in_((CASEWORKER, SYSTEM)))
        .order_by(TranscriptMessage.id)).scalars())


def transcript(db: Session, conversation: Conversation) -> List[TranscriptMessage]:
    return list(db.execute(select(TranscriptMessage).where(
        TranscriptMessage.conversation_id == conversation.id)
        .order_by(TranscriptMessage.id)).scalars())


def record_inbound(db: Session, settings: Settings, *, message_sid: str, phone: str,
                   body: str, num_media: int, now: datetime) -> Optional[InboundSms]:
    """Logs an inbound SMS (and its redacted transcript message) before it is acknowledged;
    None when the MessageSid was seen. The turn workers pick it up from here."""
    identity = ensure_identity(db, settings.identity_key, phone, now)
    conv = open_conversation(db, Channel.SMS, identity.sender_key, now)
    # Lock order: the conversation row before the identity row, as the turn worker commits
    # (its lease fence, then the SMS state); the other order deadlocks under load.
    lock_conversation(db, conv.id, now)
    identity.last_inbound_at = now
    row = InboundSms(message_sid=message_sid, sender_key=identity.sender_key, body=body,
                     num_media=num_media, received_at=now, status="received",
                     conversation_id=conv.id, attempts=0, next_attempt_at=now,
                     correlation_id=correlation.current())
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except IntegrityError:
        db.rollback()
        return None
    text = body if not num_media else (body + " [bilde]").strip()
    recorded = record_citizen_message(db, conv, text, now, external_id=message_sid,
                                              language=detect(body, conv.language))
    row.transcript_message_id = recorded.message.id
    db.commit()
    return row
