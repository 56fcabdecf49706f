"""The real assistant for the SMS benches: portal, action server, N Rasa servers, turn workers
and the SMS worker on PostgreSQL + Redis, the Twilio stand-in as its own process, signed
webhooks, and the checks that nothing was lost, doubled or reordered."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import requests

from assistant.processes import lowered
from bench.common import DEFAULT_DB, ROOT, ensure_postgres, free_port, log, stop_group

STANDIN_TOKEN = "bench-twilio-auth-token"
STANDIN_ACCOUNT = "AC" + "0123456789abcdef" * 2
FROM_NUMBER = "+4759440000"


class StandIn:
    """`python -m tests.twilio_standin` as a separate process (run, not imported): the
    Messages API the SMS worker talks to; `captured()` is every SMS handed to it. It stands for
    Twilio's servers, which share no cores with the assistant: it runs at the lowest priority."""

    def __init__(self, log_path: Path):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.twilio_standin", "--port", str(self.port),
             "--no-validate", "--auth-token", STANDIN_TOKEN, "--account-sid", STANDIN_ACCOUNT],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=lowered(19))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(self.base_url + "/captured", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("the Twilio stand-in did not start")

    def captured(self, since: Optional[int] = None) -> List[Dict[str, Any]]:
        """Every SMS handed to the stand-in, or only those after the first `since`."""
        params = {} if since is None else {"since": str(since)}
        answer = requests.get(self.base_url + "/captured", params=params, timeout=30).json()
        return answer["messages"] if isinstance(answer, dict) else answer

    def stop(self) -> None:
        stop_group(self.proc)
        self.log.close()


class TurnWorker:
    """`assistant turn-worker` as its own process against the given Rasa servers."""

    def __init__(self, env: Dict[str, str], rasa_urls: List[str], log_path: Path, *args: str,
                 niceness: int = 0):
        self.rasa_urls = rasa_urls
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "turn-worker", *args],
            env={**env, "RASA_URLS": ",".join(rasa_urls)}, cwd=ROOT, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=lowered(niceness))

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        stop_group(self.proc)
        self.log.close()


