"""The caseworker workspace over the conversation service: queue, claim, reply, hand back,
close, tags, notes, review search and weekly figures.

Functions take the caller's session and never commit. Every read of a conversation by a
staff member is audited here (`conversation.read`, `conversation.list`).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session

from portal.config import Settings
from portal.conversations import service
from portal.errors import Conflict, InvalidInput, NotFound
from portal.kv import KeyValueStore
from portal.models import (ActorType, Channel, Citizen, Conversation, ConversationMark,
                           ConversationNote, ConversationTag, HandoffRequest, StaffMember,
                           TranscriptMessage)
from portal.privacy import redact_text
from portal.services.audit import Actor, record
from portal.staff import accounts

WAITING, MINE, LIVE, CLOSED = "waiting", "mine", "live", "closed"
STATUSES = (WAITING, MINE, LIVE, CLOSED)
OPEN, TAKEN, DONE = "open", "taken", "closed"  # handoff request states
CONNECTED_KEY = "webchat:connected:"
CONNECTED_SECONDS = 15  # the web chat polls about once a second; a few missed polls are fine
LOW_CONFIDENCE = 0.5  # config.yml's FallbackClassifier threshold
FALLBACK_INTENT = "nlu_fallback"
MAX_TAG, MAX_NOTE, MAX_PER_PAGE = 40, 2000, 100
SYSTEM = Actor(ActorType.SYSTEM, "workspace", "system")


def first_name(member: StaffMember) -> str:
    return member.name.split()[0]


# --- web chat presence ---------------------------------------------------------------------

def mark_connected(store: KeyValueStore, keys, now: datetime) -> None:
    """The web chat channel polled for these conversations: their browsers are connected."""
    for key in keys:
        store.set(CONNECTED_KEY + key, now.isoformat(), CONNECTED_SECONDS)


def is_connected(store: KeyValueStore, conversation: Conversation, now: datetime) -> bool:
    """SMS always reaches the citizen; a web chat only while its browser is connected (the
    channel polled for it in the last CONNECTED_SECONDS)."""
    if conversation.channel != Channel.WEBCHAT:
        return True
    seen = store.get(CONNECTED_KEY + conversation.sender_key)
    return seen is not None and (
        now - datetime.fromisoformat(seen)).total_seconds() <= CONNECTED_SECONDS


# --- state -----------------------------------------------------------------------------------

def _requests(conversation: Conversation, *states: str):
    return select(HandoffRequest).where(
        HandoffRequest.channel == conversation.channel,
        HandoffRequest.conversation_id == conversation.sender_key,
        HandoffRequest.status.in_(states))


def _mark(db: Session, conversation: Conversation) -> ConversationMark:
    mark = db.get(ConversationMark, conversation.id)
    if mark is None:
        mark = ConversationMark(conversation_id=conversation.id)
        db.add(mark)
    return mark


def _waiting_since():
    """The oldest open handoff request of each conversation (correlated scalar)."""
    return (select(func.min(HandoffRequest.requested_at))
            .where(HandoffRequest.channel == Conversation.channel,
                   HandoffRequest.conversation_id == Conversation.sender_key,
                   HandoffRequest.status == OPEN)
            .correlate(Conversation).scalar_subquery())


def _closed():
    return exists().where(ConversationMark.conversation_id == Conversation.id,
                          ConversationMark.closed_at.is_not(None))


def get(db: Session, conversation_id: int) -> Conversation:
    conversation = db.get(Conversation, conversation_id) if 0 < conversation_id < 2 ** 31 else None
    if conversation is None:
        raise NotFound("No such conversation.", code="unknown_conversation")
    return conversation


def expire_claims(db: Session, settings: Settings, now: datetime) -> List[int]:
    """Taken conversations without a staff reply for STAFF_CLAIM_TIMEOUT_MINUTES go back to
    the queue (owner cleared, the handoff request open again). Run on each queue read."""
    limit = now - timedelta(minutes=settings.staff_claim_timeout_minutes)
    replied = exists().where(TranscriptMessage.conversation_id == Conversation.id,
                             TranscriptMessage.author == service.CASEWORKER,
                             TranscriptMessage.at > limit)
    stale = list(db.execute(select(Conversation).where(
        Conversation.owner_staff_id.is_not(None), Conversation.owner_since <= limit,
        ~replied, ~_closed())).scalars())
    expired = []
    for conversation in stale:
        owner = conversation.owner_staff_id
        done = db.execute(update(Conversation).where(
            Conversation.id == conversation.id, Conversation.owner_staff_id == owner,
            Conversation.owner_since == conversation.owner_since)
            .values(owner_staff_id=None, owner_name=None, owner_since=None)
            .execution_options(synchronize_session=False)).rowcount
        if not done:
            continue
        db.refresh(conversation)
        _reopen(db, conversation, now)
        record(db, SYSTEM, "conversation.claim_expired", at=now,
               citizen_id=conversation.citizen_id, object_type="conversation",
               object_id=conversation.id, detail={"staff_id": owner})
        expired.append(conversation.id)
    return expired


def _reopen(db: Session, conversation: Conversation, now: datetime) -> None:
    """The taken request is open again (unless the citizen asked again meanwhile)."""
    if db.execute(_requests(conversation, OPEN)).first() is not None:
        db.execute(update(HandoffRequest).where(
            HandoffRequest.id.in_(_requests(conversation, TAKEN).with_only_columns(
                HandoffRequest.id)))
            .values(status=DONE, closed_at=now).execution_options(synchronize_session=False))
        return
    taken = db.execute(_requests(conversation, TAKEN).order_by(HandoffRequest.id)).scalars()
    for number, request in enumerate(taken):
        if number == 0:
            request.status, request.taken_by, request.taken_at = OPEN, None, None
        else:
            request.status, request.closed_at = DONE, now
    db.flush()


# --- actions ---------------------------------------------------------------------------------

def claim(db: Session, settings: Settings, conversation: Conversation, member: StaffMember,
          now: datetime, *, reassign: bool = False) -> Optional[TranscriptMessage]:
    """Takes the conversation; exactly one owner. An admin may take it from another owner.
    Claiming one's own conversation again changes nothing (None)."""
    owner = service.owner_of(db, conversation.id, lock=True)
    db.refresh(conversation)
    if owner is not None and owner != member.id:
        if not (reassign and member.is_admin):
            raise Conflict(f"{conversation.owner_name} already answers this conversation.",
                           code="owned_by_another", details={"holder": conversation.owner_name})
        record(db, accounts.actor(member), "conversation.reassign", at=now,
               citizen_id=conversation.citizen_id, object_type="conversation",
               object_id=conversation.id, detail={"from_staff_id": owner})
        conversation.owner_staff_id = conversation.owner_name = conversation.owner_since = None
    if owner == member.id:
        return None
    joined = service.take_over(db, settings, conversation, member.id, first_name(member), now)
    mark = db.get(ConversationMark, conversation.id)
    if mark is not None:  # taking a closed conversation opens it again
        mark.closed_at = mark.closed_by = None
    db.execute(update(HandoffRequest).where(
        HandoffRequest.channel == conversation.channel,
        HandoffRequest.conversation_id == conversation.sender_key,
        HandoffRequest.status.in_((OPEN, TAKEN)))
        .values(status=TAKEN, taken_by=first_name(member), taken_at=now)
        .execution_options(synchronize_session=False))
    return joined


