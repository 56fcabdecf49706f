"""Draining the SMS outbox: claim due rows, hand them to Twilio, track their statuses."""
from __future__ import annotations

import enum
import logging
import random
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from typing import Callable, List, Optional, Tuple

import requests
import urllib3
from sqlalchemy import and_, case, or_, select, true, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from twilio.base.exceptions import TwilioRestException

from portal import correlation, metrics
from portal.clock import Clock
from portal.models import OutboundSms, SmsIdentity
from portal.sms.outbox import EXPIRED, PENDING

log = logging.getLogger(__name__)

SENDING = "sending"  # claimed by a worker until lease_until (or Twilio's "sending", with a sid)
REJECTED = "rejected"
OPTED_OUT_AT_TWILIO = "21610"
FAILED = "failed"
MASKED_BODY = "[Innhold skjult etter sending]"
DEFAULT_BATCH = 20

# Twilio's message statuses by how far along they are; rank 4 is final.
STATUS_RANK = {"accepted": 1, "queued": 1, "scheduled": 1, "sending": 2, "sent": 3,
               "delivered": 4, "undelivered": 4, "failed": 4, "canceled": 4, "read": 4}
# 401 is a credentials problem, not the message's: retry while someone fixes the settings.
RETRYABLE_HTTP = {401, 408, 429}

# Failures after which Twilio may have created the message all the same: before sending
# again, ask Twilio (a sender's `find`) whether it did. A lease that ran out while `sending`
# (the sender died, or hung) is one too.
AMBIGUOUS_ERRORS = {"timeout", "network", "lookup_failed"}

Send = Callable[[OutboundSms], Tuple[str, str]]
_rng = random.Random()


@dataclass(frozen=True)
class SendPolicy:
    """How hard to try: attempts, back-off, a claim's lease and the HTTP timeout."""

    max_attempts: int = 8
    base_delay: float = 2.0
    max_delay: float = 300.0
    lease_seconds: float = 60.0
    request_timeout: float = 15.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 < self.request_timeout < self.lease_seconds:
            # Otherwise a slow but live sender could lose its lease and the SMS go out twice.
            raise ValueError("request_timeout must be positive and shorter than lease_seconds")

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)

    def backoff(self, attempts: int, rng: random.Random) -> timedelta:
        """The wait after the `attempts`-th failed try: exponential, with equal jitter."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(attempts - 1, 30))
        return timedelta(seconds=ceiling / 2 + rng.uniform(0, ceiling / 2))


DEFAULT_POLICY = SendPolicy()


@dataclass
class DrainResult:
    """What one or more passes over the outbox did."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    rejected: int = 0
    failed: int = 0
    skipped: int = 0

    def __add__(self, other: "DrainResult") -> "DrainResult":
        return DrainResult(*(getattr(self, f.name) + getattr(other, f.name)
                             for f in fields(self)))

    def summary(self) -> str:
        return ", ".join(f"{getattr(self, f.name)} {f.name}" for f in fields(self))


class CallbackResult(str, enum.Enum):
    APPLIED = "applied"
    STALE = "stale"  # not a step forward: kept the stored status
    UNKNOWN_SID = "unknown_sid"
    UNKNOWN_STATUS = "unknown_status"


def _claimable(now: datetime):
    """Never sent, not expired, and either due or held by a sender whose lease ran out."""
    return and_(OutboundSms.provider_sid.is_(None),
                or_(OutboundSms.expires_at.is_(None), OutboundSms.expires_at > now), or_(
        and_(OutboundSms.status == PENDING, OutboundSms.next_attempt_at <= now),
        and_(OutboundSms.status == SENDING, OutboundSms.lease_until < now)))


def _ambiguous(status: str, error_code: Optional[str]) -> bool:
    """Whether an earlier attempt at a row may have reached Twilio."""
    return (status == SENDING or error_code in AMBIGUOUS_ERRORS
            or bool(error_code and error_code.isdigit() and 500 <= int(error_code) < 600)
            or bool(error_code and error_code.startswith("205")))  # Twilio's 20500 family


def _expire(db: Session, now: datetime) -> int:
    """One-time codes past their expiry are never sent: marked `expired`, the body dropped."""
    result = db.execute(
        update(OutboundSms)
        .where(OutboundSms.provider_sid.is_(None), OutboundSms.expires_at <= now,
               or_(OutboundSms.status == PENDING,
                   and_(OutboundSms.status == SENDING, OutboundSms.lease_until < now)))
        .values(status=EXPIRED, lease_until=None, updated_at=now, body=_masked_if_sensitive())
        .execution_options(synchronize_session=False))
    if result.rowcount:
        log.warning("%d SMS expired before they could be sent", result.rowcount)
    return result.rowcount


def _masked_if_sensitive():
    return case((OutboundSms.sensitive == true(), MASKED_BODY), else_=OutboundSms.body)


