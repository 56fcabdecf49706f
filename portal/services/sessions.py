"""Citizen login sessions: one citizen, one channel, one conversation, idle expiry."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from portal.conversation_ids import channel_of
from portal.errors import Unauthorized
from portal.models import Channel, Citizen, CitizenSession
from portal.services.audit import Actor, record


TOUCH_INTERVAL = timedelta(minutes=1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(db: Session, citizen: Citizen, *, channel: Channel, conversation_id: str,
                  now: datetime, idle_minutes: int) -> tuple[str, CitizenSession]:
    """Opens a session, ending any earlier one in the same conversation.

    Returns a random token whose hash identifies the row; nobody needs it to act: the
    conversation (channel and id) names its live session, so no bearer secret ever reaches
    the bot's trackers.
    """
    end_conversation_sessions(db, channel, conversation_id, now=now, reason="replaced")
    token = secrets.token_urlsafe(32)
    row = CitizenSession(
        token_hash=token_hash(token), citizen_id=citizen.id, channel=channel,
        conversation_id=conversation_id, created_at=now, last_seen_at=now,
        expires_at=now + timedelta(minutes=idle_minutes),
    )
    db.add(row)
    db.flush()
    record(db, Actor.citizen(citizen.id, channel.value), "session.start", at=now,
           citizen_id=citizen.id, object_type="session", object_id=row.id)
    from portal.conversations.service import link_citizen

    link_citizen(db, channel, conversation_id, citizen.id)
    return token, row


# Built once: every citizen request resolves its session.
_NEWEST_OF_CONVERSATION = (
    select(CitizenSession)
    .where(CitizenSession.channel == bindparam("channel"),
           CitizenSession.conversation_id == bindparam("conversation_id"))
    .order_by(CitizenSession.created_at.desc(), CitizenSession.id.desc())
    .limit(1))


def resolve_session(db: Session, channel: Optional[str], conversation_id: Optional[str], *,
                    now: datetime, idle_minutes: int) -> CitizenSession:
    """The live session of a conversation on its own channel; refreshes its idle timer.

    The conversation id names its channel (portal/conversation_ids.py); a request naming
    another channel than the id's, or than the session was opened on, finds no session.
    """
    if not channel or not conversation_id:
        raise Unauthorized("A channel and conversation id are required.",
                           code="session_required")
    if channel_of(conversation_id) != channel:
        raise Unauthorized("The conversation does not belong to that channel.",
                           code="session_invalid")
    row = db.execute(_NEWEST_OF_CONVERSATION, {"channel": Channel(channel),
                                               "conversation_id": conversation_id}
                     ).scalar_one_or_none()
    if row is None:
        raise Unauthorized("Nobody is logged in in this conversation.", code="session_invalid")
    if row.ended_at is not None:
        raise Unauthorized("The session has ended.", code="session_ended")
    if row.expires_at <= now:
        row.ended_at, row.ended_reason = now, "expired"
        db.commit()
        raise Unauthorized("The session expired after inactivity.", code="session_expired")
    if now - row.last_seen_at >= TOUCH_INTERVAL:  # one write a minute, not one per request
        row.last_seen_at = now
        row.expires_at = now + timedelta(minutes=idle_minutes)
    return row


def find_live_session(db: Session, channel: Optional[str], conversation_id: Optional[str], *,
                      now: datetime, idle_minutes: int) -> Optional[CitizenSession]:
    """The conversation's live session, or None when nobody is logged in there."""
    try:
        return resolve_session(db, channel, conversation_id, now=now, idle_minutes=idle_minutes)
    except Unauthorized:
        return None


def end_session(db: Session, row: CitizenSession, *, now: datetime, reason: str) -> None:
    row.ended_at, row.ended_reason = now, reason
    record(db, Actor.citizen(row.citizen_id, row.channel.value), "session.end", at=now,
           citizen_id=row.citizen_id, object_type="session", object_id=row.id,
           detail={"reason": reason})


def end_conversation_sessions(db: Session, channel: Channel, conversation_id: str, *,
                              now: datetime, reason: str) -> None:
    db.execute(
        update(CitizenSession)
        .where(CitizenSession.channel == channel,
               CitizenSession.conversation_id == conversation_id,
               CitizenSession.ended_at.is_(None))
        .values(ended_at=now, ended_reason=reason)
        .execution_options(synchronize_session=False)
    )
