"""Login by fødselsnummer, personal code and a one-time code sent by SMS.

The login has three steps: the fødselsnummer (`start`), the personal code (`request_code`,
which sends the SMS only when both are right, and answers the same either way) and the code
from the SMS (`verify_code`). A citizen with no personal code yet, or whose reset is due,
leaves the personal code out and chooses one after logging in. A wrong personal code is a
failed guess like a wrong SMS code: it counts per conversation and per account.

The portal owns every rule: codes from `secrets`, stored only as keyed hashes, valid 10 minutes,
single use, at most 5 tries per code, per-account failure counting that a new code does not
reset, growing back-off and a lock (taken atomically in the store, so concurrent guesses cannot
slip past them), and limits on code requests: 5 per fødselsnummer and per mobile per 10 minutes,
a few a day per number, per conversation and per source an hour, and in all per minute and
hour (Settings). Requesting and verifying a code answer, and write the audit log, alike for
known and unknown numbers.
"""
from __future__ import annotations

import dataclasses
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
from portal.services import lock_notice, personal_codes
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
CLOSE_AFTER_FAILURES = 100  # NIST SP 800-63B: then another way in (ID-porten) is needed
MINUTE, HOUR, DAY = 60, 3600, 24 * 3600
RULES = AttemptRules(free_failures=BACKOFF_FREE_FAILURES, max_backoff=MAX_BACKOFF,
                     lock_after=LOCK_AFTER_FAILURES, lock_seconds=LOCK_SECONDS,
                     failure_memory=FAILURE_MEMORY, tries_ttl=CODE_TTL,
                     close_after=CLOSE_AFTER_FAILURES)
# Personal codes: 5 tries per conversation an hour, on top of the account's failures.
MAX_PERSONAL_CODE_TRIES = 5
PERSONAL_CODE_RULES = dataclasses.replace(RULES, tries_ttl=HOUR)

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
    choose_personal_code: bool = False  # no code (first login, or a reset took effect)
    reset_cancelled: bool = False  # logged in with the code while a reset was waiting


def _digest(settings: Settings, *parts: str) -> str:
    message = "\x1f".join(parts).encode()
    return hmac.new(settings.identity_key.encode(), message, hashlib.sha256).hexdigest()


def _challenge_key(settings: Settings, channel: Channel, conversation_id: str) -> str:
    return "otp:challenge:" + _digest(settings, "conversation", channel.value, conversation_id)


def _pending_key(settings: Settings, channel: Channel, conversation_id: str) -> str:
    return "otp:pending:" + _digest(settings, "conversation", channel.value, conversation_id)


def _source_key(settings: Settings, channel: Channel, conversation_id: str) -> str:
    return "otp:source:" + _digest(settings, "conversation", channel.value, conversation_id)


def remember_source(store: KeyValueStore, settings: Settings, channel: Channel,
                    conversation_id: str, source: Optional[str]) -> None:
    """Notes who is behind a conversation (a web client's address), as a keyed hash kept a
    day, so that the code requests of every conversation it opens count together."""
    if source:
        store.set(_source_key(settings, channel, conversation_id),
                  _digest(settings, "source", source), DAY)


def _personal_tries_key(conversation: str, now: datetime) -> str:
    """Personal codes tried in a conversation, counted in fixed hours of the portal's clock."""
    return f"otp:personal-tries:{conversation}:{int(now.timestamp()) // HOUR}"


def account_keys(account: str, tries: str) -> AttemptKeys:
    return AttemptKeys(failures=f"otp:failures:{account}", lock=f"otp:lock:{account}",
                       backoff=f"otp:backoff:{account}", tries=tries)