@dataclass
class BenchStack:
    """The assistant in a private PostgreSQL schema, started like `assistant up` with
    TURN_WORKERS=0 (the bench starts its own workers, against the Rasa servers it chooses)."""

    rasa_instances: int = 2
    database_url: str = DEFAULT_DB
    redis_url: str = "redis://127.0.0.1:6379/1"
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bench-stack-")))
    workers: List[TurnWorker] = field(default_factory=list)
    citizens: List[Any] = field(default_factory=list)  # bench.citizens.Citizen, loaded too
    extra_env: Dict[str, str] = field(default_factory=dict)

    def start(self) -> "BenchStack":
        from sqlalchemy import create_engine, text

        from assistant.processes import Supervisor
        from assistant.runtime import Runtime
        from assistant.stack import start_stack

        ensure_postgres(self.database_url)
        self.schema = f"bench_sms_{uuid.uuid4().hex[:8]}"
        admin = create_engine(self.database_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        admin.dispose()
        self.url = f"{self.database_url}?options=-csearch_path%3D{self.schema}"
        self.standin = StandIn(self.work / "twilio-standin.log")
        portal_port, rasa_port = free_port(), free_port()
        while any(_busy(rasa_port + i) for i in range(1, self.rasa_instances)):
            rasa_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
        env.update(
            DATABASE_URL=self.url, REDIS_URL=self.redis_url, ASSISTANT_ENV="demo",
            ASSISTANT_VAR_DIR=str(self.work / "var"), PORTAL_PORT=str(portal_port),
            PUBLIC_BASE_URL=f"http://127.0.0.1:{portal_port}", RASA_PORT=str(rasa_port),
            ACTIONS_PORT=str(free_port()), RASA_INSTANCES=str(self.rasa_instances),
            TURN_WORKERS="0", SMS_QUIET_HOURS="off", TWILIO_AUTH_TOKEN=STANDIN_TOKEN,
            TWILIO_ACCOUNT_SID=STANDIN_ACCOUNT, TWILIO_FROM_NUMBER=FROM_NUMBER,
            TWILIO_API_BASE_URL=self.standin.base_url)
        env.update(self.extra_env)
        self.runtime = Runtime.from_env(env)
        self._seed()
        self.supervisor = Supervisor(self.runtime.child_env(), log_dir=self.work / "logs")
        log(f"starting the stack ({self.rasa_instances} Rasa servers) in {self.work}")
        try:
            start_stack(self.runtime, self.supervisor, model=_model())
        except RuntimeError as exc:  # on a crowded machine Rasa may need more than 180 s
            log(f"{exc}; waiting longer")
            for service in self.supervisor.services:
                self.supervisor.wait_healthy(service, timeout=600)
        return self

    def _seed(self) -> None:
        if self.citizens:
            from bench.citizens import seed_portal

            seed_portal(self.runtime.settings, self.citizens, self.work, seed=1)
            return
        from portal.bootstrap import Portal
        from portal.clock import Clock
        from portal.migrate import upgrade
        from portal.services.demo import load_demo

        portal = Portal(self.runtime.settings, Clock())
        upgrade(portal.engine)
        with portal.sessions() as db:
            load_demo(db, portal.settings, now=portal.clock.now())
            db.commit()
        portal.engine.dispose()

    @property
    def portal_url(self) -> str:
        return self.runtime.portal_url

    @property
    def rasa_urls(self) -> List[str]:
        return self.runtime.rasa_urls

    def start_workers(self, count: int, rasa_urls: Optional[List[str]] = None) -> None:
        env = self.runtime.env_for("turn-worker")
        for _ in range(count):
            index = len(self.workers)
            self.workers.append(TurnWorker(env, rasa_urls or self.rasa_urls,
                                           self.work / f"turn-worker-{index}.log",
                                           niceness=self.runtime.turn_niceness))

    def restart_worker(self, index: int = 0) -> None:
        """SIGKILLs a turn worker and starts a new one in its place."""
        old = self.workers[index]
        old.kill()
        self.workers[index] = TurnWorker(self.runtime.env_for("turn-worker"), old.rasa_urls,
                                         self.work / f"turn-worker-{index}-again.log",
                                         niceness=self.runtime.turn_niceness)

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers = []

    def service(self, name: str):
        return next(s for s in self.supervisor.services if s.name == name)

    def pids(self) -> Dict[str, int]:
        """The pid of every process of the stack, by name."""
        out = {s.name: s.process.pid for s in self.supervisor.services
               if s.process is not None and s.process.poll() is None}
        out.update({f"turn-worker-{i + 1}": w.proc.pid for i, w in enumerate(self.workers)})
        out["twilio-standin"] = self.standin.proc.pid
        return out

    def stop(self) -> None:
        from sqlalchemy import create_engine, text

        self.stop_workers()
        if getattr(self, "supervisor", None):
            self.supervisor.stop()
        if getattr(self, "standin", None):
            self.standin.stop()
        if getattr(self, "schema", None) and not os.environ.get("BENCH_KEEP_SCHEMA"):
            admin = create_engine(self.database_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            admin.dispose()


def _busy(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _model() -> Path:
    from assistant.model import ensure_model

    return ensure_model(ROOT / "var" / "models")


# --------------------------------------------------------------------------------------------
# Webhooks, signed as Twilio signs them


class Webhooks:
    """Signed inbound-SMS webhooks to the portal, one keep-alive session per thread."""

    def __init__(self, stack: BenchStack):
        from twilio.request_validator import RequestValidator

        self.url = stack.runtime.settings.public_base_url + "/webhooks/twilio/sms"
        self.post_url = stack.portal_url + "/webhooks/twilio/sms"
        self.health_url = stack.portal_url + "/health"
        self.validator = RequestValidator(STANDIN_TOKEN)
        self.local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def sms(self, sender: str, body: str, sid: str) -> tuple:
        """(HTTP status, seconds) of one inbound SMS; status 0 when the portal is down."""
        form = {"MessageSid": sid, "SmsSid": sid, "AccountSid": STANDIN_ACCOUNT,
                "From": sender, "To": FROM_NUMBER, "Body": body, "NumMedia": "0"}
        headers = {"X-Twilio-Signature": self.validator.compute_signature(self.url, form)}
        start = time.perf_counter()
        try:
            status = self._session().post(self.post_url, data=form, headers=headers,
                                          timeout=10).status_code
        except requests.RequestException:
            status = 0
        return status, time.perf_counter() - start

    def health(self) -> tuple:
        start = time.perf_counter()
        try:
            status = self._session().get(self.health_url, timeout=10).status_code
        except requests.RequestException:
            status = 0
        return status, time.perf_counter() - start


def new_sid() -> str:
    return "SM" + uuid.uuid4().hex


# --------------------------------------------------------------------------------------------
# What happened to every message: read back from the database and the stand-in


def progress(url: str, sids: List[str]) -> Dict[str, int]:
    """How many of the given inbound SMS are logged and processed, and SMS still unsent."""
    from sqlalchemy import create_engine, text

    engine = _engine(url)
    with engine.connect() as conn:
        logged, processed = conn.execute(text(
            "SELECT count(*), count(*) FILTER (WHERE status <> 'received') FROM inbound_sms "
            "WHERE message_sid = ANY(:sids)"), {"sids": sids}).one()
        unsent = conn.execute(text(
            "SELECT count(*) FROM outbound_sms WHERE status IN ('pending', 'sending')")).scalar()
    return {"logged": logged, "processed": processed, "unsent": unsent}


_ENGINES: Dict[str, Any] = {}


def _engine(url: str):
    from sqlalchemy import create_engine

    if url not in _ENGINES:
        _ENGINES[url] = create_engine(url, pool_size=2, pool_pre_ping=True)
    return _ENGINES[url]


def integrity(url: str, sent: Dict[str, List[str]], captured: List[Dict[str, Any]]
              ) -> Dict[str, Any]:
    """Counts, for the SMS each sender sent (sids in sending order): lost (not logged or not
    processed), answered twice (replies recorded at two moments), handed to Twilio twice
    (stand-in messages no outbox row took as its own), and conversations whose
    replies are out of order (in the database or at the stand-in)."""
    from sqlalchemy import text

    sids = [sid for seq in sent.values() for sid in seq]
    with _engine(url).connect() as conn:
        inbound = {row.message_sid: row for row in conn.execute(text(
            "SELECT message_sid, status, transcript_message_id FROM inbound_sms "
            "WHERE message_sid = ANY(:sids)"), {"sids": sids})}
        replies = defaultdict(set)
        reply_rows = conn.execute(text(
            "SELECT t.id, t.in_reply_to, t.at, t.conversation_id, o.id AS outbox_id "
            "FROM transcript_messages t LEFT JOIN outbound_sms o ON o.id = t.outbound_sms_id "
            "WHERE t.direction = 'out' AND t.in_reply_to IS NOT NULL ORDER BY t.id")).all()
        outbox = conn.execute(text(
            "SELECT id, to_number, body, provider_sid FROM outbound_sms ORDER BY id")).all()
    for row in reply_rows:
        replies[row.in_reply_to].add(row.at)
    lost = [sid for sid in sids if sid not in inbound or inbound[sid].status == "received"]
    twice = sum(1 for sid in sids if sid in inbound
                and len(replies.get(inbound[sid].transcript_message_id, ())) > 1)
    return {"sent": len(sids), "lost": len(lost), "lost_sids": lost[:10],
            "answered_twice": twice, "twilio_twice": _twilio_twice(outbox, captured, set(sent)),
            "out_of_order": _out_of_order(sent, inbound, reply_rows, outbox, captured)}


def webchat_integrity(url: str, sent: Dict[str, int]) -> Dict[str, Any]:
    """The same counts for web chats, by conversation id and how many messages each sent: lost
    (not recorded, or recorded without a reply), recorded twice, answered twice, out of order."""
    from sqlalchemy import text

    with _engine(url).connect() as conn:
        rows = conn.execute(text(
            "SELECT c.sender_key, t.id, t.direction, t.in_reply_to, t.at "
            "FROM transcript_messages t JOIN conversations c ON c.id = t.conversation_id "
            "WHERE c.sender_key = ANY(:keys) ORDER BY t.id"), {"keys": list(sent)}).all()
    received, replies = defaultdict(list), defaultdict(set)
    order = defaultdict(list)
    for row in rows:
        if row.direction == "in":
            received[row.sender_key].append(row.id)
        elif row.in_reply_to is not None:
            replies[row.in_reply_to].add(row.at)
            order[row.sender_key].append(row.in_reply_to)
    lost = sum(max(0, count - len(received[key])) for key, count in sent.items())
    lost += sum(1 for ids in received.values() for i in ids if i not in replies)
    return {"sent": sum(sent.values()), "lost": lost,
            "recorded_twice": sum(max(0, len(received[key]) - count)
                                  for key, count in sent.items()),
            "answered_twice": sum(1 for moments in replies.values() if len(moments) > 1),
            "out_of_order": sum(1 for seq in order.values() if seq != sorted(seq))}


def _twilio_twice(outbox, captured, numbers) -> int:
    """Messages Twilio created for these numbers that no outbox row records as its own: a
    second hand-over of a row (bodies cannot be compared: codes are sealed in the outbox)."""
    recorded = {row.provider_sid for row in outbox if row.provider_sid}
    return sum(1 for message in captured
               if message["to"] in numbers and message["sid"] not in recorded)


def _out_of_order(sent, inbound, reply_rows, outbox, captured) -> int:
    """Conversations whose replies were recorded, or reached Twilio, out of the order of the
    citizen's messages."""
    position = {}
    for seq in sent.values():
        for index, sid in enumerate(seq):
            if sid in inbound and inbound[sid].transcript_message_id:
                position[inbound[sid].transcript_message_id] = index
    by_conversation = defaultdict(list)
    outbox_rank = {}
    for row in reply_rows:
        if row.in_reply_to in position:
            by_conversation[row.conversation_id].append(position[row.in_reply_to])
            if row.outbox_id is not None:
                outbox_rank[row.outbox_id] = position[row.in_reply_to]
    bad = {cid for cid, order in by_conversation.items() if order != sorted(order)}
    # At the stand-in: per number, the replies must arrive in the order of their outbox rows.
    sid_rank = {row.provider_sid: (row.to_number, outbox_rank[row.id]) for row in outbox
                if row.provider_sid and row.id in outbox_rank}
    per_number = defaultdict(list)
    for message in captured:
        if message["sid"] in sid_rank:
            number, rank = sid_rank[message["sid"]]
            per_number[number].append(rank)
    bad_numbers = sum(1 for order in per_number.values() if order != sorted(order))
    return len(bad) + bad_numbers
