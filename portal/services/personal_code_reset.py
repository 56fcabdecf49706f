"""Asking for and cancelling the reset of a forgotten personal code (the rule is in
portal/services/personal_codes.py); answered alike for every number."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.config import Settings
from portal.identity import normalize_fnr
from portal.kv import KeyValueStore
from portal.models import ActorType, Channel, Citizen
from portal.services import login, personal_codes
from portal.services.audit import Actor, record

RESETS_PER_CONVERSATION_PER_HOUR = 3
RESETS_PER_NUMBER_PER_DAY = 3


def request(db: Session, store: KeyValueStore, settings: Settings, fnr_text: str, *,
            channel: Channel, conversation_id: str, now: datetime) -> None:
    """Starts a reset for the number's citizen, if they have a code and a mobile."""
    fnr = normalize_fnr(fnr_text, allow_synthetic=settings.allow_synthetic_fnr)
    account = login._digest(settings, "fnr", fnr)
    login._limit(store, "reset-conversation",
                 login._digest(settings, "conversation", channel.value, conversation_id),
                 RESETS_PER_CONVERSATION_PER_HOUR, login.HOUR, now)
    login._limit(store, "reset-fnr", account, RESETS_PER_NUMBER_PER_DAY, login.DAY, now)
    citizen = db.execute(select(Citizen).where(Citizen.fnr == fnr)).scalar_one_or_none()
    why_not = personal_codes.request_reset(db, settings, citizen, now=now)
    record(db, Actor(ActorType.SYSTEM, "login", channel.value), "personal_code.reset_requested",
           at=now, citizen_id=citizen.id if citizen is not None else None,
           detail={"started": why_not is None, "reason": why_not})
    db.commit()


def cancel(db: Session, settings: Settings, *, channel: Channel, conversation_id: str,
           now: datetime) -> bool:
    """AVBRYT from the registered mobile: True when a waiting reset was cancelled."""
    cancelled = personal_codes.cancel_reset_by_phone(db, settings, channel, conversation_id,
                                                     now=now)
    db.commit()
    return cancelled