def take_guess(store: KeyValueStore, keys: AttemptKeys, rules: AttemptRules):
    """Counts one guess (before any comparison); raises while the account waits or is locked."""
    attempt = store.take_attempt(keys, rules)
    if attempt.outcome == "locked":
        raise RateLimited("Too many failed attempts; login is locked for a while.",
                          code="login_locked", details={"retry_after_seconds": attempt.retry_after})
    if attempt.outcome == "backoff":
        raise RateLimited("Wait a little before trying again.", code="login_backoff",
                          details={"retry_after_seconds": attempt.retry_after})
    return attempt


def clear_failures(store: KeyValueStore, account: str) -> None:
    for kind in ("failures", "backoff", "lock"):
        store.delete(f"otp:{kind}:{account}")


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


def start(db: Session, store: KeyValueStore, settings: Settings, fnr_text: str, *,
          channel: Channel, conversation_id: str, now: datetime) -> None:
    """Takes the fødselsnummer of a login; the personal code comes next. The same for every
    valid number: one query, one key in the store, no answer that tells who is registered."""
    fnr = normalize_fnr(fnr_text, allow_synthetic=settings.allow_synthetic_fnr)
    citizen_id = db.execute(select(Citizen.id).where(Citizen.fnr == fnr)).scalar_one_or_none()
    db.rollback()
    pending = {"account": _digest(settings, "fnr", fnr), "citizen_id": citizen_id}
    store.set(_pending_key(settings, channel, conversation_id), json.dumps(pending), CODE_TTL)


