"""Login by one-time code sent by SMS.

The portal owns every rule: codes from `secrets`, stored only as keyed hashes, valid 10 minutes,
single use, at most 5 tries per code, per-account failure counting that a new code does not
reset, growing back-off and a lock (taken atomically in the store, so concurrent guesses cannot
slip past them), and limits on code requests: 5 per fødselsnummer and per mobile per 10 minutes,
a few a day per number, per conversation and per source an hour, and in all per minute and
hour (Settings). Requesting and verifying a code answer, and write the audit log, alike for
known and unknown numbers.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.config import Settings
from portal.errors import RateLimited, Unauthorized
from portal.identity import normalize_fnr
from portal import kv
from portal.kv import AttemptKeys, AttemptRules, KeyValueStore
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
RULES = AttemptRules(free_failures=BACKOFF_FREE_FAILURES, max_backoff=MAX_BACKOFF,
                     lock_after=LOCK_AFTER_FAILURES, lock_seconds=LOCK_SECONDS,
                     failure_memory=FAILURE_MEMORY, tries_ttl=CODE_TTL)
MINUTE, HOUR, DAY = 60, 3600, 24 * 3600

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
    return kv.backoff_seconds(failures, RULES)


def _limit(store: KeyValueStore, name: str, subject: str, limit: int, window: int,
           now: datetime) -> None:
    """Counts one code request in the fixed window of `now`; raises once `limit` is passed."""
    moment = int(now.timestamp())
    key = f"otp:limit:{name}:{subject}:{moment // window}"
    if store.incr(key, window + MINUTE) > limit:
        raise RateLimited("Too many codes requested; wait a while.", code="too_many_codes",
                          details={"retry_after_seconds": window - moment % window})


def request_code(db: Session, store: KeyValueStore, settings: Settings, fnr_text: str, *,
                 channel: Channel, conversation_id: str, now: datetime,
                 source: Optional[str] = None) -> None:
    """Sends a code to the mobile registered for the number, if any; answers the same either way.

    `source`: who is asking, where the channel knows it (an SMS sender, a web client address).
    """
    fnr = normalize_fnr(fnr_text, allow_synthetic=settings.allow_synthetic_fnr)
    account = _digest(settings, "fnr", fnr)
    _limit(store, "conversation", _digest(settings, "conversation", channel.value,
                                          conversation_id),
           settings.otp_codes_per_conversation_per_hour, HOUR, now)
    if source:
        _limit(store, "source", _digest(settings, "source", source),
               settings.otp_codes_per_source_per_hour, HOUR, now)
    _limit(store, "fnr", account, MAX_CODES_PER_WINDOW, CODE_WINDOW, now)
    _limit(store, "fnr-day", account, settings.otp_codes_per_number_per_day, DAY, now)
    _limit(store, "global-minute", "all", settings.otp_codes_global_per_minute, MINUTE, now)
    _limit(store, "global-hour", "all", settings.otp_codes_global_per_hour, HOUR, now)
    citizen = db.execute(select(Citizen).where(Citizen.fnr == fnr)).scalar_one_or_none()
    code = f"{secrets.randbelow(10 ** 6):06d}"
    deliverable = citizen is not None and citizen.mobile is not None
    if deliverable:
        mobile = _digest(settings, "mobile", citizen.mobile)
        _limit(store, "mobile", mobile, MAX_CODES_PER_WINDOW, CODE_WINDOW, now)
        _limit(store, "mobile-day", mobile, settings.otp_codes_per_number_per_day, DAY, now)
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
                       citizen_id=citizen.id, sensitive=True, deliver=settings.twilio_configured,
                       key=settings.outbox_key, expires_at=now + timedelta(seconds=CODE_TTL))
    reason = None if deliverable else ("no_mobile" if citizen is not None else "unknown")
    # One audit row either way: the log, like the answer, does not tell who is registered.
    record(db, Actor(ActorType.SYSTEM, "login", channel.value), "login.code_requested",
           at=now, citizen_id=citizen.id if citizen is not None else None,
           detail={"sent": deliverable, "reason": reason})
    db.commit()


def verify_code(db: Session, store: KeyValueStore, settings: Settings, code_text: str, *,
                channel: Channel, conversation_id: str, now: datetime) -> Login:
    """Checks a code typed in a conversation; a match opens a session bound to it.

    Known and unknown numbers take the same steps: one atomic attempt in the store, one
    keyed-hash comparison, one audit row and one commit.
    """
    key = _challenge_key(settings, channel, conversation_id)
    raw = store.get(key)
    if raw is None:
        raise Unauthorized("No valid code for this conversation; ask for a new one.",
                           code="code_expired")
    challenge = json.loads(raw)
    account = challenge["account"]
    keys = AttemptKeys(failures=f"otp:failures:{account}", lock=f"otp:lock:{account}",
                       backoff=f"otp:backoff:{account}", tries=f"otp:tries:{key}")
    # Counted as a failure before the comparison, so that concurrent guesses each meet the
    # back-off and the lock the ones before them set; a success clears the account again.
    attempt = store.take_attempt(keys, RULES)
    if attempt.outcome == "locked":
        raise RateLimited("Too many failed attempts; login is locked for a while.",
                          code="login_locked", details={"retry_after_seconds": attempt.retry_after})
    if attempt.outcome == "backoff":
        raise RateLimited("Wait a little before trying again.", code="login_backoff",
                          details={"retry_after_seconds": attempt.retry_after})
    if attempt.tries > MAX_TRIES_PER_CODE:
        store.delete(key)
        raise Unauthorized("Too many tries for this code; ask for a new one.",
                           code="code_expired")
    code = "".join(ch for ch in str(code_text) if ch.isdigit())
    matches = hmac.compare_digest(_digest(settings, "code", account, code), challenge["code"])
    citizen_id = challenge["citizen_id"]
    if matches and citizen_id is not None and store.delete(key):
        for cleared in (keys.failures, keys.backoff, keys.lock):
            store.delete(cleared)
        citizen = db.get(Citizen, citizen_id)
        token, session = start_session(db, citizen, channel=channel,
                                       conversation_id=conversation_id, now=now,
                                       idle_minutes=settings.session_idle_minutes)
        record(db, Actor.citizen(citizen.id, channel.value), "login.success", at=now,
               citizen_id=citizen.id)
        db.commit()
        return Login(token, session, citizen)
    record(db, Actor(ActorType.SYSTEM, "login", channel.value), "login.failed", at=now,
           citizen_id=citizen_id, detail={"failures": attempt.failures})
    db.commit()
    raise Unauthorized("Wrong code.", code="wrong_code",
                       details={"attempts_left": MAX_TRIES_PER_CODE - attempt.tries})
