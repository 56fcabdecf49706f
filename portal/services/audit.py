"""Recording who read or changed a citizen's data."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, Optional

from sqlalchemy import insert
from sqlalchemy.orm import Session

from portal.models import ActorType, AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who is acting, and through which channel."""

    type: ActorType
    id: str
    channel: Optional[str] = None

    @classmethod
    def system(cls, name: str) -> "Actor":
        return cls(ActorType.SYSTEM, name, "system")

    @classmethod
    def citizen(cls, citizen_id: int, channel: str) -> "Actor":
        return cls(ActorType.CITIZEN, f"citizen:{citizen_id}", channel)


def record(db: Session, actor: Actor, action: str, *, at: datetime,
           citizen_id: Optional[int] = None, object_type: Optional[str] = None,
           object_id: Any = None, detail: Optional[Dict[str, Any]] = None) -> None:
    """Appends one audit event in the caller's transaction."""
    db.execute(_APPEND, {
        "at": at, "actor_type": actor.type, "actor_id": actor.id, "channel": actor.channel,
        "citizen_id": citizen_id, "action": action, "object_type": object_type,
        "object_id": None if object_id is None else str(object_id), "detail": detail,
    })


# Built once: every read of citizen data appends one, so it is on every hot path.
_APPEND = insert(AuditEvent)