def _require_owner(db: Session, conversation: Conversation, member: StaffMember) -> None:
    if service.owner_of(db, conversation.id, lock=True) != member.id:
        db.refresh(conversation)
        raise Conflict("Take over the conversation before you answer in it.", code="not_owner",
                       details={"holder": conversation.owner_name})


def reply(db: Session, settings: Settings, store: KeyValueStore, conversation: Conversation,
          member: StaffMember, text: str, now: datetime) -> TranscriptMessage:
    """The owner's reply over the citizen's channel; a web chat only while it is connected."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput("The reply is empty.", code="empty_reply")
    if len(text) > service.MAX_TEXT:
        raise InvalidInput(f"A reply has at most {service.MAX_TEXT} characters.",
                           code="reply_too_long")
    _require_owner(db, conversation, member)
    if not is_connected(store, conversation, now):
        raise Conflict("The citizen has left the chat.", code="citizen_left")
    return service.answer_as_person(db, settings, conversation, member.id, text, now)


def release(db: Session, settings: Settings, conversation: Conversation, member: StaffMember,
            now: datetime) -> TranscriptMessage:
    """Hands the conversation back to the bot; the handoff request is done."""
    _require_owner(db, conversation, member)
    told = service.hand_back(db, settings, conversation, member.id, now)
    _finish_requests(db, conversation, now)
    return told


def _finish_requests(db: Session, conversation: Conversation, now: datetime) -> None:
    db.execute(update(HandoffRequest).where(
        HandoffRequest.channel == conversation.channel,
        HandoffRequest.conversation_id == conversation.sender_key,
        HandoffRequest.status.in_((OPEN, TAKEN)))
        .values(status=DONE, closed_at=now).execution_options(synchronize_session=False))


def close(db: Session, settings: Settings, conversation: Conversation, member: StaffMember,
          now: datetime) -> None:
    """Closes the conversation: the owner hands it back first; an owner-less one leaves the
    queue. Another person's conversation is closed only by an admin."""
    owner = service.owner_of(db, conversation.id, lock=True)
    db.refresh(conversation)
    if owner == member.id:
        service.hand_back(db, settings, conversation, member.id, now)
    elif owner is not None:
        if not member.is_admin:
            raise Conflict(f"{conversation.owner_name} answers this conversation.",
                           code="owned_by_another", details={"holder": conversation.owner_name})
        conversation.owner_staff_id = conversation.owner_name = conversation.owner_since = None
        service._tell_citizen(db, settings, conversation, service.texts.pick(
            service.texts.PERSON_LEFT, conversation.language), now, author=service.SYSTEM)
    _finish_requests(db, conversation, now)
    mark = _mark(db, conversation)
    mark.closed_at, mark.closed_by = now, member.id
    record(db, accounts.actor(member), "conversation.close", at=now,
           citizen_id=conversation.citizen_id, object_type="conversation",
           object_id=conversation.id)


