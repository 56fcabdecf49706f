"""Turning citizen messages into NLU training data: the inbox, annotations, the held-out set."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import List, Optional

import yaml
from sqlalchemy import Float, Text, and_, cast, func, select
from sqlalchemy.orm import Session

from portal.config import PROJECT_ROOT
from portal.db import MAX_ID
from portal.errors import InvalidInput, NotFound
from portal.models import (ActorType, Channel, Conversation, NluAnnotation,
                           TranscriptMessage)
from portal.services.audit import Actor, record

DOMAIN_DIR = PROJECT_ROOT / "bot" / "domain"
OUT_OF_SCOPE = "out_of_scope"
IGNORE = "ignore"
FALLBACK_INTENT = "nlu_fallback"
HELD_OUT_PERCENT = 20
ACCEPTED, IGNORED = "accepted", "ignored"


def staff_actor(staff_id: int) -> Actor:
    return Actor(ActorType.ADMIN, f"staff:{staff_id}", "admin")


def domain_intents(domain_dir: Path = DOMAIN_DIR) -> List[str]:
    """The intents the bot's domain declares (out_of_scope among them), sorted."""
    intents = set()
    for path in sorted(domain_dir.rglob("*.yml")):
        for item in (yaml.safe_load(path.read_text()) or {}).get("intents", []) or []:
            intents.add(next(iter(item)) if isinstance(item, dict) else str(item))
    return sorted(intents)


