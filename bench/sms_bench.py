"""SMS channel benchmark: a burst of signed Twilio webhooks into the real stack.

    .venv/bin/python -m bench.sms_bench [--messages 500 --numbers 100 --rate 50]
                                        [--retry-share 0.05] [--profile]

1. Starts the whole assistant as `assistant up` does (portal, action server, Rasa with the
   trained model, SMS worker) in production mode on free 127.0.0.1 ports, on production
   stores: a fresh PostgreSQL schema (portal tables and Rasa's tracker store) and a Redis db
   (conversation locks, MessageSid de-duplication). Twilio points at the local stand-in
   (tests/twilio_standin.py, validate=False) running in this process, which stamps the time
   each outbound message reaches it.
2. Warm-up: a few SMS from separate numbers, one at a time, each waiting for its reply (the
   unloaded end-to-end latency; the first one is the cold start).
3. Idle baseline: bad-signature webhooks (403: form parsing + signature check) and Rasa's
   GET /webhooks/sms/ health route, open loop.
4. Burst: `--messages` signed SMS from `--numbers` unknown +479xxxxxxx numbers at `--rate`
   per second, open loop (a scheduler in a separate sender process fires each request at its
   time, whatever the responses), each with a fresh MessageSid; `--retry-share` of them sent
   again later with the same MessageSid and signature (Twilio retries); bad-signature and
   health probes interleaved at `--probe-rate` each, as the in-burst baseline.
5. Waits (bounded by `--drain-timeout`) for the replies, then `--settle` seconds more for
   duplicates, and matches replies to inbound SMS per number in order (and, as a cross-check,
   through the database: outbox row -> Twilio sid, inbound row processing order).
6. Reports ack latency (p50/p99, target p99 < 100 ms) with its ratio to the baselines,
   inbound-to-Twilio reply latency (p50/p95) and where it went, lost and duplicate replies,
   segments per reply, CPU per service; writes bench/results/sms.json.

Only 127.0.0.1 is contacted; every wait is bounded; the stack, the sender process and the
stand-in are stopped, and the schema and Redis db removed, on every exit path.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import multiprocessing
import os
import platform
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import urlencode

import requests

from bench.portal_bench import (CLK_TCK, _machine_ticks, _proc_ticks, ensure_postgres,
                                machine_load, percentile)
from tests.twilio_standin import TwilioStandIn

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/12"   # tests use 13 and 15, the portal bench 14
HOST = "127.0.0.1"
WEBHOOK_PATH = "/webhooks/sms/webhook"
HEALTH_PATH = "/webhooks/sms/"
APP_NAME = "sms-bench"                         # application_name of the stack's PG backends
TWILIO_NUMBER = "+4759440000"
TARGET_ACK_P99_MS = 100.0
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

# What people text a municipality's number, weighted roughly by how often. No STOPP/START:
# every one of these must get exactly one reply (HJELP and MER are answered by the channel
# itself, the rest by the bot; unknown numbers, so the bot answers as for anyone not logged in).
TEXTS = [
    ("hei", 8), ("Hei!", 4), ("hjelp", 6), ("brev", 8), ("faktura?", 6), ("hva kan du", 5),
    ("takk", 6), ("ja", 4), ("nei", 3), ("les 2", 4), ("les 1", 3), ("mer", 2), ("1", 2),
    ("ok", 3), ("har jeg fått brev?", 4), ("når må jeg betale", 3), ("logg inn", 4),
    ("Hei, har jeg noen ubetalte fakturaer?", 3), ("barnehageplass", 2), ("hallo?", 2),
    ("hvem er du", 2), ("Takk for hjelpen!", 3), ("kva kan du hjelpe med", 1),
    ("what can you do", 1), ("jeg vil snakke med en saksbehandler", 1),
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def code_revision() -> Dict[str, Any]:
    """The commit checked out, and uncommitted changes in what the stack runs."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = git("status", "--porcelain", "--", "channels", "portal", "assistant", "actions",
                "bot", "config.yml", "data")
    return {"commit": git("rev-parse", "HEAD"), "dirty": dirty.splitlines()[:20]}


# --------------------------------------------------------------------------------------------
# The Twilio stand-in, stamping when each outbound message reached it


class TimedStandIn(TwilioStandIn):
    """The stand-in, recording `time.monotonic()` at the start of each accepted request."""

    def __init__(self, *args: Any, latency: float = 0.0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._local = threading.local()
        self.arrived: Dict[str, float] = {}
        self.latency = latency  # seconds before each answer, as the real API's round trip

    def _handle(self, request, environ):  # noqa: ANN001 - the stand-in's own signature
        self._local.started = time.monotonic()
        if self.latency > 0:
            time.sleep(self.latency)
        return super()._handle(request, environ)

    def _message(self, account: str, form: Dict[str, str]) -> Dict[str, Any]:
        message = super()._message(account, form)
        with self._lock:
            self.arrived[message["sid"]] = self._local.started
        return message

    def timed_messages(self) -> List[Dict[str, Any]]:
        """Accepted messages, each with `t` (monotonic arrival), in arrival order."""
        messages = self.messages
        with self._lock:
            arrived = dict(self.arrived)
        out = [dict(m, t=arrived[m["sid"]]) for m in messages if m["sid"] in arrived]
        return sorted(out, key=lambda m: m["t"])

    def count_to(self) -> collections.Counter:
        with self._lock:
            return collections.Counter(m["to"] for m in self._messages.values())


# --------------------------------------------------------------------------------------------
# The load: shots fired at scheduled times by a separate process


@dataclass
class Shot:
    at: float                    # seconds after the phase start
    kind: str                    # sms, retry, badsig, health
    method: str
    path: str
    body: bytes = b""
    headers: Dict[str, str] = field(default_factory=dict)
    number: str = ""
    text: str = ""
    sid: str = ""
    orig: int = -1               # index of the original SMS (sms and retry)


@dataclass
class ShotResult:
    t_send: float = float("nan")  # monotonic
    t_done: float = float("nan")
    status: int = 0
    twiml: bool = False
    error: str = ""

    @property
    def ms(self) -> float:
        return (self.t_done - self.t_send) * 1000


def _sender_main(conn, base_url: str) -> None:
    """The sender process: for each phase received, fires its shots open loop, returns results."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    conn.send("ready")
    while True:
        message = conn.recv()
        if message is None:
            return
        start_at, shots = message
        conn.send(asyncio.run(_fire(base_url, start_at, shots)))


async def _fire(base_url: str, start_at: float,
                shots: List[Tuple[float, str, str, bytes, Dict[str, str]]]) -> List[tuple]:
    import aiohttp

    results: List[Optional[tuple]] = [None] * len(shots)
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)

    async def one(i: int, method: str, path: str, body: bytes, headers: Dict[str, str]) -> None:
        t_send = time.monotonic()
        try:
            async with http.request(method, base_url + path, data=body or None,
                                    headers=headers) as response:
                text = await response.text()
                results[i] = (t_send, time.monotonic(), response.status,
                              text.strip() == TWIML_EMPTY, "")
        except Exception as exc:  # noqa: BLE001 - recorded, not raised
            results[i] = (t_send, time.monotonic(), 0, False, f"{type(exc).__name__}: {exc}")

    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        tasks = []
        for i, (at, method, path, body, headers) in enumerate(shots):
            delay = start_at + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, method, path, body, headers)))
        await asyncio.gather(*tasks)
    return results


class Sender:
    """The open-loop sender in its own process (no GIL shared with the stand-in)."""

    def __init__(self, base_url: str):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.proc = context.Process(target=_sender_main, args=(child, base_url), daemon=True,
                                    name="sms-bench-sender")
        self.proc.start()
        if not self.conn.poll(60) or self.conn.recv() != "ready":
            raise RuntimeError("the sender process did not start")

    def run(self, shots: List[Shot], lead: float = 0.5, timeout: float = 600) -> Tuple[
            float, List[ShotResult]]:
        """Fires the shots (phase starts `lead` s from now); returns (start, results)."""
        start_at = time.monotonic() + lead
        self.conn.send((start_at, [(s.at, s.method, s.path, s.body, s.headers) for s in shots]))
        end = start_at + (max((s.at for s in shots), default=0)) + timeout
        while not self.conn.poll(1.0):
            if not self.proc.is_alive():
                raise RuntimeError("the sender process died")
            if time.monotonic() > end:
                raise RuntimeError("the sender did not finish in time")
        return start_at, [ShotResult(*r) for r in self.conn.recv()]

    def stop(self) -> None:
        try:
            if self.proc.is_alive():
                self.conn.send(None)
                self.proc.join(5)
        except (OSError, EOFError, BrokenPipeError):
            pass
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)


# --------------------------------------------------------------------------------------------
# Building the webhooks


class Webhooks:
    """Twilio's inbound-SMS webhook for this stack, signed as Twilio signs it."""

    def __init__(self, public_base_url: str, account_sid: str, auth_token: str):
        from twilio.request_validator import RequestValidator

        self.url = public_base_url + WEBHOOK_PATH
        self.account_sid = account_sid
        self.good = RequestValidator(auth_token)
        self.bad = RequestValidator("not-" + auth_token)

    def form(self, number: str, body: str, sid: str) -> Dict[str, str]:
        """The fields Twilio posts for an inbound SMS (blank ones included, as Twilio does)."""
        return {"ToCountry": "NO", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0",
                "ToCity": "", "FromZip": "", "SmsSid": sid, "FromState": "",
                "SmsStatus": "received", "FromCity": "", "Body": body, "FromCountry": "NO",
                "To": TWILIO_NUMBER, "ToZip": "", "NumSegments": "1", "MessageSid": sid,
                "AccountSid": self.account_sid, "From": number, "ApiVersion": "2010-04-01"}

    def shot(self, at: float, kind: str, number: str, text: str, sid: str, orig: int = -1,
             signed: bool = True) -> Shot:
        form = self.form(number, text, sid)
        validator = self.good if signed else self.bad
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Twilio-Signature": validator.compute_signature(self.url, form),
                   "User-Agent": "TwilioProxy/1.1", "I-Twilio-Idempotency-Token": sid}
        return Shot(at, kind, "POST", WEBHOOK_PATH, urlencode(form).encode(), headers, number,
                    text, sid, orig)