def clean_tag(tag: Any) -> str:
    if not isinstance(tag, str) or not tag.strip():
        raise InvalidInput("A tag is a non-empty text.", code="invalid_tag")
    tag = " ".join(tag.strip().lower().split())
    if len(tag) > MAX_TAG:
        raise InvalidInput(f"A tag has at most {MAX_TAG} characters.", code="invalid_tag")
    return tag


def set_tags(db: Session, conversation: Conversation, member: StaffMember, add: List[str],
             remove: List[str], now: datetime) -> List[str]:
    add, remove = [clean_tag(t) for t in add], [clean_tag(t) for t in remove]
    current = set(tags_of(db, conversation.id))
    for tag in sorted(set(add) - current):
        db.add(ConversationTag(conversation_id=conversation.id, tag=tag, staff_id=member.id,
                               at=now))
    for tag in set(remove) & current:
        db.delete(db.get(ConversationTag, (conversation.id, tag)))
    db.flush()
    record(db, accounts.actor(member), "conversation.tags", at=now,
           citizen_id=conversation.citizen_id, object_type="conversation",
           object_id=conversation.id, detail={"add": sorted(set(add)), "remove": sorted(set(remove))})
    return tags_of(db, conversation.id)


def tags_of(db: Session, conversation_id: int) -> List[str]:
    return list(db.execute(select(ConversationTag.tag).where(
        ConversationTag.conversation_id == conversation_id).order_by(ConversationTag.tag))
        .scalars())


def add_note(db: Session, conversation: Conversation, member: StaffMember, text: str,
             now: datetime) -> ConversationNote:
    text = (text or "").strip() if isinstance(text, str) else ""
    if not text:
        raise InvalidInput("The note is empty.", code="empty_note")
    if len(text) > MAX_NOTE:
        raise InvalidInput(f"A note has at most {MAX_NOTE} characters.", code="note_too_long")
    note = ConversationNote(conversation_id=conversation.id, staff_id=member.id,
                            staff_name=member.name, text=redact_text(text), at=now)
    db.add(note)
    db.flush()
    record(db, accounts.actor(member), "conversation.note", at=now,
           citizen_id=conversation.citizen_id, object_type="conversation",
           object_id=conversation.id, detail={"note_id": note.id})
    return note


def set_reviewed(db: Session, conversation: Conversation, member: StaffMember, reviewed: bool,
                 now: datetime) -> None:
    mark = _mark(db, conversation)
    mark.reviewed_at, mark.reviewed_by = (now, member.id) if reviewed else (None, None)
    record(db, accounts.actor(member), "conversation.reviewed", at=now,
           citizen_id=conversation.citizen_id, object_type="conversation",
           object_id=conversation.id, detail={"reviewed": reviewed})


# --- reading ---------------------------------------------------------------------------------