def _fail_exhausted_leases(db: Session, now: datetime, policy: SendPolicy) -> int:
    """Crashed senders that used the last attempt: fail the row instead of looping forever."""
    result = db.execute(
        update(OutboundSms)
        .where(OutboundSms.provider_sid.is_(None), OutboundSms.status == SENDING,
               OutboundSms.lease_until < now, OutboundSms.attempts >= policy.max_attempts)
        .values(status=FAILED, error_code="lease_expired", lease_until=None, updated_at=now,
                body=_masked_if_sensitive())
        .execution_options(synchronize_session=False))
    if result.rowcount:
        log.warning("%d SMS failed: their sender died on the last attempt", result.rowcount)
    return result.rowcount


def claim_due(db: Session, now: datetime, limit: int = DEFAULT_BATCH, *,
              policy: SendPolicy = DEFAULT_POLICY) -> List[OutboundSms]:
    """Claims up to `limit` due rows for this sender (`sending` until the lease) and commits."""
    _expire(db, now)
    _fail_exhausted_leases(db, now, policy)
    query = (select(OutboundSms.id, OutboundSms.status, OutboundSms.error_code)
             .where(_claimable(now))
             .order_by(OutboundSms.next_attempt_at, OutboundSms.id).limit(limit))
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed, ambiguous = [], set()
    for row_id, status, error_code in db.execute(query).all():
        # Conditional: a row another sender claimed meanwhile no longer matches.
        result = db.execute(
            update(OutboundSms).where(OutboundSms.id == row_id, _claimable(now))
            .values(status=SENDING, lease_until=now + policy.lease,
                    attempts=OutboundSms.attempts + 1, updated_at=now)
            .execution_options(synchronize_session=False))
        if result.rowcount == 1:
            claimed.append(row_id)
            if _ambiguous(status, error_code):
                ambiguous.add(row_id)
    rows = list(db.execute(
        select(OutboundSms).where(OutboundSms.id.in_(claimed)).order_by(OutboundSms.id)
        .execution_options(populate_existing=True)).scalars()) if claimed else []
    for row in rows:
        row.check_provider_first = row.id in ambiguous  # read by send_claimed
    db.commit()
    return rows


def _classify(exc: BaseException) -> Optional[Tuple[bool, str]]:
    """(retryable, error code) for a failed send; None when it is not a sending error."""
    if isinstance(exc, TwilioRestException):
        return exc.status in RETRYABLE_HTTP or exc.status >= 500, str(exc.code or exc.status)
    if isinstance(exc, LookupFailed):
        return True, "lookup_failed"
    if isinstance(exc, requests.Timeout):
        return True, "timeout"
    if isinstance(exc, (requests.RequestException, urllib3.exceptions.HTTPError,
                        ConnectionError)):
        return True, "network"
    return None


