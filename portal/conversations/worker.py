"""The turn worker: claims conversations with logged SMS and runs their turns, in order.
A worker process runs several of them in threads (`run_workers`), one conversation each.

One conversation is worked on by one worker at a time: a lease on the conversation row
(claimed with FOR UPDATE SKIP LOCKED on PostgreSQL, a conditional UPDATE everywhere). A
crashed worker's lease expires and another worker takes over; the gateway channel runs a
message id at most once, so nothing is run or sent twice. Keywords (STOPP, START, HJELP, MER,
numbered choices, pictures) are answered before NLU. A conversation a person owns never
reaches Rasa. A Rasa server that is down or slow delays turns: the worker fails over to the
next server and then retries with back-off, keeping the conversation's order.
"""
from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional, Sequence, Tuple

import requests
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from portal import correlation, metrics
from portal.texts.language import detect
from portal.conversations import service
from portal.models import Conversation, InboundSms, SmsIdentity
from portal.privacy import redact_citizen_text
from portal.conversations import sms_inbox as sms_state
from portal.sms import gsm as sms_format
from portal.texts import sms as texts
from portal.texts.keywords import (HELP_WORDS, START_WORDS, STOP_WORDS, is_more_request,
                                   keyword)

log = logging.getLogger(__name__)

RECEIVED, PROCESSED = "received", "processed"


@dataclass(frozen=True)
class TurnPolicy:
    lease_seconds: float = 60.0
    request_timeout: float = 20.0
    first_backoff: float = 0.5
    max_backoff: float = 30.0

    def __post_init__(self) -> None:
        if self.request_timeout >= self.lease_seconds:
            raise ValueError("the Rasa timeout must be shorter than the lease")

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.max_backoff,
                                     self.first_backoff * 2 ** max(0, attempts - 1)))


class RasaUnavailable(Exception):
    """No Rasa server ran the turn (all down, slow or failing)."""


@dataclass
class RasaPool:
    """The Rasa servers' gateway channels; a conversation goes to the server its key hashes
    to, and to the next ones when that one is down."""

    urls: Sequence[str]
    token: str
    timeout: float = 20.0
    http: requests.Session = field(default_factory=requests.Session)

    def order(self, key: str) -> List[str]:
        start = int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(self.urls)
        return [*self.urls[start:], *self.urls[:start]]

    def turn(self, key: str, text: str, message_id: str, channel: str = "sms") -> Dict:
        errors = []
        call = {"sender": key, "message": text, "message_id": message_id, "channel": channel}
        headers = {"Authorization": f"Bearer {self.token}"}
        if correlation.current():
            call["correlation_id"] = headers[correlation.HEADER] = correlation.current()
        for url in self.order(key):
            try:
                answer = self.http.post(
                    f"{url.rstrip('/')}/webhooks/gateway/turn", timeout=self.timeout,
                    json=call, headers=headers)
            except requests.RequestException as exc:
                errors.append(f"{url}: {type(exc).__name__}")
                continue
            if answer.status_code == 200:
                return answer.json()
            errors.append(f"{url}: HTTP {answer.status_code}")
        raise RasaUnavailable("; ".join(errors))


@dataclass
class Plan:
    """What to do with one inbound SMS, decided before anything is changed."""

    kind: str  # turn | reply | person
    text: str = ""
    action: Optional[str] = None
    language: str = "nb"
    opt: Optional[bool] = None  # set the opt-out to this
    take: Optional[str] = None  # "choice" or "more": clear that state when committing
    ignore_opt_out: bool = False
    any_owner: bool = False  # sent even while a person owns the conversation


def plan(db: Session, row: InboundSms, conv: Conversation) -> Plan:
    body, language = row.body.strip(), detect(row.body, conv.language)
    word = keyword(body)
    identity = db.get(SmsIdentity, row.sender_key)
    if word in STOP_WORDS:
        return Plan("reply", texts.OPTED_OUT[language], "keyword:stopp", language, opt=True,
                    ignore_opt_out=True, any_owner=True)
    if word in START_WORDS:
        return Plan("reply", texts.OPTED_IN[language], "keyword:start", language, opt=False,
                    any_owner=True)
    if conv.owner_staff_id is not None:
        return Plan("person", language=language)
    if row.num_media:
        return Plan("reply", texts.TEXT_ONLY[language], "keyword:media", language)
    if word in HELP_WORDS:
        return Plan("reply", texts.HELP[language], "keyword:hjelp", language)
    if is_more_request(body):
        rest = identity.more_text if identity else None
        return Plan("reply", rest or texts.NOTHING_MORE[language], "keyword:mer", language,
                    take="more")
    if identity is not None and identity.choices:
        payload = sms_format.choice_payload(body, [{"payload": p} for p in identity.choices])
        if payload is not None:
            return Plan("turn", payload, language=language, take="choice")
    return Plan("turn", body, language=language)