def new_sid(rng: random.Random) -> str:
    return "SM" + "%032x" % rng.getrandbits(128)


def phone_numbers(n: int, rng: random.Random, exclude: set) -> List[str]:
    numbers: List[str] = []
    while len(numbers) < n:  # bounded in practice: 10 million candidates for a few hundred
        number = f"+479{rng.randrange(10 ** 7):07d}"
        if number not in exclude and number not in numbers:
            numbers.append(number)
    return numbers


def demo_numbers() -> set:
    import yaml

    path = ROOT / "portal" / "demo" / "citizens.yaml"
    try:
        people = yaml.safe_load(path.read_text())
    except OSError:
        return set()
    people = people.get("citizens", people) if isinstance(people, dict) else people
    return {p.get("mobile") for p in people or [] if isinstance(p, dict) and p.get("mobile")}


def schedule_burst(hooks: Webhooks, numbers: List[str], messages: int, rate: float,
                   retry_share: float, retry_delay: Tuple[float, float], probe_rate: float,
                   min_gap: float, rng: random.Random) -> Tuple[List[Shot], Dict[str, object]]:
    """The burst: originals at `rate`/s, retries of `retry_share`, bad-signature and health
    probes at `probe_rate`/s each."""
    texts, weights = zip(*TEXTS)
    per_number = {n: messages // len(numbers) + (1 if i < messages % len(numbers) else 0)
                  for i, n in enumerate(numbers)}
    last: Dict[str, float] = {}
    gap_violations = 0
    originals: List[Shot] = []
    for i in range(messages):
        at = i / rate
        left = [n for n in numbers if per_number[n] > 0]
        ready = [n for n in left if at - last.get(n, -1e9) >= min_gap]
        if ready:  # most messages left first, so that no number is left for the end alone
            top = max(per_number[n] for n in ready)
            number = rng.choice([n for n in ready if per_number[n] >= top - 1])
        else:
            number = min(left, key=lambda n: last.get(n, -1e9))
            gap_violations += 1
        per_number[number] -= 1
        last[number] = at
        originals.append(hooks.shot(at, "sms", number, rng.choices(texts, weights)[0],
                                    new_sid(rng), orig=i))
    shots = list(originals)
    retried = rng.sample(range(messages), round(messages * retry_share))
    for i in retried:
        original = originals[i]
        shot = hooks.shot(original.at + rng.uniform(*retry_delay), "retry", original.number,
                          original.text, original.sid, orig=i)
        assert shot.body == original.body and shot.headers == original.headers
        shots.append(shot)
    duration = messages / rate
    for j in range(int(duration * probe_rate)):  # each kind `probe_rate`/s, between the slots
        shots.append(hooks.shot((j + 0.25) / probe_rate, "badsig", rng.choice(numbers),
                                rng.choices(texts, weights)[0], new_sid(rng), signed=False))
        shots.append(Shot((j + 0.75) / probe_rate, "health", "GET", HEALTH_PATH))
    shots.sort(key=lambda s: s.at)
    return shots, {"retried": sorted(retried), "min_gap_violations": gap_violations,
                   "duration_s": duration}


def schedule_baseline(hooks: Webhooks, numbers: List[str], n: int, rate: float,
                      rng: random.Random) -> List[Shot]:
    texts, weights = zip(*TEXTS)
    shots = []
    for i in range(n):
        if i % 2 == 0:
            shots.append(hooks.shot(i / rate, "badsig", rng.choice(numbers),
                                    rng.choices(texts, weights)[0], new_sid(rng), signed=False))
        else:
            shots.append(Shot(i / rate, "health", "GET", HEALTH_PATH))
    return shots


# --------------------------------------------------------------------------------------------
# The stack