def text_key(text: str) -> str:
    """The grouping key of a message text: identical texts (up to surrounding space) share it."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


def _bucket(text: str) -> int:
    """A fixed number 0-99 from the text alone."""
    return int(text_key(text)[:8], 16) % 100


def _decide_held_out(db: Session, text: str, intent: Optional[str]) -> bool:
    """Held out when the text's hash falls in the first HELD_OUT_PERCENT buckets, kept within
    one message of HELD_OUT_PERCENT per intent (stratified). Decided once and stored."""
    by_hash = _bucket(text) < HELD_OUT_PERCENT
    if intent is None:
        return by_hash
    total, held = db.execute(
        select(func.count(NluAnnotation.id),
               func.count(NluAnnotation.id).filter(NluAnnotation.held_out.is_(True)))
        .where(NluAnnotation.intent == intent, NluAnnotation.state == ACCEPTED)).one()
    total, held = int(total) + 1, int(held)
    if held < (total * HELD_OUT_PERCENT) // 100:
        return True  # this intent is short of its share
    if held + 1 > -(-total * HELD_OUT_PERCENT // 100):
        return False  # holding it out would overshoot the share
    return by_hash


def annotate(db: Session, message_id: int, label: str, staff_id: int, *,
             now: datetime) -> NluAnnotation:
    """Labels a citizen message (and every identical text) with an intent, `out_of_scope`
    or `ignore`. An unknown intent or a missing message raises and changes nothing."""
    if not isinstance(message_id, int) or isinstance(message_id, bool) \
            or not 0 < message_id <= MAX_ID:
        raise InvalidInput("message_id must be a positive integer.", code="invalid_message_id")
    label = (label or "").strip()
    if label != IGNORE and label not in domain_intents():
        raise InvalidInput(f"Unknown intent {label!r}: use one of the domain's intents, "
                           f"'{OUT_OF_SCOPE}' or '{IGNORE}'.", code="unknown_intent",
                           details={"intent": label})
    row = db.execute(select(TranscriptMessage, Conversation.citizen_id)
                     .join(Conversation, Conversation.id == TranscriptMessage.conversation_id)
                     .where(TranscriptMessage.id == message_id)).one_or_none()
    if row is None or row[0].direction != "in" or row[0].author != "citizen" \
            or row[0].erased_at is not None:
        raise NotFound(f"No citizen message {message_id}.", code="message_not_found")
    message, citizen_id = row
    intent = None if label == IGNORE else label
    state = IGNORED if label == IGNORE else ACCEPTED
    key = text_key(message.text)
    annotation = db.execute(select(NluAnnotation).where(NluAnnotation.text_hash == key)
                            ).scalar_one_or_none()
    if annotation is None:
        annotation = NluAnnotation(text=message.text.strip(), text_hash=key,
                                   held_out=_decide_held_out(db, message.text, intent))
        db.add(annotation)
    annotation.message_id = message.id
    annotation.intent = intent
    annotation.state = state
    annotation.staff_id = staff_id
    annotation.at = now
    db.flush()
    record(db, staff_actor(staff_id), "nlu.annotate", at=now, citizen_id=citizen_id,
           object_type="transcript_message", object_id=message.id,
           detail={"label": label, "held_out": annotation.held_out})
    return annotation


@dataclass(frozen=True)
class InboxFilter:
    below: Optional[float] = None  # confidence under this
    fell_back: bool = False  # predicted nlu_fallback
    intent: Optional[str] = None
    language: Optional[str] = None
    channel: Optional[str] = None
    since: Optional[datetime] = None
    until: Optional[datetime] = None
    unannotated: bool = False
    page: int = 1
    per_page: int = 50

    def check(self) -> None:
        if self.page < 1 or not 1 <= self.per_page <= 500:
            raise InvalidInput("page must be 1 or more and per_page 1-500.", code="bad_paging")
        if self.below is not None and not 0 <= self.below <= 1:
            raise InvalidInput("below must be a confidence between 0 and 1.",
                               code="bad_threshold")
        if self.channel is not None and self.channel not in {c.value for c in Channel}:
            raise InvalidInput(f"Unknown channel {self.channel!r}.", code="unknown_channel")
        if self.since and self.until and self.since > self.until:
            raise InvalidInput("since is after until.", code="bad_date_range")


@dataclass(frozen=True)
class InboxRow:
    text: str
    count: int
    message_id: int  # the newest message with this text
    intent: Optional[str]
    confidence: Optional[float]
    language: Optional[str]
    channel: str
    last_at: datetime
    annotation: Optional[str]  # the label given (intent, out_of_scope, ignore) or None
    held_out: Optional[bool]


@dataclass(frozen=True)
class InboxPage:
    rows: List[InboxRow]
    total: int  # distinct texts matching
    page: int
    per_page: int


def _confidence():
    """The JSON confidence column as a number (NULL for SQL or JSON null) on every backend."""
    return cast(func.nullif(cast(TranscriptMessage.confidence, Text), "null"), Float)


def inbox(db: Session, filters: InboxFilter, staff_id: int, *, now: datetime) -> InboxPage:
    """Citizen messages with what the bot understood, identical texts grouped with a count,
    newest first; the filters apply to the messages before grouping."""
    filters.check()
    m = TranscriptMessage
    where = [m.direction == "in", m.author == "citizen", m.erased_at.is_(None)]
    if filters.below is not None:
        where.append(_confidence() < filters.below)
    if filters.fell_back:
        where.append(m.intent == FALLBACK_INTENT)
    if filters.intent:
        where.append(m.intent == filters.intent)
    if filters.language:
        where.append(m.language == filters.language)
    if filters.channel:
        where.append(Conversation.channel == Channel(filters.channel))
    if filters.since:
        where.append(m.at >= filters.since)
    if filters.until:
        where.append(m.at <= filters.until)
    groups = (select(m.text.label("text"), func.count(m.id).label("n"),
                     func.max(m.id).label("latest"))
              .join(Conversation, Conversation.id == m.conversation_id)
              .where(and_(*where)).group_by(m.text).subquery())
    latest = TranscriptMessage
    query = (select(groups.c.n, latest, Conversation.channel)
             .join(latest, latest.id == groups.c.latest)
             .join(Conversation, Conversation.id == latest.conversation_id))
    rows = db.execute(query.order_by(latest.at.desc(), latest.id.desc())).all()
    labels = {a.text_hash: a for a in db.execute(select(NluAnnotation)).scalars()}
    result = []
    for count, message, channel in rows:
        annotation = labels.get(text_key(message.text))
        if filters.unannotated and annotation is not None:
            continue
        label = None if annotation is None else (annotation.intent or IGNORE)
        result.append(InboxRow(
            text=message.text, count=count, message_id=message.id, intent=message.intent,
            confidence=None if message.confidence is None else float(message.confidence),
            language=message.language, channel=channel.value, last_at=message.at,
            annotation=label, held_out=None if annotation is None else annotation.held_out))
    start = (filters.page - 1) * filters.per_page
    page = result[start:start + filters.per_page]
    record(db, staff_actor(staff_id), "nlu.inbox", at=now, object_type="transcript_messages",
           detail={"texts": len(page), "message_ids": [r.message_id for r in page]})
    return InboxPage(rows=page, total=len(result), page=filters.page,
                     per_page=filters.per_page)


def training_examples(db: Session, held_out: bool) -> dict:
    """Accepted annotations as {intent: [texts]}: the held-out set, or the trainable rest."""
    examples: dict = {}
    for a in db.execute(select(NluAnnotation).where(
            NluAnnotation.state == ACCEPTED, NluAnnotation.held_out == held_out)
            .order_by(NluAnnotation.intent, NluAnnotation.text)).scalars():
        examples.setdefault(a.intent, []).append(a.text)
    return examples