@dataclass
class Summary:
    """One row of the queue or the review list."""

    conversation: Conversation
    waiting_since: Optional[datetime]
    closed_at: Optional[datetime]
    reviewed_at: Optional[datetime]
    tags: List[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.conversation.owner_staff_id is not None:
            return LIVE
        if self.waiting_since is not None:
            return WAITING
        return CLOSED if self.closed_at is not None else "bot"

    def waited(self, now: datetime) -> int:
        """Whole minutes waited for a person."""
        return int((now - self.waiting_since).total_seconds() // 60) if self.waiting_since else 0


@dataclass
class Filters:
    status: Optional[str] = None
    channel: Optional[Channel] = None
    language: Optional[str] = None
    logged_in: Optional[bool] = None
    handoff: Optional[bool] = None
    reviewed: Optional[bool] = None
    unsure: Optional[bool] = None  # fell back or low confidence
    intent: Optional[str] = None
    tag: Optional[str] = None
    q: Optional[str] = None
    since: Optional[datetime] = None
    until: Optional[datetime] = None

    def describe(self) -> Dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else getattr(v, "value", v))
                for k, v in self.__dict__.items() if v is not None and k != "q"} | (
            {"q": True} if self.q else {})


def _citizen_says(*conditions):
    return exists().where(TranscriptMessage.conversation_id == Conversation.id,
                          TranscriptMessage.author == service.CITIZEN, *conditions)


def _query(filters: Filters, staff_id: int):
    waiting = _waiting_since().label("waiting_since")
    query = (select(Conversation, waiting, ConversationMark.closed_at,
                    ConversationMark.reviewed_at)
             .outerjoin(ConversationMark, ConversationMark.conversation_id == Conversation.id))
    closed = ConversationMark.closed_at.is_not(None)
    status = filters.status
    if status == WAITING:
        query = query.where(_waiting_since().is_not(None), Conversation.owner_staff_id.is_(None))
    elif status == MINE:
        query = query.where(Conversation.owner_staff_id == staff_id)
    elif status == LIVE:
        query = query.where(Conversation.owner_staff_id.is_not(None))
    elif status == CLOSED:  # a closed conversation whose citizen asks again waits again
        query = query.where(closed, _waiting_since().is_(None),
                            Conversation.owner_staff_id.is_(None))
    if filters.channel is not None:
        query = query.where(Conversation.channel == filters.channel)
    if filters.language:
        query = query.where(Conversation.language == filters.language)
    if filters.logged_in is not None:
        query = query.where(Conversation.citizen_id.is_not(None) if filters.logged_in
                            else Conversation.citizen_id.is_(None))
    if filters.handoff is not None:
        had = exists().where(HandoffRequest.channel == Conversation.channel,
                             HandoffRequest.conversation_id == Conversation.sender_key)
        query = query.where(had if filters.handoff else ~had)
    if filters.reviewed is not None:
        query = query.where(ConversationMark.reviewed_at.is_not(None) if filters.reviewed
                            else ConversationMark.reviewed_at.is_(None))
    if filters.unsure is not None:
        unsure = _citizen_says(or_(TranscriptMessage.intent == FALLBACK_INTENT,
                                   TranscriptMessage.confidence < LOW_CONFIDENCE))
        query = query.where(unsure if filters.unsure else ~unsure)
    if filters.intent:
        query = query.where(_citizen_says(TranscriptMessage.intent == filters.intent))
    if filters.tag:
        query = query.where(exists().where(ConversationTag.conversation_id == Conversation.id,
                                           ConversationTag.tag == filters.tag))
    if filters.q:
        pattern = "%" + filters.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(exists().where(
            TranscriptMessage.conversation_id == Conversation.id,
            TranscriptMessage.text.ilike(pattern, escape="\\")))
    if filters.since is not None:
        query = query.where(Conversation.last_message_at >= filters.since)
    if filters.until is not None:
        query = query.where(Conversation.started_at < filters.until)
    if status == WAITING:
        return query.order_by(waiting, Conversation.id)
    return query.order_by(Conversation.last_message_at.desc(), Conversation.id.desc())


@dataclass
class Page:
    items: List[Summary]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def search(db: Session, member: StaffMember, filters: Filters, now: datetime, *, page: int = 1,
           per_page: int = 20) -> Page:
    """Conversations matching the filters, paged; the read is audited."""
    if filters.status is not None and filters.status not in STATUSES:
        raise InvalidInput(f"status is one of {', '.join(STATUSES)}.", code="invalid_status")
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"page >= 1 and 1 <= per_page <= {MAX_PER_PAGE}.",
                           code="invalid_page")
    query = _query(filters, member.id)
    total = db.execute(select(func.count()).select_from(query.order_by(None).subquery())
                       ).scalar_one()
    rows = db.execute(query.limit(per_page).offset((page - 1) * per_page)).all()
    tags: Dict[int, List[str]] = {}
    if rows:
        for conversation_id, tag in db.execute(
                select(ConversationTag.conversation_id, ConversationTag.tag)
                .where(ConversationTag.conversation_id.in_([r[0].id for r in rows]))
                .order_by(ConversationTag.tag)):
            tags.setdefault(conversation_id, []).append(tag)
    items = [Summary(r[0], r[1], r[2], r[3], tags.get(r[0].id, [])) for r in rows]
    record(db, accounts.actor(member), "conversation.list", at=now, object_type="conversation",
           detail={"filters": filters.describe(), "page": page,
                   "ids": [item.conversation.id for item in items]})
    return Page(items, total, page, per_page)