class Stack:
    """The assistant (portal, actions, Rasa, SMS worker) on a fresh schema and Redis db."""

    def __init__(self, base_db: str, redis_url: str, standin: TimedStandIn, model: Path,
                 log_dir: Path, patches: Optional[List[str]] = None,
                 turn_concurrency: Optional[int] = None):
        from sqlalchemy.engine import make_url

        from assistant.processes import Supervisor
        from assistant.runtime import Runtime
        from tests.stack import free_port

        self.schema = f"bench_sms_{uuid.uuid4().hex[:10]}"
        options = f"-csearch_path={self.schema} -capplication_name={APP_NAME}"
        self.base_db = base_db
        self.database_url = make_url(base_db).update_query_dict(
            {"options": options}).render_as_string(hide_password=False)
        self.redis_url = redis_url
        self.var_dir = Path(tempfile.mkdtemp(prefix="sms-bench-var-"))
        self.model = model
        self.tokens = {name: secrets.token_urlsafe(24) for name in (
            "PORTAL_SERVICE_TOKEN", "DISPATCH_TOKEN", "IDENTITY_HASH_KEY", "RASA_AUTH_TOKEN",
            "WEBCHAT_SECRET")}
        rasa_port = free_port()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TWILIO_", "TRACKER_", "LOCK_REDIS_")) and k not in (
                   "DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL", "DEV_SMS_OUTBOX")}
        env.update(self.tokens)
        env.update({
            "ASSISTANT_ENV": "production", "ASSISTANT_VAR_DIR": str(self.var_dir),
            "DATABASE_URL": self.database_url, "REDIS_URL": redis_url,
            "PORTAL_PORT": str(free_port()), "RASA_PORT": str(rasa_port),
            "ACTIONS_PORT": str(free_port()),
            "PUBLIC_BASE_URL": f"http://{HOST}:{rasa_port}",
            "TWILIO_ACCOUNT_SID": standin.account_sid,
            "TWILIO_AUTH_TOKEN": standin.auth_token, "TWILIO_FROM_NUMBER": TWILIO_NUMBER,
            "TWILIO_API_BASE_URL": standin.base_url,
            "SMS_QUIET_HOURS": "off",  # the real clock: nothing may wait for 08:00
        })
        env.pop("SMS_BENCH_PATCHES", None)
        if turn_concurrency is not None:  # channels/sms.py reads it (from commit 6e1b930 on)
            env["SMS_TURN_CONCURRENCY"] = str(turn_concurrency)
        if patches:  # experiments: bench/sms_patches/sitecustomize.py in every process
            env["SMS_BENCH_PATCHES"] = ",".join(patches)
            env["PYTHONPATH"] = os.pathsep.join(
                [str(Path(__file__).resolve().parent / "sms_patches")]
                + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        self.env = env
        self.runtime = Runtime.from_env(env)
        for old in log_dir.glob("*.log"):
            old.unlink()
        self.supervisor = Supervisor(self.runtime.child_env(), log_dir=log_dir)

    @property
    def settings(self):
        return self.runtime.settings

    def create(self) -> None:
        import redis
        from sqlalchemy import create_engine, text

        from portal.bootstrap import Portal
        from portal.clock import Clock
        from portal.migrate import upgrade
        from portal.services.demo import load_demo

        redis.Redis.from_url(self.redis_url).flushdb()
        admin = create_engine(self.base_db, future=True, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        admin.dispose()
        portal = Portal(self.settings, Clock())   # as `assistant up`: migrate, demo data
        upgrade(portal.engine)
        with portal.sessions() as db:
            load_demo(db, portal.settings, now=portal.clock.now())
            db.commit()
        portal.engine.dispose()

    def start(self) -> None:
        from assistant.stack import start_stack

        start_stack(self.runtime, self.supervisor, self.model, log_level="info")

    def service_pid(self, name: str) -> Optional[int]:
        return next((s.process.pid for s in self.supervisor.services if s.name == name), None)

    def dead(self) -> Optional[str]:
        service = self.supervisor.dead()
        return service.name if service else None

    def stop(self) -> None:
        self.supervisor.stop()

    def drop(self) -> None:
        import redis
        from sqlalchemy import create_engine, text

        try:
            admin = create_engine(self.base_db, future=True, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            admin.dispose()
        except Exception as exc:  # noqa: BLE001 - cleanup: report, go on
            log(f"could not drop schema {self.schema}: {exc}")
        try:
            redis.Redis.from_url(self.redis_url).flushdb()
        except Exception as exc:  # noqa: BLE001
            log(f"could not flush {self.redis_url}: {exc}")
        shutil.rmtree(self.var_dir, ignore_errors=True)

    def query(self, sql: str, **params: Any) -> List[tuple]:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.database_url, future=True)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(sql), params)]
        finally:
            engine.dispose()


# --------------------------------------------------------------------------------------------
# CPU by service


class CpuMeter:
    """CPU seconds of each service's process group, the stack's PostgreSQL backends, Redis,
    this benchmark (with its sender) and the whole machine."""

    def __init__(self, stack: Stack, sender_pid: int):
        from bench.portal_data import _connect

        self.groups = {s.name: s.process.pid for s in stack.supervisor.services}
        self.sender_pid = sender_pid
        self.conn = _connect(stack.base_db)
        self.conn.autocommit = True
        self.redis_pid = self._pid_of("redis-server")

    @staticmethod
    def _pid_of(name: str) -> Optional[int]:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/comm") as handle:
                        if handle.read().strip() == name:
                            return int(entry)
                except OSError:
                    continue
        return None

    def close(self) -> None:
        self.conn.close()

    def snapshot(self) -> Dict[str, Any]:
        by_group = {name: 0 for name in self.groups}
        pgids = {pgid: name for name, pgid in self.groups.items()}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                info = _proc_ticks(int(entry))
                if info and info[0] in pgids:
                    by_group[pgids[info[0]]] += info[1]
        with self.conn.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                        (APP_NAME,))
            backends = {pid: (_proc_ticks(pid) or (0, 0))[1] for (pid,) in cur.fetchall()}
        own = os.times()
        busy, total = _machine_ticks()
        return {"groups": by_group, "pg": backends,
                "redis": (_proc_ticks(self.redis_pid) or (0, 0))[1] if self.redis_pid else 0,
                "bench": (own.user + own.system) * CLK_TCK
                + (_proc_ticks(self.sender_pid) or (0, 0))[1],
                "busy": busy, "t": time.monotonic()}

    @staticmethod
    def delta(a: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, float]:
        out = {name: (b["groups"][name] - a["groups"].get(name, 0)) / CLK_TCK
               for name in b["groups"]}
        out["postgres"] = sum(t - a["pg"].get(pid, 0) for pid, t in b["pg"].items()) / CLK_TCK
        out["redis"] = (b["redis"] - a["redis"]) / CLK_TCK
        out["bench"] = (b["bench"] - a["bench"]) / CLK_TCK
        machine = (b["busy"] - a["busy"]) / CLK_TCK
        out["machine_busy"] = machine
        out["other_work"] = max(0.0, machine - sum(v for k, v in out.items()
                                                   if k != "machine_busy"))
        out["wall"] = b["t"] - a["t"]
        return {k: round(v, 2) for k, v in out.items()}


def tcp_counters() -> Dict[str, int]:
    """The kernel's TCP counters that tell an overflowing accept queue (machine-wide)."""
    out: Dict[str, int] = {}
    wanted = {"TcpExt": ("ListenOverflows", "ListenDrops", "TCPReqQFullDrop",
                         "TCPAbortOnData", "TCPAbortOnClose", "TCPTimeouts",
                         "TCPSynRetrans"),
              "Tcp": ("ActiveOpens", "PassiveOpens", "AttemptFails", "EstabResets", "OutRsts")}
    for name in ("/proc/net/netstat", "/proc/net/snmp"):
        try:
            with open(name) as handle:
                lines = handle.read().splitlines()
        except OSError:
            continue
        for head, values in zip(lines[::2], lines[1::2]):
            prefix, _, keys = head.partition(": ")
            for key, value in zip(keys.split(), values.partition(": ")[2].split()):
                if key in wanted.get(prefix, ()):
                    out[key] = int(value)
    return out


class PgWaits:
    """Samples what the stack's PostgreSQL backends are doing (every `interval` s, bounded)."""

    def __init__(self, base_db: str, interval: float = 0.1, max_samples: int = 20000):
        from bench.portal_data import _connect

        self.conn = _connect(base_db)
        self.conn.autocommit = True
        self.interval, self.max_samples = interval, max_samples
        self.counts: collections.Counter = collections.Counter()
        self.samples = 0
        self.max_active = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="pg-waits", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with self.conn.cursor() as cur:
            while not self.stop_event.is_set() and self.samples < self.max_samples:
                cur.execute("SELECT state, coalesce(wait_event_type, 'CPU'), "
                            "coalesce(wait_event, '-') FROM pg_stat_activity "
                            "WHERE application_name = %s AND pid <> pg_backend_pid()",
                            (APP_NAME,))
                rows = cur.fetchall()
                self.samples += 1
                active = 0
                for state, kind, event in rows:
                    if state == "active" or state == "idle in transaction":
                        self.counts[f"{state}: {kind}/{event}"] += 1
                        active += 1
                self.max_active = max(self.max_active, active)
                self.stop_event.wait(self.interval)

    def stop(self) -> Dict[str, Any]:
        self.stop_event.set()
        self.thread.join(10)
        self.conn.close()
        return {"samples": self.samples, "interval_s": self.interval,
                "max_busy_backends": self.max_active,
                "mean_busy_backends": {k: round(v / max(1, self.samples), 3)
                                       for k, v in self.counts.most_common(12)}}