class TurnWorker:
    def __init__(self, portal, pool: RasaPool, policy: TurnPolicy = TurnPolicy(),
                 worker_id: Optional[str] = None):
        self.portal, self.pool, self.policy = portal, pool, policy
        self.id = worker_id or f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.turns = 0

    def now(self) -> datetime:
        return self.portal.clock.now()

    # --- claiming
    def claim(self) -> Optional[int]:
        """Claims one conversation with a due logged SMS; its id, or None."""
        now = self.now()
        with self.portal.sessions() as db:
            # Due: the conversation's OLDEST unhandled SMS is due (later ones wait behind it).
            heads = (select(func.min(InboundSms.id)).where(InboundSms.status == RECEIVED)
                     .group_by(InboundSms.conversation_id))
            due = select(InboundSms.conversation_id).where(
                InboundSms.id.in_(heads), InboundSms.next_attempt_at <= now)
            free = or_(Conversation.lease_until.is_(None), Conversation.lease_until < now)
            query = (select(Conversation.id).where(Conversation.id.in_(due), free)
                     .order_by(Conversation.last_message_at).limit(5))
            if db.bind.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            for conversation_id in db.execute(query).scalars().all():
                claimed = db.execute(
                    update(Conversation).where(Conversation.id == conversation_id, free)
                    .values(lease_owner=self.id, lease_until=now + self.policy.lease)
                    .execution_options(synchronize_session=False))
                if claimed.rowcount:
                    db.commit()
                    return conversation_id
            db.commit()
        return None

    def _still_mine(self, db: Session, conversation_id: int) -> bool:
        """Fences a commit: extends the lease only if this worker still holds it."""
        now = self.now()
        kept = db.execute(
            update(Conversation).where(Conversation.id == conversation_id,
                                       Conversation.lease_owner == self.id,
                                       Conversation.lease_until >= now)
            .values(lease_until=now + self.policy.lease)
            .execution_options(synchronize_session=False))
        return bool(kept.rowcount)

    def _release(self, conversation_id: int) -> None:
        with self.portal.sessions() as db:
            db.execute(update(Conversation).where(Conversation.id == conversation_id,
                                                  Conversation.lease_owner == self.id)
                       .values(lease_owner=None, lease_until=None)
                       .execution_options(synchronize_session=False))
            db.commit()

    # --- working one conversation
    def work(self, conversation_id: int) -> int:
        """Handles the conversation's due SMS in order; returns how many were handled."""
        handled = 0
        try:
            while True:
                outcome = self._next(conversation_id)
                if outcome is None:
                    return handled
                handled += outcome
        finally:
            self._release(conversation_id)

    def _next(self, conversation_id: int) -> Optional[int]:
        """Handles the oldest logged SMS; 1 when done, None when nothing (more) is due now."""
        with correlation.bound(None):
            return self._next_observed(conversation_id)

    def _next_observed(self, conversation_id: int) -> Optional[int]:
        """_next with the message's correlation id bound and its outcome counted."""
        with self.portal.sessions() as db:
            row = db.execute(select(InboundSms).where(
                InboundSms.conversation_id == conversation_id, InboundSms.status == RECEIVED)
                .order_by(InboundSms.id).limit(1)).scalar_one_or_none()
            if row is None or (row.next_attempt_at and row.next_attempt_at > self.now()):
                return None  # empty, or backing off: later messages wait (order)
            correlation.bind(row.correlation_id)
            conv = db.get(Conversation, conversation_id)
            decided = plan(db, row, conv)
            inbound_id, key, sid = row.id, row.sender_key, row.message_sid
            db.rollback()
        started = time.perf_counter()
        log.info("turn worker takes SMS %s (%s)", inbound_id, decided.kind,
                 extra={"inbound_id": inbound_id, "plan": decided.kind})
        answer: Dict[str, Any] = {}
        if decided.kind == "turn":
            try:
                answer = self.pool.turn(key, decided.text, sid)
            except RasaUnavailable as exc:
                self._back_off(conversation_id, inbound_id, str(exc))
                metrics.TURNS.labels("turn-worker", "sms", "delayed").inc()
                return None
        done = self._commit(conversation_id, inbound_id, decided, answer)
        outcome = {None: "lease_lost", 0: "duplicate"}.get(done, decided.kind)
        metrics.TURNS.labels("turn-worker", "sms", outcome).inc()
        metrics.TURN_SECONDS.labels("turn-worker", "sms").observe(time.perf_counter() - started)
        log.info("turn worker finished SMS %s: %s", inbound_id, outcome,
                 extra={"inbound_id": inbound_id, "outcome": outcome})
        return done

    def _back_off(self, conversation_id: int, inbound_id: int, why: str) -> None:
        with self.portal.sessions() as db:
            if not self._still_mine(db, conversation_id):
                db.rollback()
                return
            row = db.get(InboundSms, inbound_id)
            row.attempts += 1
            row.next_attempt_at = self.now() + self.policy.backoff(row.attempts)
            db.commit()
            log.warning("turn for SMS %s delayed (attempt %s): %s", inbound_id, row.attempts,
                        why)

    def _commit(self, conversation_id: int, inbound_id: int, decided: Plan,
                answer: Dict[str, Any]) -> Optional[int]:
        """Records the replies, queues the SMS and marks the message handled: one transaction."""
        now = self.now()
        with self.portal.sessions() as db:
            if not self._still_mine(db, conversation_id):
                db.rollback()
                log.warning("lease on conversation %s lost; another worker goes on",
                            conversation_id)
                return None
            row = db.get(InboundSms, inbound_id)
            if row.status != RECEIVED:
                db.commit()
                return 0
            conv = db.get(Conversation, conversation_id)
            conv.language = decided.language
            messages: List[Dict[str, Any]] = []
            author = service.BOT_AUTHOR
            if decided.kind == "reply":
                messages, author = [{"text": decided.text, "action": decided.action}], \
                    service.SYSTEM
            elif decided.kind == "turn":
                messages = [m for m in answer.get("messages") or []
                            if m.get("text") or m.get("buttons")]
                prediction = answer.get("prediction") or {}
                if row.transcript_message_id and prediction:
                    service.record_prediction(db, row.transcript_message_id,
                                              prediction.get("intent"),
                                              prediction.get("confidence"),
                                              prediction.get("entities") or [])
            if decided.take == "choice":
                sms_state.take_choice(db, row.sender_key, row.body, commit=False)
            elif decided.take == "more":
                sms_state.take_more(db, row.sender_key, commit=False)
            if decided.opt is False:
                sms_state.set_opted_out(db, row.sender_key, False, now, commit=False)
            allowed = service.record_bot_replies(db, conv, row.transcript_message_id,
                                                 messages, now, author=author,
                                                 check_owner=not decided.any_owner)
            if allowed:
                self._send(db, row.sender_key, messages, decided, allowed)
            if decided.opt is True:
                sms_state.set_opted_out(db, row.sender_key, True, now, commit=False)
            row.status, row.processed_at, row.body = PROCESSED, now, redact_citizen_text(row.body)
            db.commit()
        self.turns += 1
        return 1

    def _send(self, db: Session, key: str, messages: List[Dict[str, Any]], decided: Plan,
              allowed: List[Any]) -> None:
        body = "\n\n".join(m.get("text") or "" for m in messages).strip()
        buttons = [b for m in messages for b in (m.get("buttons") or [])]
        language = decided.language if decided.kind == "reply" else detect(body)
        outbox = sms_state.queue_reply(
            db, self.portal.settings, key, body, now=self.now(), language=language,
            buttons=buttons or None, ignore_opt_out=decided.ignore_opt_out, commit=False)
        for message in allowed:
            service.attach_outbound(message, outbox)
        if outbox is not None:
            log.info("reply queued as outbox SMS %s", outbox.id, extra={"outbox_id": outbox.id})

    # --- the loop
    def run(self, stop: threading.Event, interval: float = 0.2) -> int:
        while not stop.is_set():
            try:
                conversation_id = self.claim()
                if conversation_id is not None:
                    self.work(conversation_id)
                    continue
            except Exception:  # the database went away: try again shortly
                log.exception("turn worker step failed")
            stop.wait(interval)
        return self.turns


def run_workers(workers: Sequence[TurnWorker], stop: threading.Event,
                interval: float = 0.2) -> int:
    """Runs the workers side by side in threads of this process until `stop`; each holds its
    own leases, so one slow turn does not hold up other conversations. The turns they ran."""
    threads = [threading.Thread(target=w.run, args=(stop, interval), name=f"turns-{i}",
                                daemon=True) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(timeout=0.5)
    return sum(w.turns for w in workers)


def rasa_urls_from_env(env=os.environ) -> List[str]:
    urls = [u.strip() for u in (env.get("RASA_URLS") or "").split(",") if u.strip()]
    return urls or [f"http://127.0.0.1:{env.get('RASA_PORT', '5005')}"]