def _finish(db: Session, row: OutboundSms, **values) -> bool:
    """Records a send's outcome unless the row is no longer this sender's to finish."""
    result = db.execute(
        update(OutboundSms)
        .where(OutboundSms.id == row.id, OutboundSms.status == SENDING,
               OutboundSms.provider_sid.is_(None))
        .values(**values).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    for name, value in values.items():
        set_committed_value(row, name, value)
    if "status" in values:  # the transcript's delivery status follows the outbox
        from portal.conversations.service import follow_status

        follow_status(db, row.id, values["status"])
    return True


def _accepted(db: Session, row: OutboundSms, sid: str, status: str, now: datetime) -> str:
    values = dict(status=status or "queued", provider_sid=sid, lease_until=None,
                  error_code=None, updated_at=now)
    if row.sensitive:
        values["body"] = MASKED_BODY
    if not _finish(db, row, **values):
        log.error("SMS %s went out as %s after another sender had finished it", row.id, sid)
        return "skipped"
    return "sent"


def _not_accepted(db: Session, row: OutboundSms, retryable: bool, code: str, now: datetime,
                  policy: SendPolicy, rng: random.Random) -> str:
    if retryable and row.attempts < policy.max_attempts:
        outcome, values = "retrying", dict(
            status=PENDING, next_attempt_at=now + policy.backoff(row.attempts, rng))
    else:
        outcome = "failed" if retryable else "rejected"
        values = dict(status=FAILED if retryable else REJECTED)
        if row.sensitive:
            values["body"] = MASKED_BODY  # never sent again: the code need not be kept
    values.update(lease_until=None, error_code=code, updated_at=now)
    if code == OPTED_OUT_AT_TWILIO:  # the number sent STOP to Twilio itself: respect it here too
        db.execute(update(SmsIdentity).where(SmsIdentity.phone == row.to_number,
                                             SmsIdentity.opted_out_at.is_(None))
                   .values(opted_out_at=now).execution_options(synchronize_session=False))
    log.warning("SMS %s attempt %d not accepted (%s): %s", row.id, row.attempts, code, outcome)
    return outcome if _finish(db, row, **values) else "skipped"


class LookupFailed(requests.RequestException):
    """Twilio could not say whether an earlier attempt went out: retried, never sent blindly."""


def _sent_before(db: Session, row: OutboundSms, send: Send) -> Optional[Tuple[str, str]]:
    """After an attempt that may have reached Twilio: the message it created, if it did."""
    find = getattr(send, "find", None)
    if not getattr(row, "check_provider_first", False) or find is None:
        return None
    try:
        candidates = find(row)
    except Exception as exc:  # noqa: BLE001 - a failed look-up must not become a resend
        if _classify(exc) is None:
            raise
        raise LookupFailed(str(exc)) from exc
    taken = set(db.execute(select(OutboundSms.provider_sid).where(
        OutboundSms.provider_sid.in_([sid for sid, _ in candidates]))).scalars()
                ) if candidates else set()
    db.commit()  # hold no transaction (on SQLite: no write lock) while Twilio is called
    for sid, status in candidates:
        if sid in taken:
            continue  # another row's message with the same text
        log.info("SMS %s had gone out as %s before: not sent again", row.id, sid)
        return sid, status
    return None


def send_claimed(db: Session, rows: List[OutboundSms], send: Send, *, clock: Clock,
                 policy: SendPolicy = DEFAULT_POLICY,
                 rng: Optional[random.Random] = None) -> DrainResult:
    """Sends claimed rows one at a time, committing each outcome before the next send."""
    result = DrainResult(claimed=len(rows))
    for row in rows:
        with correlation.bound(row.correlation_id):
            outcome = _send_one(db, row, send, clock=clock, policy=policy, rng=rng)
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def _send_one(db: Session, row: OutboundSms, send: Send, *, clock: Clock, policy: SendPolicy,
              rng: Optional[random.Random]) -> str:
    """One claimed row: sent, retried later, failed or skipped; logged and counted."""
    purpose = row.purpose
    remaining = row.lease_until - clock.now() if row.lease_until else timedelta(0)
    if (row.provider_sid is not None or row.status != SENDING
            or remaining <= timedelta(seconds=policy.request_timeout)):
        return "skipped"  # already sent, or too little lease left: reclaimed later
    try:
        found = _sent_before(db, row, send)
        sid, status = found if found is not None else send(row)
    except Exception as exc:  # noqa: BLE001 - classified; anything else re-raised
        verdict = _classify(exc)
        if verdict is None:
            raise
        outcome = _not_accepted(db, row, *verdict, clock.now(), policy, rng or _rng)
    else:
        outcome = _accepted(db, row, sid, status, clock.now())
        if outcome == "sent":
            log.info("SMS %s handed to Twilio as %s", row.id, sid,
                     extra={"outbox_id": row.id, "provider_sid": sid})
    db.commit()
    metrics.SMS_SENDS.labels(outcome, purpose).inc()
    if outcome in ("retrying", "failed", "rejected") and row.error_code:
        metrics.SMS_ERRORS.labels(row.error_code).inc()
    return outcome


def drain(portal, now: Optional[datetime] = None, *, send: Optional[Send] = None,
          policy: SendPolicy = DEFAULT_POLICY, limit: int = DEFAULT_BATCH,
          rng: Optional[random.Random] = None) -> DrainResult:
    """One pass of the outbox worker: claim what is due at `now`, then send it."""
    # `portal`: the `Portal` of `portal.bootstrap`. `send` defaults to Twilio per the settings.
    if send is None:  # before claiming: a configuration error must not strand claimed rows
        from portal.sms.twilio_client import TwilioSender

        send = TwilioSender(portal.settings, timeout=policy.request_timeout)
    with portal.sessions() as db:
        rows = claim_due(db, now or portal.clock.now(), limit, policy=policy)
        return send_claimed(db, rows, send, clock=portal.clock, policy=policy, rng=rng)


def apply_status_callback(db: Session, message_sid: str, status: str,
                          error_code: Optional[str] = None, *,
                          now: Optional[datetime] = None) -> CallbackResult:
    """Applies a Twilio status callback, moving the stored status forward only; commits."""
    status = (status or "").strip().lower()
    rank = STATUS_RANK.get(status)
    if rank is None:
        log.warning("Status callback for %s with an unknown status %r", message_sid, status)
        return CallbackResult.UNKNOWN_STATUS
    values = {"status": status, "updated_at": now or datetime.now(timezone.utc)}
    if error_code and status in ("failed", "undelivered"):
        values["error_code"] = str(error_code)[:20]
    earlier = [name for name, r in STATUS_RANK.items() if r < rank]
    result = db.execute(
        update(OutboundSms)
        .where(OutboundSms.provider_sid == message_sid, OutboundSms.status.in_(earlier))
        .values(**values).execution_options(synchronize_session=False))
    known = result.rowcount or db.execute(
        select(OutboundSms.id).where(OutboundSms.provider_sid == message_sid)).first()
    db.commit()
    if result.rowcount:
        return CallbackResult.APPLIED
    if known:
        return CallbackResult.STALE
    log.warning("Status callback for an unknown message sid %s (%s)", message_sid, status)
    return CallbackResult.UNKNOWN_SID