# --------------------------------------------------------------------------------------------
# Profiling Rasa with py-spy (optional)


class PySpy:
    """py-spy on Rasa, sampling only while a thread holds the GIL: the Python CPU, by thread."""

    def __init__(self, exe: str, pid: int, seconds: int, out: Path):
        self.out = out
        self.proc = subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200",
             "--format", "raw", "--output", str(out), "--nonblocking", "--gil", "--threads"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)   # py-spy writes what it has
                self.proc.wait(30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)


# (label, function name or "" for any, path fragment): inclusive share of Rasa's GIL samples
PROFILE_MARKERS = [
    ("Sanic request handling (handle_request, incl. handlers)", "handle_request",
     "handle_request"),   # Sanic compiles handle_request itself: its "file" is its name
    ("Sanic HTTP protocol (parsing, writing)", "", "sanic/http"),
    ("SMS webhook handler", "webhook", "channels/sms.py"),
    ("  record_inbound (executor)", "record_inbound", "portal/conversations/sms_inbox.py"),
    ("SMS background turn (_run_turn)", "_run_turn", "channels/sms.py"),
    ("  NLU: parse_message", "parse_message", "rasa/core/processor.py"),
    ("  graph runner (NLU + policies)", "run", "rasa/engine/runner/dask.py"),
    ("  validating action server replies (jsonschema)", "_validate_action_result", ""),
    ("  action server HTTP", "request", "rasa/utils/endpoints.py"),
    ("  tracker store retrieve", "retrieve", "rasa/core/tracker_store.py"),
    ("  tracker store save", "save", "tracker_store.py"),
    ("    redacting the tracker before save", "redacted", "channels/tracker_store.py"),
    ("  lock store", "", "rasa/core/lock_store.py"),
    ("SMS channel DB work (executor: portal/sms)", "", "portal/sms/"),
    ("SQLAlchemy (all)", "", "sqlalchemy/"),
    ("log redaction", "", "channels/redaction.py"),
    ("logging", "", "logging/__init__.py"),
]


def _frame(text: str) -> Tuple[str, str]:
    name, _, rest = text.partition(" (")
    return name, rest.rsplit(":", 1)[0]


def summarize_profile(path: Path, cpu_ms_per_turn: Optional[float], top: int = 25
                      ) -> Optional[Dict[str, Any]]:
    """Shares of Rasa's GIL-holding samples by thread, by marker (inclusive) and by function
    (own time), from py-spy's raw output; with the Rasa CPU per turn, ms per turn."""
    import re

    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    total = 0
    own: collections.Counter = collections.Counter()
    marked: collections.Counter = collections.Counter()
    threads: collections.Counter = collections.Counter()
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        parts = stack.split(";")
        if parts and parts[0].startswith("thread ("):
            threads[re.sub(r"_\d+$", "", parts[0].partition(": ")[2] or parts[0])] += n
            parts = parts[1:]
        frames = [_frame(p) for p in parts]
        if frames:
            name, file = frames[-1]
            own[f"{name} ({file})"] += n
        for label, func, fragment in PROFILE_MARKERS:
            if any(fragment in file and (not func or name == func or name.endswith("." + func))
                   for name, file in frames):
                marked[label] += n
    if not total:
        return None

    def pct(n: int) -> float:
        return round(100 * n / total, 1)

    return {"samples": total, "rate_hz": 200, "gil_only": True,
            "threads_pct": {k: pct(v) for k, v in threads.most_common(8)},
            "inclusive_pct": {label: pct(marked[label]) for label, _, _ in PROFILE_MARKERS},
            "inclusive_ms_per_turn": ({label: round(marked[label] / total * cpu_ms_per_turn, 1)
                                       for label, _, _ in PROFILE_MARKERS}
                                      if cpu_ms_per_turn else None),
            "own_time_top_pct": [(f, pct(n)) for f, n in own.most_common(top)]}


# --------------------------------------------------------------------------------------------
# Statistics and matching


def stats(values: List[float], digits: int = 1) -> Dict[str, Any]:
    v = sorted(x for x in values if x == x)
    if not v:
        return {"n": 0}
    return {"n": len(v), "mean": round(sum(v) / len(v), digits),
            "p50": round(percentile(v, 50), digits), "p90": round(percentile(v, 90), digits),
            "p95": round(percentile(v, 95), digits), "p99": round(percentile(v, 99), digits),
            "max": round(v[-1], digits)}


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return round(a / b, 2) if a is not None and b else None


def wall_to_mono(value: Optional[datetime], offset: float) -> Optional[float]:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp() - offset


def match_black_box(originals: List[Shot], results: List[ShotResult],
                    replies: List[Dict[str, Any]], others: set, accepted: set
                    ) -> Dict[str, Any]:
    """Per number: k-th accepted inbound SMS in sending order <-> k-th reply that reached
    Twilio. `accepted`: indices of the SMS the server took (a 200 to the original or its retry,
    or logged); `others`: numbers that may get SMS besides the burst's (warm-up, demo)."""
    sent: Dict[str, List[int]] = collections.defaultdict(list)
    for i, shot in enumerate(originals):
        if i in accepted:
            sent[shot.number].append(i)
    got: Dict[str, List[Dict[str, Any]]] = collections.defaultdict(list)
    for message in replies:
        got[message["to"]].append(message)
    pairs: Dict[int, Dict[str, Any]] = {}
    lost: List[int] = []
    extra: Dict[str, int] = {}
    for number, indices in sent.items():
        got[number].sort(key=lambda m: m["t"])
        for k, i in enumerate(indices):
            if k < len(got[number]):
                pairs[i] = got[number][k]
            else:
                lost.append(i)
        if len(got[number]) > len(indices):
            extra[number] = len(got[number]) - len(indices)
    strangers = sorted({m["to"] for m in replies}
                       - {s.number for s in originals} - others)
    latency = {i: (m["t"] - results[i].t_send) * 1000 for i, m in pairs.items()}
    return {"pairs": pairs, "lost": lost, "extra": extra, "strangers": strangers,
            "latency_ms": latency}


def match_database(originals: List[Shot], inbound: List[tuple], outbound: List[tuple],
                   by_sid: Dict[str, Dict[str, Any]], key_of: Dict[str, str],
                   offset: float) -> Dict[str, Any]:
    """Per conversation, from the database: the reply of an inbound SMS is the outbox row
    created after the previous inbound of that sender was finished and no later than this one
    was (handling is sequential per sender); the outbox row's provider sid is the stand-in's
    message. Also splits each reply's latency into webhook->logged, logged->reply queued
    (waiting for the sender's queue and the event loop, and the turn), queued->Twilio."""
    rows_by_sid = {r[0]: r for r in inbound}   # sid, key, received, status, processed, id
    index_of_sid = {s.sid: i for i, s in enumerate(originals)}
    burst_keys = {key_of[s.number] for s in originals}
    per_key: Dict[str, List[tuple]] = collections.defaultdict(list)
    for row in inbound:
        if row[1] in burst_keys:
            per_key[row[1]].append(row)
    replies_of_key: Dict[str, List[tuple]] = collections.defaultdict(list)
    for row in outbound:  # id, key, created, provider_sid, status, segments, purpose
        if row[6] == "reply" and row[1] in burst_keys:
            replies_of_key[row[1]].append(row)
    matched: Dict[int, List[tuple]] = collections.defaultdict(list)
    orphans = 0
    out_of_order = 0
    for key, rows in per_key.items():
        done = sorted(rows, key=lambda r: (r[4] is None, r[4] or datetime.max, r[5]))
        if [r[5] for r in done] != sorted(r[5] for r in done):
            out_of_order += 1   # processed in another order than logged
        for reply in sorted(replies_of_key.get(key, []), key=lambda r: r[0]):
            owner = next((r for r in done if r[4] is not None and r[4] >= reply[2]), None)
            if owner is None or owner[0] not in index_of_sid:
                orphans += 1
                continue
            matched[index_of_sid[owner[0]]].append(reply)
    parts = {"webhook_to_logged_ms": [], "logged_to_reply_queued_ms": [],
             "reply_queued_to_twilio_ms": [], "reply_queued_to_finished_ms": []}
    latency: Dict[int, float] = {}
    for i, replies in matched.items():
        if len(replies) != 1:
            continue
        reply, row = replies[0], rows_by_sid[originals[i].sid]
        message = by_sid.get(reply[3])
        received = wall_to_mono(row[2], offset)
        queued = wall_to_mono(reply[2], offset)
        processed = wall_to_mono(row[4], offset)
        parts["logged_to_reply_queued_ms"].append((queued - received) * 1000)
        parts["reply_queued_to_finished_ms"].append((processed - queued) * 1000)
        if message is not None:
            parts["reply_queued_to_twilio_ms"].append((message["t"] - queued) * 1000)
            latency[i] = message["t"]
        parts["_received"] = parts.get("_received", [])
        parts["_received"].append((i, received))
    return {"matched": matched, "orphans": orphans, "senders_out_of_order": out_of_order,
            "parts": parts, "twilio_t": latency,
            "keys_unknown": sum(1 for s in originals if key_of[s.number] not in per_key)}


