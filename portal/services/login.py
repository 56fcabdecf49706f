"""Login by one-time code sent by SMS.

The portal owns every rule: codes from `secrets`, stored only as keyed hashes, valid 10 minutes,
single use, at most 5 tries per code, per-account failure counting that a new code does not
reset, growing back-off and a lock, and at most 5 codes per fødselsnummer and per mobile per
10 minutes. Requesting a code answers the same for known and unknown numbers.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.config import Settings
from portal.errors import RateLimited, Unauthorized
from portal.identity import normalize_fnr
from portal.kv import KeyValueStore
from portal.models import ActorType, Channel, Citizen, CitizenSession, Language
from portal.services.audit import Actor, record
from portal.services.sessions import start_session
from portal.sms import outbox

CODE_TTL = 10 * 60
MAX_TRIES_PER_CODE = 5
MAX_CODES_PER_WINDOW = 5
CODE_WINDOW = 10 * 60
FAILURE_MEMORY = 30 * 24 * 3600
BACKOFF_FREE_FAILURES = 3
MAX_BACKOFF = 15 * 60
LOCK_AFTER_FAILURES = 20
LOCK_SECONDS = 60 * 60

CODE_SMS = {
    Language.NB: "Engangskoden din er {code}. Den gjelder i 10 minutter. Ikke del den med "
                 "noen. Hilsen {municipality}",
    Language.NN: "Eingongskoden din er {code}. Han gjeld i 10 minutt. Ikkje del han med "
                 "nokon. Helsing {municipality}",
    Language.EN: "Your one-time code is {code}. It is valid for 10 minutes. Do not share it. "
                 "{municipality}",
}


@dataclass(frozen=True)
class Login:
    token: str
    session: CitizenSession
    citizen: Citizen


def _digest(settings: Settings, *parts: str) -> str:
    message = "\x1f".join(parts).encode()
    return hmac.new(settings.identity_key.encode(), message, hashlib.sha256).hexdigest()


def _challenge_key(settings: Settings, channel: Channel, conversation_id: str) -> str:
    return "otp:challenge:" + _digest(settings, "conversation", channel.value, conversation_id)


def backoff_seconds(failures: int) -> int:
    """No wait for the first few failures, then doubling waits up to a cap."""
    if failures <= BACKOFF_FREE_FAILURES:
        return 0
    return min(MAX_BACKOFF, 2 ** (failures - BACKOFF_FREE_FAILURES))


def request_code(db: Session, store: KeyValueStore, settings: Settings, fnr_text: str, *,
                 channel: Channel, conversation_id: str, now: datetime) -> None:
    """Sends a code to the mobile registered for the number, if any; answers the same either way."""
    fnr = normalize_fnr(fnr_text, allow_synthetic=settings.allow_synthetic_fnr)
    account = _digest(settings, "fnr", fnr)
    if store.incr(f"otp:codes:fnr:{account}", CODE_WINDOW) > MAX_CODES_PER_WINDOW:
        raise RateLimited("Too many codes requested; wait a few minutes.",
                          code="too_many_codes",
                          details={"retry_after_seconds": store.ttl(f"otp:codes:fnr:{account}")})
    citizen = db.execute(select(Citizen).where(Citizen.fnr == fnr)).scalar_one_or_none()
    code = f"{secrets.randbelow(10 ** 6):06d}"
    deliverable = citizen is not None and citizen.mobile is not None
    if deliverable:
        mobile_key = "otp:codes:mobile:" + _digest(settings, "mobile", citizen.mobile)
        if store.incr(mobile_key, CODE_WINDOW) > MAX_CODES_PER_WINDOW:
            raise RateLimited("Too many codes requested; wait a few minutes.",
                              code="too_many_codes",
                              details={"retry_after_seconds": store.ttl(mobile_key)})
    # Unknown numbers get a challenge too (one no code can match), so verification
    # behaves identically whether or not the number belongs to anyone.
    challenge = {
        "account": account,
        "citizen_id": citizen.id if deliverable else None,
        "code": _digest(settings, "code", account, code),
    }
    key = _challenge_key(settings, channel, conversation_id)
    store.set(key, json.dumps(challenge), CODE_TTL)
    store.delete(f"otp:tries:{key}")  # a new code gets its own tries; account failures stay
    if deliverable:
        body = CODE_SMS[citizen.language].format(code=code,
                                                 municipality=settings.municipality_name)
        outbox.enqueue(db, to=citizen.mobile, body=body, purpose="otp", now=now,
                       citizen_id=citizen.id, sensitive=True, deliver=settings.twilio_configured)
    if citizen is not None:
        record(db, Actor(ActorType.SYSTEM, "login", channel.value), "login.code_requested",
               at=now, citizen_id=citizen.id,
               detail={"sent": deliverable, "reason": None if deliverable else "no_mobile"})
    db.commit()


def verify_code(db: Session, store: KeyValueStore, settings: Settings, code_text: str, *,
                channel: Channel, conversation_id: str, now: datetime) -> Login:
    """Checks a code typed in a conversation; a match opens a session bound to it."""
    key = _challenge_key(settings, channel, conversation_id)
    raw = store.get(key)
    if raw is None:
        raise Unauthorized("No valid code for this conversation; ask for a new one.",
                           code="code_expired")
    challenge = json.loads(raw)
    account = challenge["account"]
    lock_key, backoff_key = f"otp:lock:{account}", f"otp:backoff:{account}"
    if store.get(lock_key):
        raise RateLimited("Too many failed attempts; login is locked for a while.",
                          code="login_locked",
                          details={"retry_after_seconds": store.ttl(lock_key)})
    if store.get(backoff_key):
        raise RateLimited("Wait a little before trying again.", code="login_backoff",
                          details={"retry_after_seconds": store.ttl(backoff_key)})
    tries = store.incr(f"otp:tries:{key}", CODE_TTL)
    if tries > MAX_TRIES_PER_CODE:
        store.delete(key)
        raise Unauthorized("Too many tries for this code; ask for a new one.",
                           code="code_expired")
    code = "".join(ch for ch in str(code_text) if ch.isdigit())
    matches = hmac.compare_digest(_digest(settings, "code", account, code), challenge["code"])
    citizen_id = challenge["citizen_id"]
    if matches and citizen_id is not None and store.delete(key):
        store.delete(f"otp:failures:{account}")
        citizen = db.get(Citizen, citizen_id)
        token, session = start_session(db, citizen, channel=channel,
                                       conversation_id=conversation_id, now=now,
                                       idle_minutes=settings.session_idle_minutes)
        record(db, Actor.citizen(citizen.id, channel.value), "login.success", at=now,
               citizen_id=citizen.id)
        db.commit()
        return Login(token, session, citizen)
    failures = store.incr(f"otp:failures:{account}", FAILURE_MEMORY)
    if failures >= LOCK_AFTER_FAILURES:
        store.set(lock_key, "1", LOCK_SECONDS)
    elif backoff_seconds(failures):
        store.set(backoff_key, "1", backoff_seconds(failures))
    if citizen_id is not None:
        record(db, Actor(ActorType.SYSTEM, "login", channel.value), "login.failed", at=now,
               citizen_id=citizen_id, detail={"failures": failures})
        db.commit()
    raise Unauthorized("Wrong code.", code="wrong_code",
                       details={"attempts_left": MAX_TRIES_PER_CODE - tries})
