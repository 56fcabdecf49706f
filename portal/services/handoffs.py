"""Requests to talk to a person, queued for the caseworkers."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.conversations.service import find_conversation
from portal.models import ActorType, Channel, HandoffRequest
from portal.services.audit import Actor, record


def _open_request(db: Session, channel: Channel,
                  conversation_id: str) -> Optional[HandoffRequest]:
    return db.execute(select(HandoffRequest).where(
        HandoffRequest.channel == channel, HandoffRequest.conversation_id == conversation_id,
        HandoffRequest.status == "open")).scalar_one_or_none()


def request_handoff(db: Session, *, channel: Channel, conversation_id: str, reason: str,
                    citizen_id: Optional[int], now: datetime,
                    within_opening_hours: Optional[bool] = None) -> tuple[HandoffRequest, bool]:
    """Queues a handoff; an open request for the same conversation is reused. (row, created)

    A unique index allows one open request per conversation: a concurrent insert that loses
    returns the winner's row.
    """
    open_request = _open_request(db, channel, conversation_id)
    if open_request is not None:
        return open_request, False
    # The gateway's conversation row, when the channel records one: the explicit link.
    conversation = find_conversation(db, channel, conversation_id)
    row = HandoffRequest(channel=channel, conversation_id=conversation_id, reason=reason,
                         citizen_id=citizen_id, requested_at=now, status="open",
                         conversation_row_id=conversation.id if conversation else None,
                         within_opening_hours=within_opening_hours)
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except IntegrityError:
        open_request = _open_request(db, channel, conversation_id)
        if open_request is None:
            raise
        return open_request, False
    actor = (Actor.citizen(citizen_id, channel.value) if citizen_id
             else Actor(ActorType.SYSTEM, "assistant", channel.value))
    record(db, actor, "handoff.request", at=now, citizen_id=citizen_id,
           object_type="handoff_request", object_id=row.id, detail={"reason": reason})
    return row, True