# --------------------------------------------------------------------------------------------
# Phases


def warm_up(stack: Stack, standin: TimedStandIn, hooks: Webhooks, numbers: List[str],
            count: int, rng: random.Random, timeout: float = 120) -> Dict[str, Any]:
    """One SMS at a time, waiting for each reply: the unloaded latencies (the first is cold)."""
    texts = ["hei", "hjelp", "brev", "faktura?", "hva kan du", "takk", "les 2", "ja", "logg inn",
             "ok"]
    out = []
    url = stack.runtime.rasa_url + WEBHOOK_PATH
    with requests.Session() as http:
        for i in range(count):
            number = numbers[i % len(numbers)]
            shot = hooks.shot(0, "sms", number, texts[i % len(texts)], new_sid(rng))
            before = standin.count_to()[number]
            t_send = time.monotonic()
            response = http.post(url, data=shot.body, headers=shot.headers, timeout=30)
            t_ack = time.monotonic()
            if response.status_code != 200:
                raise RuntimeError(f"warm-up SMS answered {response.status_code}: "
                                   f"{response.text[:200]}")
            deadline = t_send + timeout
            reply = None
            while time.monotonic() < deadline and reply is None:
                mine = [m for m in standin.timed_messages() if m["to"] == number]
                if len(mine) > before:
                    reply = mine[before]
                elif stack.dead():
                    raise RuntimeError(f"{stack.dead()} died during the warm-up")
                else:
                    time.sleep(0.005)
            if reply is None:
                raise RuntimeError(f"no reply to warm-up SMS {shot.text!r} within {timeout} s")
            out.append({"text": shot.text, "ack_ms": round((t_ack - t_send) * 1000, 1),
                        "reply_ms": round((reply["t"] - t_send) * 1000, 1),
                        "segments": int(reply["num_segments"]), "reply": reply["body"][:80]})
    return {"messages": out,
            "cold_reply_ms": out[0]["reply_ms"] if out else None,
            "warm_reply_ms": stats([m["reply_ms"] for m in out[1:]]),
            "warm_ack_ms": stats([m["ack_ms"] for m in out[1:]])}


def drain(stack: Stack, standin: TimedStandIn, expected_now: Callable[[], Dict[str, int]],
          burst_end: float, timeout: float, settle: float, stall: float) -> Dict[str, Any]:
    """Waits until every number has as many replies as it had SMS taken by the server
    (`expected_now()`, looked up again every 10 s), then `settle` seconds more for late
    duplicates; gives up after `timeout` s from the end of the burst, or when no reply arrived
    for `stall` s."""
    expected = expected_now()
    deadline = burst_end + timeout
    last_log = 0.0
    complete_at = None
    dead = None
    stalled = False
    have_before, progress_at = -1, time.monotonic()
    while time.monotonic() < deadline:
        counts = standin.count_to()
        have = sum(min(counts[n], e) for n, e in expected.items())
        if have >= sum(expected.values()):
            complete_at = time.monotonic()
            break
        if have != have_before:
            have_before, progress_at = have, time.monotonic()
        elif time.monotonic() - progress_at > stall:
            stalled = True
            log(f"  no reply for {stall:g} s; not waiting for the rest")
            break
        dead = stack.dead()
        if dead:
            log(f"  {dead} died; not waiting for the rest")
            break
        if time.monotonic() - last_log > 10:
            last_log = time.monotonic()
            expected = expected_now()
            processed = stack.query("SELECT status, count(*) FROM inbound_sms GROUP BY status")
            pending = stack.query("SELECT status, count(*) FROM outbound_sms GROUP BY status")
            log(f"  +{time.monotonic() - burst_end:5.0f} s: {have}/{sum(expected.values())} "
                f"replies at Twilio; inbound {dict(processed)}; outbox {dict(pending)}")
        time.sleep(0.05)
    if complete_at is not None:
        time.sleep(settle)
    return {"complete_at": complete_at, "stalled": stalled,
            "timed_out": complete_at is None and not dead and not stalled,
            "dead_service": dead}