def request_code(db: Session, store: KeyValueStore, settings: Settings,
                 personal_code: Optional[str], *, channel: Channel, conversation_id: str,
                 now: datetime, source: Optional[str] = None) -> None:
    """Checks the personal code of the started login and, only when the number and the code
    are both right, sends a one-time code to the registered mobile; answers the same either way.

    `personal_code` is None (or empty) for a citizen who has none yet or whose reset is due.
    `source`: who is asking, where the caller knows it; otherwise the source the gateway
    noted for the conversation (`remember_source`: the web chat client's address). An SMS
    conversation is its sender's number, so its per-conversation limit is the per-source one.
    """
    raw = store.get(_pending_key(settings, channel, conversation_id))
    if raw is None:
        raise Unauthorized("Give the fødselsnummer first; the login has not started or has "
                           "expired.", code="login_not_started")
    pending = json.loads(raw)
    account, citizen_id = pending["account"], pending["citizen_id"]
    conversation = _digest(settings, "conversation", channel.value, conversation_id)
    _limit(store, "conversation", conversation,
           settings.otp_codes_per_conversation_per_hour, HOUR, now)
    source_digest = (_digest(settings, "source", source) if source
                     else store.get(_source_key(settings, channel, conversation_id)))
    if source_digest:
        _limit(store, "source", source_digest, settings.otp_codes_per_source_per_hour, HOUR, now)
    _limit(store, "fnr", account, MAX_CODES_PER_WINDOW, CODE_WINDOW, now)
    _limit(store, "fnr-day", account, settings.otp_codes_per_number_per_day, DAY, now)
    _limit(store, "global-minute", "all", settings.otp_codes_global_per_minute, MINUTE, now)
    _limit(store, "global-hour", "all", settings.otp_codes_global_per_hour, HOUR, now)
    # A personal code is a guess like any other: counted per account before it is compared,
    # and per conversation (5 an hour).
    moment = int(now.timestamp())
    keys = account_keys(account, _personal_tries_key(conversation, now))
    attempt = take_guess(store, keys, PERSONAL_CODE_RULES)
    if attempt.tries > MAX_PERSONAL_CODE_TRIES:
        raise RateLimited("Too many personal codes tried in this conversation.",
                          code="login_locked",
                          details={"retry_after_seconds": HOUR - moment % HOUR})
    # The same queries whoever the number is: an unknown one looks up no one (id -1).
    citizen = db.execute(select(Citizen).where(
        Citizen.id == (citizen_id if citizen_id is not None else -1))).scalar_one_or_none()
    state = personal_codes.state_of(db, citizen_id, now)
    typed = "".join(ch for ch in str(personal_code or "") if ch.isdigit())
    right = personal_codes.matches(state, typed)
    if right:  # only wrong personal codes stay counted as failures
        store.refund_attempt(keys, PERSONAL_CODE_RULES)
    else:
        lock_notice.tell_citizen(db, settings, citizen_id, attempt, PERSONAL_CODE_RULES,
                                 channel=channel.value, now=now)
    code = f"{secrets.randbelow(10 ** 6):06d}"
    deliverable = right and citizen is not None and citizen.mobile is not None
    if deliverable:
        mobile = _digest(settings, "mobile", citizen.mobile)
        _limit(store, "mobile", mobile, MAX_CODES_PER_WINDOW, CODE_WINDOW, now)
        _limit(store, "mobile-day", mobile, settings.otp_codes_per_number_per_day, DAY, now)
    # Unknown numbers and wrong personal codes get a challenge too (one no code can match),
    # so verification behaves identically whatever was wrong.
    challenge = {
        "account": account,
        "citizen_id": citizen.id if deliverable else None,
        "owner_id": citizen.id if citizen is not None else None,  # told if guesses lock it
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
    if citizen is None:
        reason = "unknown"
    elif not right:
        reason = "wrong_personal_code"
    else:
        reason = None if deliverable else "no_mobile"
    # One audit row either way: the log, like the answer, does not tell who is registered.
    record(db, Actor(ActorType.SYSTEM, "login", channel.value), "login.code_requested",
           at=now, citizen_id=citizen.id if citizen is not None else None,
           detail={"sent": deliverable, "reason": reason, "failures": attempt.failures})
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
    # Counted as a failure before the comparison, so that concurrent guesses each meet the
    # back-off and the lock the ones before them set; a success clears the account again.
    attempt = take_guess(store, account_keys(account, f"otp:tries:{key}"), RULES)
    if attempt.tries > MAX_TRIES_PER_CODE:
        store.delete(key)
        raise Unauthorized("Too many tries for this code; ask for a new one.",
                           code="code_expired")
    code = "".join(ch for ch in str(code_text) if ch.isdigit())
    matches = hmac.compare_digest(_digest(settings, "code", account, code), challenge["code"])
    citizen_id = challenge["citizen_id"]
    if matches and citizen_id is not None and store.delete(key):
        clear_failures(store, account)
        conversation = _digest(settings, "conversation", channel.value, conversation_id)
        for done in (_personal_tries_key(conversation, now),
                     _pending_key(settings, channel, conversation_id)):
            store.delete(done)
        citizen = db.get(Citizen, citizen_id)
        actor = Actor.citizen(citizen.id, channel.value)
        token, session = start_session(db, citizen, channel=channel,
                                       conversation_id=conversation_id, now=now,
                                       idle_minutes=settings.session_idle_minutes)
        record(db, actor, "login.success", at=now, citizen_id=citizen.id)
        state = personal_codes.state_of(db, citizen.id, now)
        # Logging in with the code while a reset waits shows the citizen still knows it.
        reset_cancelled = state.reset_pending
        if reset_cancelled:
            personal_codes.cancel_reset(db, settings, state.row, citizen, actor=actor,
                                        reason="login_with_code", now=now)
        personal_codes.apply_due_reset(db, state, actor=actor, now=now)
        db.commit()
        return Login(token, session, citizen, choose_personal_code=not state.has_code,
                     reset_cancelled=reset_cancelled)
    record(db, Actor(ActorType.SYSTEM, "login", channel.value), "login.failed", at=now,
           citizen_id=citizen_id, detail={"failures": attempt.failures})
    lock_notice.tell_citizen(db, settings, challenge.get("owner_id"), attempt, RULES,
                             channel=channel.value, now=now)
    db.commit()
    raise Unauthorized("Wrong code.", code="wrong_code",
                       details={"attempts_left": MAX_TRIES_PER_CODE - attempt.tries})
