"""Choosing and changing a personal code while logged in: the old code first, when there is one."""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy.orm import Session

from portal.config import Settings
from portal.errors import Forbidden, Unauthorized
from portal.kv import KeyValueStore
from portal.models import CitizenSession
from portal.services import login, personal_codes
from portal.services.audit import Actor, record

GRANT_SECONDS = 5 * 60  # a confirmed old code allows one change within five minutes


def _grant_key(settings: Settings, session: CitizenSession) -> str:
    return "personal-code:grant:" + login._digest(settings, "session", str(session.id))


def confirm_old_code(db: Session, store: KeyValueStore, settings: Settings,
                     session: CitizenSession, code: object, *, now: datetime) -> None:
    """Checks the current code (a counted guess, like at login); a match allows one change."""
    citizen = session.citizen
    actor = Actor.citizen(citizen.id, session.channel.value)
    account = login._digest(settings, "fnr", citizen.fnr)
    tries = "otp:change-tries:" + login._digest(settings, "session", str(session.id))
    attempt = login.take_guess(store, login.account_keys(account, tries),
                               login.PERSONAL_CODE_RULES)
    state = personal_codes.state_of(db, citizen.id, now)
    typed = "".join(ch for ch in str(code) if ch.isdigit()) if isinstance(code, str) else ""
    right = state.has_code and typed and personal_codes.matches(state, typed)
    if right and attempt.tries <= login.MAX_PERSONAL_CODE_TRIES:
        login.clear_failures(store, account)
        store.delete(tries)
        store.set(_grant_key(settings, session), json.dumps({"citizen_id": citizen.id}),
                  GRANT_SECONDS)
        record(db, actor, "personal_code.confirmed", at=now, citizen_id=citizen.id)
        db.commit()
        return
    record(db, actor, "personal_code.confirm_failed", at=now, citizen_id=citizen.id,
           detail={"failures": attempt.failures})
    db.commit()
    raise Unauthorized("That is not your personal code.", code="wrong_personal_code",
                       details={"attempts_left": max(0, login.MAX_PERSONAL_CODE_TRIES
                                                     - attempt.tries)})


def choose_code(db: Session, store: KeyValueStore, settings: Settings,
                session: CitizenSession, code: object, *, now: datetime) -> None:
    """Sets a new code: right away when the citizen has none, else after `confirm_old_code`."""
    citizen = session.citizen
    state = personal_codes.state_of(db, citizen.id, now)
    grant = _grant_key(settings, session)
    if state.has_code and store.get(grant) is None:
        raise Forbidden("Confirm the current personal code first.", code="old_code_required")
    personal_codes.set_code(db, citizen, code,
                            actor=Actor.citizen(citizen.id, session.channel.value), now=now)
    store.delete(grant)
    db.commit()