# --------------------------------------------------------------------------------------------
# Main


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=500, help="inbound SMS in the burst")
    p.add_argument("--numbers", type=int, default=100, help="distinct phone numbers")
    p.add_argument("--rate", type=float, default=50.0, help="inbound SMS per second")
    p.add_argument("--retry-share", type=float, default=0.05,
                   help="share of SMS re-sent with the same MessageSid")
    p.add_argument("--retry-delay", type=float, nargs=2, default=(0.05, 5.0),
                   metavar=("MIN", "MAX"), help="seconds after the original (uniform)")
    p.add_argument("--min-gap", type=float, default=0.5,
                   help="least seconds between two SMS of one number")
    p.add_argument("--probe-rate", type=float, default=10.0,
                   help="in-burst baseline probes per second, of each kind (bad signature, "
                        "health)")
    p.add_argument("--baseline-requests", type=int, default=400,
                   help="idle baseline requests before the burst (half 403, half health)")
    p.add_argument("--baseline-rate", type=float, default=50.0)
    p.add_argument("--warmup", type=int, default=12, help="sequential warm-up SMS")
    p.add_argument("--drain-timeout", type=float, default=900.0,
                   help="seconds after the burst to wait for all replies")
    p.add_argument("--stall-timeout", type=float, default=120.0,
                   help="stop waiting when no reply arrived for this many seconds")
    p.add_argument("--settle", type=float, default=5.0,
                   help="seconds to wait after the last reply for duplicates")
    p.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    p.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
                   help="a Redis db of its own: flushed before and after")
    p.add_argument("--seed", type=int, default=20261127)
    p.add_argument("--profile", action="store_true",
                   help="record Rasa with py-spy during the burst and the drain")
    p.add_argument("--py-spy", default=shutil.which("py-spy") or "/tmp/pyspy/bin/py-spy")
    p.add_argument("--turn-concurrency", type=int, default=None, metavar="N",
                   help="SMS_TURN_CONCURRENCY for the channel (default: the channel's own, 2)")
    p.add_argument("--twilio-latency", type=float, default=0.0, metavar="MS",
                   help="the stand-in answers each API request after this many ms (the real "
                        "API's round trip; 0: as fast as it can)")
    p.add_argument("--patch", action="append", default=[], metavar="NAME[=VALUE]",
                   help="experiment from bench/sms_patches/sitecustomize.py (validate-per-call, "
                        "cached-jsonschema, turn-limit=N, switch-interval=S); "
                        "repeatable; not for the reference figures")
    p.add_argument("--keep-schema", action="store_true", help="do not drop the schema")
    p.add_argument("--output", type=Path, default=RESULTS / "sms.json")
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    wall_started = time.monotonic()
    rng = random.Random(args.seed)
    RESULTS.mkdir(parents=True, exist_ok=True)
    log_dir = RESULTS / "sms_logs"

    def _terminate(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)

    from assistant.model import ensure_model
    from portal.sms.sender_keys import sender_key

    ensure_postgres(args.database_url)
    load_before = machine_load()
    if load_before.get("busy_pct_all_cores", 0) > 20:
        log(f"WARNING: the machine is already {load_before['busy_pct_all_cores']}% busy before "
            "the benchmark starts; latencies will be inflated by the other work")
    t = time.monotonic()
    model = ensure_model(ROOT / "var" / "models")
    model_s = time.monotonic() - t

    code_at_start = code_revision()
    exclude = demo_numbers() | {"+4791234567", "+4798765432"}
    numbers = phone_numbers(args.numbers, rng, exclude)
    warm_numbers = phone_numbers(3, rng, exclude | set(numbers))
    offset = time.time() - time.monotonic()   # DB timestamps are wall clock

    standin = TimedStandIn(validate=False, latency=args.twilio_latency / 1000)
    stack: Optional[Stack] = None
    sender: Optional[Sender] = None
    meter: Optional[CpuMeter] = None
    spy: Optional[PySpy] = None
    waits: Optional[PgWaits] = None
    pg_waits = None
    phases: Dict[str, Any] = {}
    timings: Dict[str, float] = {"model_s": round(model_s, 1)}
    try:
        standin.start()
        stack = Stack(args.database_url, args.redis_url, standin, model, log_dir, args.patch,
                      args.turn_concurrency)
        t = time.monotonic()
        stack.create()
        stack.start()
        timings["stack_start_s"] = round(time.monotonic() - t, 1)
        log(f"Stack up in {timings['stack_start_s']} s: Rasa {stack.runtime.rasa_url}, schema "
            f"{stack.schema}, Redis {args.redis_url}, Twilio stand-in {standin.base_url}")
        hooks = Webhooks(stack.settings.public_base_url, standin.account_sid,
                         standin.auth_token)
        sender = Sender(stack.runtime.rasa_url)

        t = time.monotonic()
        phases["warmup"] = warm_up(stack, standin, hooks, warm_numbers, args.warmup, rng)
        timings["warmup_s"] = round(time.monotonic() - t, 1)
        log(f"Warm-up: cold reply {phases['warmup']['cold_reply_ms']} ms, warm replies "
            f"{phases['warmup']['warm_reply_ms']}")

        baseline_shots = schedule_baseline(hooks, numbers, args.baseline_requests,
                                           args.baseline_rate, rng)
        _, baseline_results = sender.run(baseline_shots)
        phases["idle_baseline"] = (baseline_shots, baseline_results)
        log("Idle baseline done")

        shots, plan = schedule_burst(hooks, numbers, args.messages, args.rate,
                                     args.retry_share, tuple(args.retry_delay),
                                     args.probe_rate, args.min_gap, rng)
        originals = [s for s in shots if s.kind == "sms"]
        originals.sort(key=lambda s: s.orig)
        expected = collections.Counter(s.number for s in originals)   # numbers in the burst
        meter = CpuMeter(stack, sender.proc.pid)
        profile_path = args.output.with_name(args.output.stem + "_rasa_pyspy.txt")
        if args.profile:
            if not os.path.exists(args.py_spy):
                raise SystemExit(f"--profile needs py-spy; not found at {args.py_spy}")
            spy = PySpy(args.py_spy, stack.service_pid("rasa"),
                        int(plan["duration_s"] + args.drain_timeout + 30),
                        profile_path)
        cpu_start = meter.snapshot()
        tcp_before = tcp_counters()
        waits = PgWaits(args.database_url)
        log(f"Burst: {len(originals)} SMS from {len(numbers)} numbers at {args.rate:g}/s, "
            f"{len(plan['retried'])} retries, {sum(s.kind in ('badsig', 'health') for s in shots)}"
            f" probes")
        burst_start, burst_results = sender.run(shots)
        burst_end = burst_start + plan["duration_s"]
        cpu_burst = meter.snapshot()
        tcp_after = tcp_counters()
        log(f"Burst sent ({time.monotonic() - burst_start:.1f} s after its start); waiting for "
            "replies")
        acked_now = {s.orig for s, r in zip(shots, burst_results)
                     if s.kind in ("sms", "retry") and r.status == 200}

        def expected_now() -> Dict[str, int]:
            logged_now = {row[0] for row in stack.query("SELECT message_sid FROM inbound_sms")}
            return collections.Counter(s.number for s in originals
                                       if s.orig in acked_now or s.sid in logged_now)

        waited = drain(stack, standin, expected_now, burst_end, args.drain_timeout,
                       args.settle, args.stall_timeout)
        cpu_end = meter.snapshot()
        pg_waits, waits = waits.stop(), None
        if spy is not None:
            spy.stop()
        replies = standin.timed_messages()
        inbound = stack.query("SELECT message_sid, sender_key, received_at, status, "
                              "processed_at, id FROM inbound_sms")
        outbound = stack.query("SELECT id, sender_key, created_at, provider_sid, status, "
                               "segments, purpose FROM outbound_sms")
        events = stack.query("SELECT count(*), count(DISTINCT sender_id) FROM events")[0]
        outcomes = collections.Counter(standin.outcomes())
        dead = stack.dead()
    finally:
        if spy is not None:
            spy.stop()
        if waits is not None:
            waits.stop()
        if meter is not None:
            meter.close()
        if sender is not None:
            sender.stop()
        if stack is not None:
            stack.stop()
        standin.stop()
        if stack is not None and not args.keep_schema:
            stack.drop()
        log("Stack stopped" + ("" if args.keep_schema else "; schema and Redis db removed"))
    total_s = time.monotonic() - wall_started

    # ---------------------------------------------------------------- analysis
    by_kind: Dict[str, List[Tuple[Shot, ShotResult]]] = collections.defaultdict(list)
    for shot, result in zip(shots, burst_results):
        by_kind[shot.kind].append((shot, result))
    idle_by_kind: Dict[str, List[Tuple[Shot, ShotResult]]] = collections.defaultdict(list)
    for shot, result in zip(*phases["idle_baseline"]):
        idle_by_kind[shot.kind].append((shot, result))

    def ms(pairs):
        return [r.ms for _, r in pairs if r.status]

    expected_status = {"sms": 200, "retry": 200, "badsig": 403, "health": 200}
    wrong: Dict[str, int] = {}
    for kind, pairs in by_kind.items():
        wrong[kind] = sum(1 for s, r in pairs if r.status != expected_status[kind]
                          or (kind in ("sms", "retry") and not r.twiml))
    for kind, pairs in idle_by_kind.items():
        wrong["idle_" + kind] = sum(1 for s, r in pairs if r.status != expected_status[kind])
    errors: Dict[str, Dict[str, Any]] = {}
    for kind, pairs in by_kind.items():
        failed = [r for _, r in pairs if r.error]
        if failed:
            errors[kind] = {"count": len(failed),
                            "types": dict(collections.Counter(r.error.split(":")[0]
                                                              for r in failed)),
                            "ms_until_error": stats([r.ms for r in failed]),
                            "sample": failed[0].error[:200]}
    lateness = [(r.t_send - (burst_start + s.at)) * 1000 for s, r in zip(shots, burst_results)]

    signed = ms(by_kind["sms"]) + ms(by_kind["retry"])
    ack = {
        "signed_sms": stats(signed), "originals": stats(ms(by_kind["sms"])),
        "retries": stats(ms(by_kind["retry"])),
        "badsig_in_burst": stats(ms(by_kind["badsig"])),
        "health_in_burst": stats(ms(by_kind["health"])),
        "badsig_idle": stats(ms(idle_by_kind["badsig"])),
        "health_idle": stats(ms(idle_by_kind["health"])),
        "warm_sequential_signed": phases["warmup"]["warm_ack_ms"],
    }
    unanswered = sum(1 for kind in ("sms", "retry") for _, r in by_kind[kind] if not r.status)
    ack["signed_unanswered"] = unanswered
    everything = sorted(signed + [float("inf")] * unanswered)
    p99_all = percentile(everything, 99) if everything else float("nan")
    ack["signed_p99_counting_unanswered_ms"] = (round(p99_all, 1) if p99_all < float("inf")
                                                else "unanswered")
    ack["target_p99_ms"] = TARGET_ACK_P99_MS
    ack["meets_target"] = bool(p99_all < TARGET_ACK_P99_MS)
    ack["ratios"] = {
        f"signed_{q}_over_{base}_{q}": ratio(ack["signed_sms"].get(q), ack[base].get(q))
        for base in ("badsig_in_burst", "health_in_burst", "badsig_idle", "health_idle")
        for q in ("p50", "p99")}
    per_second = []
    for second in range(int(plan["duration_s"] + args.retry_delay[1]) + 1):
        values = [r.ms for s, r in by_kind["sms"] + by_kind["retry"]
                  if second <= s.at < second + 1 and r.status]
        probes = [r.ms for s, r in by_kind["health"] if second <= s.at < second + 1
                  and r.status]
        if values:
            per_second.append({"second": second, "n": len(values),
                               "p50": round(statistics.median(values), 1),
                               "max": round(max(values), 1),
                               "health_max": round(max(probes), 1) if probes else None})
    ack["per_second"] = per_second

    orig_results = [None] * len(originals)
    for shot, result in by_kind["sms"]:
        orig_results[shot.orig] = result
    logged_sids = {r[0] for r in inbound}
    acked = {i for i, r in enumerate(orig_results) if r.status == 200}
    acked |= {s.orig for s, r in by_kind["retry"] if r.status == 200}
    logged = {i for i, s in enumerate(originals) if s.sid in logged_sids}
    accepted = acked | logged
    bb = match_black_box(originals, orig_results, replies, set(warm_numbers) | exclude,
                         accepted)
    key_of = {n: sender_key(stack.settings.identity_key, n) for n in numbers}
    burst_keys = set(key_of.values())
    by_sid = {m["sid"]: m for m in replies}
    db = match_database(originals, inbound, outbound, by_sid, key_of, offset)
    db_latency = {i: (t - orig_results[i].t_send) * 1000 for i, t in db["twilio_t"].items()}
    agree = sum(1 for i, m in bb["pairs"].items() if db["twilio_t"].get(i) == m["t"])
    received = dict(db["parts"].pop("_received", []))
    webhook_to_logged = [(received[i] - orig_results[i].t_send) * 1000 for i in received]
    db["parts"]["webhook_to_logged_ms"] = webhook_to_logged

    retried_sids = {originals[i].sid for i in plan["retried"]}
    inbound_per_sid = collections.Counter(r[0] for r in inbound)
    dup_inbound_rows = sum(1 for sid in retried_sids if inbound_per_sid[sid] > 1)
    retried_replies = [len(db["matched"].get(i, [])) for i in plan["retried"]]
    multi_reply = {i: len(v) for i, v in db["matched"].items() if len(v) > 1}
    no_reply_db = [i for i in sorted(accepted) if not db["matched"].get(i)]
    never_answered = [i for i in range(len(originals)) if i not in acked]
    inbound_rows = {r[0]: r for r in inbound}
    lost_detail = []
    for i in sorted(set(bb["lost"]) | set(no_reply_db) | set(never_answered)):
        row = inbound_rows.get(originals[i].sid)
        lost_detail.append({"index": i, "number": originals[i].number,
                            "text": originals[i].text,
                            "ack_status": orig_results[i].status,
                            "inbound_status": row[3] if row else "not logged",
                            "replies_in_db": len(db["matched"].get(i, []))})
    outbox_status = collections.Counter(r[4] for r in outbound
                                        if r[6] == "reply" and r[1] in burst_keys)
    other_outbound = collections.Counter(r[6] for r in outbound if r[1] not in burst_keys)

    segs = [int(m["num_segments"]) for m in replies if m["to"] in expected]
    seg_db = {r[3]: r[5] for r in outbound if r[3]}
    seg_mismatch = sum(1 for m in replies if m["sid"] in seg_db
                       and seg_db[m["sid"]] != int(m["num_segments"]))
    segments = {"n": len(segs), "mean": round(sum(segs) / len(segs), 2) if segs else None,
                "median": statistics.median(segs) if segs else None,
                "max": max(segs) if segs else None,
                "distribution": dict(sorted(collections.Counter(segs).items())),
                "channel_count_disagrees_with_twilio": seg_mismatch}

    reply_latency = list(bb["latency_ms"].values())
    order = sorted(bb["latency_ms"], key=lambda i: originals[i].at)
    tenth = max(1, len(order) // 10)
    replies_by_text: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for i, message in bb["pairs"].items():
        replies_by_text[originals[i].text][message["body"][:60]] += 1
    last_reply = max((m["t"] for m in replies if m["to"] in expected), default=None)
    drain_s = round(last_reply - burst_end, 1) if last_reply else None
    delivered_rate = (round(len(bb["pairs"]) / (last_reply - burst_start), 1)
                      if last_reply else None)
    cpu = CpuMeter.delta(cpu_start, cpu_end)
    cpu_burst_only = CpuMeter.delta(cpu_start, cpu_burst)
    turns = sum(1 for r in inbound if r[3] == "processed" and r[1] in burst_keys)
    cpu_per_turn_ms = {k: round(v * 1000 / max(1, turns), 1) for k, v in cpu.items()
                       if k not in ("wall", "machine_busy", "other_work")}
    cores = os.cpu_count() or 1

    duplicates = {
        "numbers_with_more_replies_than_sms": bb["extra"],
        "replies_to_unknown_numbers": bb["strangers"],
        "retried_sids_with_two_inbound_rows": dup_inbound_rows,
        "retried_sids_with_more_than_one_reply": sum(1 for n in retried_replies if n > 1),
        "inbound_with_more_than_one_reply_db": len(multi_reply),
        "outbox_replies_matching_no_inbound": db["orphans"],
    }
    duplicate_count = (sum(bb["extra"].values()) + len(bb["strangers"]) + dup_inbound_rows
                       + len(multi_reply) + db["orphans"])
    document = {
        "benchmark": "sms",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "total_seconds": round(total_s, 1),
        "timings": {**timings, "burst_s": round(plan["duration_s"], 1),
                    "drain_after_burst_s": drain_s},
        "config": {
            "messages": args.messages, "numbers": args.numbers, "rate_per_s": args.rate,
            "retries": len(plan["retried"]), "retry_delay_s": list(args.retry_delay),
            "probe_rate_per_s": args.probe_rate, "min_gap_s": args.min_gap,
            "min_gap_violations": plan["min_gap_violations"],
            "baseline_requests": args.baseline_requests, "warmup": args.warmup,
            "drain_timeout_s": args.drain_timeout, "settle_s": args.settle,
            "seed": args.seed, "model": model.name, "patches": args.patch,
            "twilio_latency_ms": args.twilio_latency,
            "turn_concurrency": args.turn_concurrency,
            "stack": "ASSISTANT_ENV=production; PostgreSQL schema (portal + tracker store), "
                     "Redis (locks + MessageSid), Twilio stand-in validate=False; SMS worker "
                     "defaults (interval 0.25 s, batch 20); Rasa log level info",
            "sender": "separate process, asyncio + aiohttp, open loop",
        },
        "code": code_at_start,
        "code_changed_during_run": code_revision() != code_at_start,
        "machine": {"cpus": cores, "python": platform.python_version(),
                    "platform": platform.platform()},
        "machine_load": {"before_run": load_before, "end_of_run": machine_load(sample_s=0)},
        "scheduler_lateness_ms": stats(lateness, 2),
        "unexpected_status": wrong, "request_errors": errors,
        "ack_ms": ack,
        "reply_ms": {
            "black_box": stats(reply_latency),
            "database_matched": stats(list(db_latency.values())),
            "first_tenth_of_burst": stats([bb["latency_ms"][i] for i in order[:tenth]]),
            "last_tenth_of_burst": stats([bb["latency_ms"][i] for i in order[-tenth:]]),
            "warm_sequential": phases["warmup"]["warm_reply_ms"],
            "cold_first_reply_ms": phases["warmup"]["cold_reply_ms"],
            "where_it_went_ms": {k: stats(v) for k, v in db["parts"].items()},
            "black_box_and_database_agree": agree,
            "delivered_per_s": delivered_rate,
        },
        "lost": {"count": len(bb["lost"]), "no_reply_in_database": len(no_reply_db),
                 "accepted": len(accepted), "acked_200": len(acked),
                 "webhook_never_answered_200": len(never_answered),
                 "never_answered_but_logged": len(set(never_answered) & logged),
                 "logged_but_never_processed": sum(1 for r in inbound if r[3] == "received"
                                                   and r[1] in burst_keys),
                 "detail": lost_detail[:50], "timed_out": waited["timed_out"],
                 "stalled": waited["stalled"],
                 "by_ack_and_inbound_status": {f"{a} / {b}": n for (a, b), n in
                                               collections.Counter(
                                                   (x["ack_status"], x["inbound_status"])
                                                   for x in lost_detail).items()},
                 "dead_service": waited["dead_service"] or dead,
                 "outbox_reply_status": dict(outbox_status),
                 "other_outbound_by_purpose": dict(other_outbound),
                 "twilio_outcomes": dict(outcomes)},
        "duplicates": {"count": duplicate_count, **duplicates},
        "ordering": {"senders_processed_out_of_logged_order": db["senders_out_of_order"]},
        "segments_per_reply": segments,
        "cpu_s_burst_and_drain": cpu, "cpu_s_burst_only": cpu_burst_only,
        "cpu_ms_per_turn": cpu_per_turn_ms, "turns": turns,
        "other_work_cores": round(cpu["other_work"] / cpu["wall"], 2) if cpu["wall"] else None,
        "tracker_events": {"events": events[0], "conversations": events[1]},
        "postgres_activity_burst_and_drain": pg_waits,
        "tcp_counters_during_burst": {k: tcp_after.get(k, 0) - v
                                      for k, v in tcp_before.items()},
        "replies_by_text": {t: dict(c.most_common(3)) for t, c in sorted(replies_by_text.items())},
        "warmup": phases["warmup"],
    }
    if args.profile:
        document["rasa_profile"] = summarize_profile(profile_path, cpu_per_turn_ms.get("rasa"))
        document["rasa_profile"] = (dict(document["rasa_profile"], raw=str(profile_path))
                                    if document["rasa_profile"] else None)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")
    print_report(document)
    print(f"\nWrote {args.output} ({total_s:.0f} s in all)")
    ok = (ack["meets_target"] and not bb["lost"] and not never_answered
          and duplicate_count == 0 and not any(wrong.values()))
    return 0 if ok else 1


def print_report(d: Dict[str, Any]) -> None:
    a, r = d["ack_ms"], d["reply_ms"]
    c = d["config"]
    print(f"\nSMS burst: {c['messages']} inbound SMS from {c['numbers']} numbers at "
          f"{c['rate_per_s']:g}/s (+{c['retries']} retries), open loop; "
          f"{d['machine']['cpus']} cores, other work ≈ {d['other_work_cores']} cores")
    print(f"Scheduler lateness (ms): {d['scheduler_lateness_ms']}")
    print(f"Code: {d['code']['commit'][:10]}" + (" + uncommitted changes" if d["code"]["dirty"]
                                                 else "")
          + ("; WARNING: the checkout changed during the run" if d["code_changed_during_run"]
             else ""))
    if d["config"]["patches"] or d["config"]["turn_concurrency"] is not None:
        print(f"EXPERIMENT: patches {d['config']['patches']}, SMS_TURN_CONCURRENCY "
              f"{d['config']['turn_concurrency']}")
    if d["request_errors"]:
        print(f"Requests without an HTTP answer: "
              f"{ {k: (v['count'], v['types']) for k, v in d['request_errors'].items()} }")
    print("\nWebhook acknowledgement (ms)        n     p50     p90     p99     max")
    for key, label in (("signed_sms", "signed SMS (originals + retries)"),
                       ("retries", "  of which retries"),
                       ("badsig_in_burst", "bad signature (403), in burst"),
                       ("health_in_burst", "GET /webhooks/sms/, in burst"),
                       ("badsig_idle", "bad signature (403), idle"),
                       ("health_idle", "GET /webhooks/sms/, idle"),
                       ("warm_sequential_signed", "signed, one at a time (warm-up)")):
        s = a[key]
        if s.get("n"):
            print(f"  {label:<33}{s['n']:>4} {s['p50']:>7} {s['p90']:>7} {s['p99']:>7} "
                  f"{s['max']:>7}")
    print(f"  signed SMS without an HTTP answer: {a['signed_unanswered']}; target p99 < "
          f"{a['target_p99_ms']:g} ms (unanswered counted as late): "
          f"{'met' if a['meets_target'] else 'MISSED'}")
    print(f"  ratios: {a['ratios']}")
    print("\nInbound SMS -> reply at Twilio (ms)  n     p50     p95     p99     max")
    for key, label in (("black_box", "all (matched per number, in order)"),
                       ("first_tenth_of_burst", "  first tenth of the burst"),
                       ("last_tenth_of_burst", "  last tenth of the burst"),
                       ("warm_sequential", "one at a time (warm-up)")):
        s = r[key]
        if s.get("n"):
            print(f"  {label:<34}{s['n']:>4} {s['p50']:>7} {s['p95']:>7} {s['p99']:>7} "
                  f"{s['max']:>7}")
    print("  where it went (database timestamps):")
    for key, s in r["where_it_went_ms"].items():
        if s.get("n"):
            print(f"    {key:<32}{s['n']:>4} {s['p50']:>7} {s['p95']:>7} {s['p99']:>7} "
                  f"{s['max']:>7}")
    print(f"  drain after the burst: {d['timings']['drain_after_burst_s']} s; replies delivered "
          f"at {r['delivered_per_s']}/s overall")
    lost = d["lost"]
    print(f"\nWebhooks never answered 200 (Twilio would see errors): "
          f"{lost['webhook_never_answered_200']} of {d['config']['messages']} "
          f"({lost['never_answered_but_logged']} of them logged all the same)")
    print(f"Lost replies: {lost['count']} of {lost['accepted']} SMS the server took (no reply in "
          f"database: {lost['no_reply_in_database']}; logged but never handled: "
          f"{lost['logged_but_never_processed']})   Duplicates: {d['duplicates']['count']}")
    s = d["segments_per_reply"]
    print(f"Segments per reply: mean {s['mean']}, median {s['median']}, max {s['max']}, "
          f"distribution {s['distribution']}")
    print(f"Kernel TCP counters during the burst (machine-wide): "
          f"{d['tcp_counters_during_burst']}")
    print(f"CPU seconds (burst + drain): {d['cpu_s_burst_and_drain']}")
    print(f"CPU ms per turn: {d['cpu_ms_per_turn']}")
    profile = d.get("rasa_profile")
    if profile:
        print(f"Rasa py-spy (GIL samples {profile['samples']}), threads %: "
              f"{profile['threads_pct']}")
        per_turn = profile.get("inclusive_ms_per_turn") or {}
        for label, share in profile["inclusive_pct"].items():
            print(f"  {label:<50}{share:>6.1f} %  {per_turn.get(label, ''):>7} ms/turn")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as interrupt:
        log(f"Interrupted ({interrupt}); everything started was stopped.")
        sys.exit(130)