@dataclass
class Detail:
    summary: Summary
    messages: List[TranscriptMessage]
    notes: List[ConversationNote]
    citizen_name: Optional[str]
    connected: bool
    handoffs: List[HandoffRequest]


def read(db: Session, store: KeyValueStore, member: StaffMember, conversation: Conversation,
         now: datetime) -> Detail:
    """The redacted transcript, notes and state of one conversation; the read is audited."""
    mark = db.get(ConversationMark, conversation.id)
    waiting = db.execute(select(func.min(HandoffRequest.requested_at)).where(
        HandoffRequest.channel == conversation.channel,
        HandoffRequest.conversation_id == conversation.sender_key,
        HandoffRequest.status == OPEN)).scalar_one()
    summary = Summary(conversation, waiting, mark and mark.closed_at, mark and mark.reviewed_at,
                      tags_of(db, conversation.id))
    citizen = db.get(Citizen, conversation.citizen_id) if conversation.citizen_id else None
    notes = list(db.execute(select(ConversationNote).where(
        ConversationNote.conversation_id == conversation.id).order_by(ConversationNote.id))
        .scalars())
    handoffs = list(db.execute(select(HandoffRequest).where(
        HandoffRequest.channel == conversation.channel,
        HandoffRequest.conversation_id == conversation.sender_key)
        .order_by(HandoffRequest.id)).scalars())
    record(db, accounts.actor(member), "conversation.read", at=now,
           citizen_id=conversation.citizen_id, object_type="conversation",
           object_id=conversation.id)
    return Detail(summary, service.transcript(db, conversation), notes,
                  citizen.name if citizen is not None else None,
                  is_connected(store, conversation, now), handoffs)


# --- weekly figures --------------------------------------------------------------------------

@dataclass
class Week:
    start: datetime
    conversations: int = 0
    bot_alone: int = 0
    handoffs: int = 0
    waits: List[float] = field(default_factory=list)

    @property
    def bot_share(self) -> Optional[float]:
        return self.bot_alone / self.conversations if self.conversations else None

    @property
    def median_wait_minutes(self) -> Optional[float]:
        return round(statistics.median(self.waits) / 60, 1) if self.waits else None


def _week_of(at: datetime) -> datetime:
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def weekly(db: Session, member: StaffMember, since: datetime, until: datetime,
           now: datetime) -> List[Week]:
    """Per ISO week (Monday, UTC): conversations started, the share the bot answered alone
    (no handoff, no person's message), handoff requests, the median wait for a person."""
    weeks: Dict[datetime, Week] = {}

    def week(at: datetime) -> Week:
        start = _week_of(at)
        return weeks.setdefault(start, Week(start))

    person = exists().where(TranscriptMessage.conversation_id == Conversation.id,
                            TranscriptMessage.author == service.CASEWORKER)
    asked = exists().where(HandoffRequest.channel == Conversation.channel,
                           HandoffRequest.conversation_id == Conversation.sender_key)
    for started, helped in db.execute(select(Conversation.started_at, or_(person, asked))
                                      .where(Conversation.started_at >= since,
                                             Conversation.started_at < until)):
        entry = week(started)
        entry.conversations += 1
        entry.bot_alone += 0 if helped else 1
    for requested, taken in db.execute(select(HandoffRequest.requested_at,
                                              HandoffRequest.taken_at)
                                       .where(HandoffRequest.requested_at >= since,
                                              HandoffRequest.requested_at < until)):
        entry = week(requested)
        entry.handoffs += 1
        if taken is not None:
            entry.waits.append((taken - requested).total_seconds())
    record(db, accounts.actor(member), "conversation.figures", at=now,
           object_type="conversation",
           detail={"since": since.isoformat(), "until": until.isoformat()})
    return [weeks[k] for k in sorted(weeks)]

