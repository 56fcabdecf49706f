"""Per-turn latency of the citizen assistant (FULL) against a bare Rasa server (BARE).

    .venv/bin/python -m bench.bot_bench [--turns 400] [--concurrency 1 16] [--no-profile]

FULL  The real assistant, started exactly as `assistant up` starts it (assistant.stack.start_stack:
      portal, action server, Rasa, SMS worker) on its embedded defaults: SQLite under a temporary
      ASSISTANT_VAR_DIR, no Redis, no Twilio (codes land in the dev outbox), ASSISTANT_ENV=demo
      so that Rasa's REST channel is on. The portal database holds the demo municipality plus
      synthetic citizens made for the bench (valid synthetic fødselsnumre, unique mobiles), so
      every measured conversation logs in a citizen of its own and the portal's code limits
      (5 per fødselsnummer and per mobile per 10 minutes) are never reached.
BARE  `rasa run --enable-api` (through channels.rasa_main) on a model trained by the bench from the
      same config.yml and data/nlu, with a generated domain + rules that map every intent (and
      nlu_fallback) to one plain response `utter_ok`; Rasa's SQL tracker store on a SQLite file,
      the in-memory lock store, no action endpoint.

Both get the same user texts through Rasa's REST channel (`POST /webhooks/rest/webhook`): a
logged-in journey of 12 turns (see JOURNEY); the BARE server replays the very texts FULL was sent,
one-time codes included. Closed-loop asyncio + aiohttp clients (one keep-alive session per
client), for each concurrency: warm-up, then rounds that alternate FULL and BARE so drift on this
shared machine hits both. Every turn's latency counts, login turns included.

--what-if adds FULL+what-if to every round: the same stack with Rasa started through
bench/rasa_whatif.py, a one-change wrapper around channels.rasa_main (the change under study).

Afterwards (FULL ratio above target, or --profile) a profiling pass: a second FULL stack whose
Rasa -> action server and action server -> portal traffic goes through timing proxies in this
process, run one conversation at a time, splits every turn into Rasa's own time, the action
server's and the portal's, with each process's CPU; then in-process micro-measurements of the
pieces Rasa and rasa_sdk add per action call. Results: bench/results/bot.json and a table.

Only 127.0.0.1 is contacted (Rasa telemetry is switched off for every process started here);
every loop is bounded; every process started is stopped on every exit path (SIGINT, SIGTERM,
SIGHUP and errors included).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import yaml

from assistant.model import ensure_model, fingerprint, model_path, train_args
from assistant.processes import Supervisor, python_module
from assistant.runtime import BOT_DIR, Runtime
from assistant.stack import start_stack
from bench.citizens import Citizen, demo_identities, make_citizens, seed_portal
from bench.common import (RAISED_LOGIN_LIMITS, code_revision, free_port, log, machine_load,
                          machine_ticks, percentile)
from portal.config import PROJECT_ROOT

ROOT = PROJECT_ROOT
RESULTS = Path(__file__).resolve().parent / "results"
TARGET_RATIO = 1.5
HOST = "127.0.0.1"
TURN_TIMEOUT_S = 60.0

# Variables the assistant reads; unset for FULL so that it runs on its embedded defaults
# whatever the caller's environment holds.
PROJECT_VARS = (
    "ACTIONS_PORT", "ALLOW_SYNTHETIC_FNR", "ASSISTANT_ENV", "ASSISTANT_VAR_DIR", "DATABASE_URL",
    "DEV_SMS_OUTBOX", "LOGIN_RESPONSE_FLOOR_MS", "OFFER_ANSWER_DAYS", "PORTAL_PORT",
    "PRINT_DEADLINE_WORKING_HOURS", "PUBLIC_BASE_URL", "RASA_PORT", "REDIS_URL",
    "SAVING_PER_DIGITAL_LETTER_NOK", "SESSION_IDLE_MINUTES", "SMS_QUIET_HOURS",
    "PORTAL_SERVICE_TOKEN", "DISPATCH_TOKEN", "IDENTITY_HASH_KEY", "RASA_AUTH_TOKEN",
    "WEBCHAT_SECRET", "PORTAL_THREADS", "PORTAL_TIMEOUT_SECONDS", "PORTAL_URL", "PORTAL_WORKERS",
    "ACTION_ENDPOINT_URL", "TRACKER_SQLITE_PATH", "COMPRESS_ACTION_SERVER_REQUEST",
)
# No telemetry or error reports from Rasa to its vendor: this bench talks to 127.0.0.1 only.
QUIET_RASA = {"RASA_TELEMETRY_ENABLED": "false"}


# --------------------------------------------------------------------------------------------
# The journey


@dataclass(frozen=True)
class Step:
    name: str
    text: str            # "{fnr}" and "{code}" are filled per conversation
    expect: Tuple[str, ...]  # FULL: every fragment must be in the reply


JOURNEY: Tuple[Step, ...] = (
    Step("greet", "hei", ("digitale assistent",)),
    Step("login", "logg inn", ("fødselsnummeret",)),
    Step("fnr", "{fnr}", ("personlige koden",)),
    # The synthetic citizens have no personal code yet: INGEN, and they choose one at login.
    Step("no_code", "INGEN", ("engangskode",)),
    Step("code", "{code}", ("Du er nå logget inn", "Velg en personlig kode")),
    Step("choose", "4826", ("lagret",)),
    Step("letters", "vis brevene mine", ("Feievarsel for Fjellveien",)),
    Step("read_1", "les 1", ("feie pipen din",)),
    Step("invoices", "faktura", ("KID", "Kommunale avgifter")),
    Step("paid", "betalte fakturaer", ("Eiendomsskatt",)),
    Step("read_2", "les 2", ("Solstrålen barnehage",)),
    Step("help", "hjelp", ("Dette kan du skrive",)),
    Step("thank", "takk", ("Bare hyggelig",)),
    Step("logout", "logg ut", ("Du er nå logget ut",)),
)
TURNS_PER_CONVERSATION = len(JOURNEY)
BARE_REPLY = "OK."


# --------------------------------------------------------------------------------------------
# Synthetic citizens for FULL's portal database


# --------------------------------------------------------------------------------------------
# The two servers


def base_env() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in PROJECT_VARS and not k.startswith(("TWILIO_", "TRACKER_DB_",
                                                          "LOCK_REDIS_"))}
    env.update(QUIET_RASA)
    return env


def full_model() -> Path:
    """The model `assistant up` would use for the current training data. var/models is read if
    it already holds it (tests train it there); otherwise it is trained under bench/results."""
    existing = model_path(ROOT / "var" / "models")
    if existing.exists():
        return existing
    return ensure_model(RESULTS / "models", env={**base_env(), **QUIET_RASA})


class RasaModuleSupervisor(Supervisor):
    """A Supervisor that starts the "rasa" service through another module (the --what-if
    wrapper bench/rasa_whatif.py) and applies `overrides` to every service's environment;
    every other service and argument is start_stack's own."""

    rasa_module: str = "channels.rasa_main"
    overrides: Dict[str, str] = {}

    def start(self, name: str, args: List[str], health_url: str,
              headers: Optional[Dict[str, str]] = None,
              env: Optional[Dict[str, str]] = None, niceness: int = 0):
        if name == "rasa":
            args = [self.rasa_module if a == "channels.rasa_main" else a for a in args]
        env = {**(self.env if env is None else env), **self.overrides}
        return super().start(name, args, health_url, headers=headers, env=env,
                             niceness=niceness)


class FullStack:
    """The real assistant, through assistant.stack.start_stack, on embedded defaults."""

    def __init__(self, var_dir: Path, model: Path, rasa_module: Optional[str] = None):
        self.var_dir = var_dir
        self.model = model
        env = base_env()
        env.update({"ASSISTANT_ENV": "demo", "ASSISTANT_VAR_DIR": str(var_dir),
                    "PORTAL_PORT": str(free_port()), "RASA_PORT": str(free_port()),
                    "ACTIONS_PORT": str(free_port()),
                    # The demo binds every server to the loopback (assistant/runtime.py).
                    **RAISED_LOGIN_LIMITS})
        self.runtime = Runtime.from_env(env)
        self.supervisor = RasaModuleSupervisor(self.runtime.child_env(),
                                               log_dir=var_dir / "logs")
        self.supervisor.rasa_module = rasa_module or RasaModuleSupervisor.rasa_module
        self.supervisor.overrides = {}

    @property
    def rest_url(self) -> str:
        return f"{self.runtime.rasa_url}/webhooks/rest/webhook"

    @property
    def portal_url(self) -> str:
        return self.runtime.portal_url

    def start(self) -> None:
        start_stack(self.runtime, self.supervisor, self.model)

    def pgids(self) -> Dict[str, int]:
        return {s.name: s.process.pid for s in self.supervisor.services}

    def stop(self) -> None:
        self.supervisor.stop()


def _domain_lists(key: str) -> List[str]:
    names: List[str] = []
    for path in sorted((BOT_DIR / "domain").glob("*.yml")):
        for item in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get(key) or []:
            name = item if isinstance(item, str) else next(iter(item))
            if name not in names:
                names.append(name)
    return names


def _nlu_intents() -> List[str]:
    names: List[str] = []
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        for item in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            if isinstance(item, dict) and "intent" in item and item["intent"] not in names:
                names.append(item["intent"])
    return names


def build_bare_project(root: Path) -> List[str]:
    """config.yml and data/nlu copied; a domain and rules where every intent -> utter_ok.
    Laid out like the project, so assistant.model.train_args / fingerprint work on it."""
    shutil.copy(ROOT / "config.yml", root / "config.yml")
    shutil.copytree(ROOT / "data" / "nlu", root / "data" / "nlu")
    intents = _domain_lists("intents")
    intents += [i for i in _nlu_intents() if i not in intents]
    core = yaml.safe_load((BOT_DIR / "domain" / "core.yml").read_text(encoding="utf-8"))
    domain = {
        "version": "3.1",
        "session_config": core.get("session_config"),
        "intents": intents,
        "entities": _domain_lists("entities"),
        "responses": {"utter_ok": [{"text": BARE_REPLY}]},
    }
    rules = {"version": "3.1", "rules": [
        {"rule": f"{intent} -> utter_ok",
         "steps": [{"intent": intent}, {"action": "utter_ok"}]}
        for intent in intents + ["nlu_fallback"]]}
    (root / "bot" / "domain").mkdir(parents=True)
    (root / "data" / "rules").mkdir(parents=True)
    (root / "bot" / "domain" / "domain.yml").write_text(
        yaml.safe_dump(domain, allow_unicode=True, sort_keys=False), encoding="utf-8")
    (root / "data" / "rules" / "rules.yml").write_text(
        yaml.safe_dump(rules, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return intents


def bare_model(work: Path, retrain: bool) -> Tuple[Path, Dict[str, Any]]:
    """Trains the bare model with `rasa train` in a temporary project (cached by the same
    fingerprint assistant.model uses, under bench/results/models)."""
    project = work / "bare-project"
    project.mkdir()
    intents = build_bare_project(project)
    name = f"bare-{fingerprint(project)}"
    cached = RESULTS / "models" / f"{name}.tar.gz"
    info: Dict[str, Any] = {"intents": intents, "model": str(cached), "trained_s": None}
    if cached.exists() and not retrain:
        info["reused"] = True
        return cached, info
    out = work / "bare-models"
    env = {**base_env(), "RASA_CACHE_DIRECTORY": str(work / "rasa-cache")}
    log(f"Training the bare model ({name}) …")
    started = time.perf_counter()
    with open(work / "bare-train.log", "wb") as output:
        result = subprocess.run(train_args(out, name, root=project), env=env, cwd=ROOT,
                                stdout=output, stderr=subprocess.STDOUT, timeout=1800)
    if result.returncode != 0:
        tail = (work / "bare-train.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"rasa train (bare) failed:\n{tail}")
    info["trained_s"] = round(time.perf_counter() - started, 1)
    info["reused"] = False
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(out / f"{name}.tar.gz", cached)
    return cached, info


class BareServer:
    """`rasa run --enable-api` on the bare model: SQL tracker store on SQLite, no actions."""

    def __init__(self, work: Path, model: Path):
        self.port = free_port()
        self.token = uuid.uuid4().hex
        work.mkdir(parents=True, exist_ok=True)
        (work / "credentials.yml").write_text("rest:\n", encoding="utf-8")
        (work / "endpoints.yml").write_text(yaml.safe_dump({
            "tracker_store": {"type": "sql", "dialect": "sqlite",
                              "db": str(work / "conversations.sqlite3")},
            "lock_store": {"type": "in_memory"},
        }), encoding="utf-8")
        # The token goes through the environment (channels/rasa_main.py), never argv.
        self.supervisor = Supervisor({**base_env(), "RASA_AUTH_TOKEN": self.token},
                                     log_dir=work / "logs")
        self.args = python_module(
            "channels.rasa_main", "run", "--model", str(model), "--enable-api",
            "--interface", HOST, "--port", str(self.port),
            "--credentials", str(work / "credentials.yml"),
            "--endpoints", str(work / "endpoints.yml"))
        self.service = None

    @property
    def rest_url(self) -> str:
        return f"http://{HOST}:{self.port}/webhooks/rest/webhook"

    def start(self) -> None:
        self.service = self.supervisor.start(
            "bare-rasa", self.args, f"http://{HOST}:{self.port}/")

    def wait(self) -> None:
        self.supervisor.wait_healthy(self.service)

    def pgids(self) -> Dict[str, int]:
        return {s.name: s.process.pid for s in self.supervisor.services}

    def stop(self) -> None:
        self.supervisor.stop()


# --------------------------------------------------------------------------------------------
# CPU accounting per process group (each service runs in its own session/group)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> Optional[Tuple[int, int]]:
    """(process group, utime+stime ticks) of a process."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[2]), int(fields[11]) + int(fields[12])


def group_ticks(pgids: Dict[str, int]) -> Dict[str, int]:
    wanted = {pgid: name for name, pgid in pgids.items()}
    out = {name: 0 for name in pgids}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _stat(entry)
            if info and info[0] in wanted:
                out[wanted[info[0]]] += info[1]
    return out


def group_pids(pgids: Dict[str, int]) -> Dict[str, List[int]]:
    wanted = {pgid: name for name, pgid in pgids.items()}
    out: Dict[str, List[int]] = {name: [] for name in pgids}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _stat(entry)
            if info and info[0] in wanted:
                out[wanted[info[0]]].append(int(entry))
    return out


def tasks_cpu_ns(pids: List[int]) -> int:
    """CPU time of every thread of these processes, in ns (schedstat: precise, per turn)."""
    total = 0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as handle:
                    total += int(handle.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total


class CpuMeter:
    def __init__(self, pgids: Dict[str, int]):
        self.pgids = pgids

    def snapshot(self) -> Dict[str, Any]:
        own = os.times()
        busy, total = machine_ticks()
        return {"groups": group_ticks(self.pgids), "client": (own.user + own.system) * CLK_TCK,
                "busy": busy, "t": time.monotonic()}

    @staticmethod
    def delta(a: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, float]:
        out = {f"{name}_s": (b["groups"][name] - a["groups"][name]) / CLK_TCK
               for name in a["groups"]}
        out["client_s"] = (b["client"] - a["client"]) / CLK_TCK
        ours = sum(out.values())
        machine = (b["busy"] - a["busy"]) / CLK_TCK
        out["machine_busy_s"] = machine
        out["others_s"] = max(0.0, machine - ours)
        out["wall_s"] = b["t"] - a["t"]
        return out


# --------------------------------------------------------------------------------------------
# The load generator


@dataclass
class TurnRecord:
    step: str
    latency_ms: float
    ok: bool
    started: float
    ended: float


@dataclass
class Phase:
    records: List[TurnRecord] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)
    wall_s: float = 0.0
    cpu: Dict[str, float] = field(default_factory=dict)
    code_fetch_ms: List[float] = field(default_factory=list)
    unmeasured: int = 0          # turns run to keep the concurrency, not recorded
    partial: bool = False

    @property
    def turns(self) -> int:
        return len(self.records) + self.unmeasured

    def add(self, other: "Phase") -> None:
        self.records += other.records
        self.errors += other.errors
        self.wall_s += other.wall_s
        self.code_fetch_ms += other.code_fetch_ms
        self.unmeasured += other.unmeasured
        self.partial = self.partial or other.partial
        for key, value in other.cpu.items():
            self.cpu[key] = self.cpu.get(key, 0.0) + value


def reply_text(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    return "\n".join(str(m.get("text", "")) for m in messages if isinstance(m, dict))


async def send_turn(http, url: str, sender: str, text: str) -> Tuple[float, float, float, Any,
                                                                      Optional[str]]:
    import aiohttp

    started = time.perf_counter()
    try:
        async with http.post(url, json={"sender": sender, "message": text}) as response:
            body = await response.json(content_type=None)
            status = response.status
        ended = time.perf_counter()
        error = None if status == 200 else f"HTTP {status}"
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
        ended = time.perf_counter()
        body, error = None, f"{type(exc).__name__}: {exc}"
    return (ended - started) * 1000, started, ended, body, error


async def fetch_code(http, portal_url: str, mobile: str, deadline_s: float = 10.0
                     ) -> Optional[str]:
    """The one-time code from the dev outbox (`GET /dev/sms?to=`), newest message first."""
    until = time.monotonic() + deadline_s
    while time.monotonic() < until:
        async with http.get(f"{portal_url}/dev/sms", params={"to": mobile}) as response:
            data = await response.json(content_type=None)
        for message in data.get("messages") or []:
            if "Engangskoden" in message.get("body", ""):
                match = re.search(r"\b(\d{6})\b", message["body"])
                if match:
                    return match.group(1)
        await asyncio.sleep(0.05)
    return None


@dataclass
class Segment:
    """Part of one client's closed loop: the first `steps` turns of the journey for one citizen;
    only measured segments are recorded."""
    steps: int
    measured: bool


def client_plan(index: int, concurrency: int, conversations: int) -> List[Segment]:
    """Client `index` of `concurrency`: a partial journey of round(index·T/concurrency) turns first
    and the rest of one journey last, both unmeasured, around its measured conversations. So
    the clients are spread over the journey's steps from the start (no lockstep: all 16 in the
    300 ms login-code turn at once), and every measured turn runs while all clients are busy."""
    prefix = round(index * TURNS_PER_CONVERSATION / concurrency)
    plan = [Segment(prefix, False)] if prefix else []
    plan += [Segment(TURNS_PER_CONVERSATION, True) for _ in range(conversations)]
    if prefix:
        plan.append(Segment(TURNS_PER_CONVERSATION - prefix, False))
    return plan


async def full_conversation(http, stack: FullStack, citizen: Citizen, phase: Phase,
                            steps: int = TURNS_PER_CONVERSATION, measured: bool = True,
                            label: str = "FULL") -> List[str]:
    """The first `steps` turns of the journey for one citizen; returns the texts sent (for BARE
    to replay). Every reply is checked, measured or not."""
    sender = f"bench-{uuid.uuid4().hex[:16]}"
    sent: List[str] = []
    for step in JOURNEY[:steps]:
        text = step.text
        if text == "{fnr}":
            text = citizen.fnr
        elif text == "{code}":
            t0 = time.perf_counter()
            code = await fetch_code(http, stack.portal_url, citizen.mobile)
            phase.code_fetch_ms.append((time.perf_counter() - t0) * 1000)
            if code is None:
                phase.errors.append(f"no one-time code for {citizen.mobile} in the dev outbox")
                code = "000000"
            text = code
        latency, started, ended, body, error = await send_turn(http, stack.rest_url, sender,
                                                               text)
        reply = reply_text(body)
        missing = [f for f in step.expect if f not in reply]
        if step.name == "code" and citizen.first_name not in reply:
            missing.append(citizen.first_name)
        ok = error is None and not missing
        if not ok:
            phase.errors.append(f"{label} {step.name}: {error or 'missing ' + repr(missing)}; "
                                f"reply {reply[:160]!r}")
        if measured:
            phase.records.append(TurnRecord(step.name, latency, ok, started, ended))
        else:
            phase.unmeasured += 1
        sent.append(text)
    return sent


async def bare_conversation(http, url: str, texts: List[str], phase: Phase,
                            measured: bool = True) -> None:
    sender = f"bench-{uuid.uuid4().hex[:16]}"
    for step, text in zip(JOURNEY, texts):
        latency, started, ended, body, error = await send_turn(http, url, sender, text)
        reply = reply_text(body)
        ok = error is None and reply == BARE_REPLY
        if not ok:
            phase.errors.append(f"BARE {step.name}: {error or 'reply'} {reply[:80]!r}")
        if measured:
            phase.records.append(TurnRecord(step.name, latency, ok, started, ended))
        else:
            phase.unmeasured += 1


async def run_phase(plans: List[List[Any]], segment: Callable[[Any, Any, Phase], Any],
                    meter: Optional[CpuMeter], deadline: float) -> Tuple[Phase, List[List[Any]]]:
    """Closed loop: one client per plan, each with its own keep-alive session, running its
    segments back to back. Returns the phase and each segment's result, per client."""
    import aiohttp

    phase = Phase()
    results: List[List[Any]] = [[None] * len(plan) for plan in plans]

    async def client(index: int) -> None:
        timeout = aiohttp.ClientTimeout(total=TURN_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout,
                                         connector=aiohttp.TCPConnector(limit=2)) as http:
            for n, item in enumerate(plans[index]):
                if time.monotonic() > deadline:
                    phase.errors.append("time bound reached; conversation skipped")
                    phase.partial = True
                    continue
                results[index][n] = await segment(http, item, phase)

    before = meter.snapshot() if meter else None
    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(len(plans))))
    phase.wall_s = time.perf_counter() - started
    if meter:
        phase.cpu = CpuMeter.delta(before, meter.snapshot())
    return phase, results


def summarize(records: List[TurnRecord], wall_s: float, turns_run: Optional[int] = None
              ) -> Dict[str, Any]:
    """Latency percentiles of the measured turns; throughput = all turns the clients ran
    (measured + padding, all at the phase's concurrency) / the phases' wall time."""
    values = [r.latency_ms for r in records]
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "errors": sum(1 for r in records if not r.ok),
        "mean_ms": round(sum(values) / len(values), 1),
        "p50_ms": round(percentile(values, 50), 1),
        "p95_ms": round(percentile(values, 95), 1),
        "p99_ms": round(percentile(values, 99), 1),
        "max_ms": round(max(values), 1),
        "turns_per_s": round((turns_run or len(values)) / wall_s, 2) if wall_s else None,
    }


def per_step(records: List[TurnRecord]) -> Dict[str, Dict[str, float]]:
    out = {}
    for step in JOURNEY:
        values = [r.latency_ms for r in records if r.step == step.name]
        if values:
            out[step.name] = {"n": len(values), "p50_ms": round(percentile(values, 50), 1),
                              "p95_ms": round(percentile(values, 95), 1),
                              "mean_ms": round(sum(values) / len(values), 1)}
    return out


def cpu_per_turn(cpu: Dict[str, float], turns: int) -> Dict[str, float]:
    if not cpu or not turns:
        return {}
    out = {k[:-2]: round(v * 1000 / turns, 1) for k, v in cpu.items()
           if k.endswith("_s") and k not in ("wall_s", "machine_busy_s", "others_s")}
    out["total_ours"] = round(sum(out.values()), 1)
    out["other_work_cores"] = round(cpu["others_s"] / cpu["wall_s"], 2) if cpu["wall_s"] else None
    return out


# --------------------------------------------------------------------------------------------
# The measured comparison


async def measure(servers: Dict[str, Any], citizens: List[Citizen],
                  args: argparse.Namespace, deadline: float) -> Dict[str, Any]:
    """FULL (and FULL+fix with --what-if) run the journeys; BARE replays FULL's texts. Each
    concurrency: warm-up, then rounds FULL -> [FULL+fix] -> BARE."""
    full, bare = servers["full"], servers["bare"]
    fulls = {name: stack for name, stack in servers.items() if name != "bare"}
    pools = {name: list(citizens) for name in fulls}   # each stack has its own database
    meters = {name: CpuMeter(stack.pgids()) for name, stack in servers.items()}

    def take(name: str, n: int) -> List[Citizen]:
        pool = pools[name]
        if n > len(pool):
            raise RuntimeError("not enough synthetic citizens left")
        taken, pool[:] = pool[:n], pool[n:]
        return taken

    async def full_run(name: str, plans: List[List[Segment]], meter=None
                       ) -> Tuple[Phase, List[List[Tuple[List[str], bool]]]]:
        stack = fulls[name]
        people = iter(take(name, sum(len(p) for p in plans)))
        jobs = [[(next(people), seg) for seg in plan] for plan in plans]

        async def segment(http, job, phase):
            who, seg = job
            texts = await full_conversation(http, stack, who, phase, seg.steps, seg.measured,
                                            label=name.upper())
            return texts, seg.measured

        return await run_phase(jobs, segment, meter, deadline)

    async def bare_run(transcripts: List[List[Tuple[List[str], bool]]], meter=None) -> Phase:
        jobs = [[t for t in client if t is not None] for client in transcripts]

        async def segment(http, job, phase):
            texts, measured = job
            await bare_conversation(http, bare.rest_url, texts, phase, measured)

        phase, _ = await run_phase(jobs, segment, meter, deadline)
        return phase

    # One conversation per FULL stack checked on its own, then replayed on BARE.
    for name in fulls:
        check, transcripts = await full_run(name, [[Segment(TURNS_PER_CONVERSATION, True)]])
        if check.errors:
            raise RuntimeError(f"{name} journey check failed:\n  "
                               + "\n  ".join(check.errors[:12]))
        log(f"Journey checked: {name.upper()} "
            f"{[round(r.latency_ms) for r in check.records]} ms")
    bare_check = await bare_run(transcripts)
    if bare_check.errors:
        raise RuntimeError("BARE journey check failed:\n  " + "\n  ".join(bare_check.errors[:6]))
    log(f"Journey checked: BARE {[round(r.latency_ms) for r in bare_check.records]} ms")

    out: Dict[str, Any] = {}
    order = list(fulls) + ["bare"]
    for c in args.concurrency:
        rounds = max(1, args.rounds)
        per_client = max(1, math.ceil(args.turns / (TURNS_PER_CONVERSATION * c * rounds)))
        warm_n = max(args.warmup_conversations, c)
        log(f"Concurrency {c}: warm-up {warm_n} conversations, then {rounds} rounds × "
            f"{per_client * c} measured conversations ({per_client * c * TURNS_PER_CONVERSATION}"
            f" turns) per server")
        warm_plans = [[Segment(TURNS_PER_CONVERSATION, True)
                       for _ in range(len(range(i, warm_n, c)))] for i in range(c)]
        warm: Dict[str, Phase] = {}
        for name in fulls:
            warm[name], warm_texts = await full_run(name, warm_plans)
            if name == "full":
                warm["bare"] = await bare_run(warm_texts)
        totals = {name: Phase() for name in order}
        plans = [client_plan(i, c, per_client) for i in range(c)]
        for round_no in range(rounds):
            phases: Dict[str, Phase] = {}
            for name in fulls:
                phases[name], texts = await full_run(name, plans, meters[name])
                if name == "full":
                    full_texts = texts
            phases["bare"] = await bare_run(full_texts, meters["bare"])
            for name in order:
                totals[name].add(phases[name])
            log(f"  round {round_no + 1}/{rounds}: " + "; ".join(
                f"{name.upper()} p50 {percentile([r.latency_ms for r in ph.records], 50):.0f} "
                f"ms, {ph.turns / ph.wall_s:.1f} turns/s"
                + (f", {len(ph.errors)} errors" if ph.errors else "")
                for name, ph in phases.items()))
            if time.monotonic() > deadline:
                log("  time bound reached")
                break
        result: Dict[str, Any] = {}
        for name in order:
            phase = totals[name]
            result[name] = {**summarize(phase.records, phase.wall_s, phase.turns),
                            "per_step": per_step(phase.records),
                            "cpu_ms_per_turn": cpu_per_turn(phase.cpu, phase.turns),
                            "error_samples": phase.errors[:8],
                            "without_login_turns": summarize(
                                [r for r in phase.records if r.step not in ("fnr", "code")], 0),
                            "warmup_p50_ms": round(percentile(
                                [r.latency_ms for r in warm[name].records], 50), 1),
                            "warmup_errors": warm[name].errors[:3]}
            if phase.code_fetch_ms:
                result[name]["code_fetch_ms_p50"] = round(percentile(phase.code_fetch_ms, 50), 1)
        for name in fulls:
            r, b = result[name], result["bare"]
            ratios = {f"{q}": round(r[f"{q}_ms"] / b[f"{q}_ms"], 2) for q in ("p50", "p95", "p99")}
            ratios.update({f"{q}_without_login_turns": round(
                r["without_login_turns"][f"{q}_ms"] / b["without_login_turns"][f"{q}_ms"], 2)
                for q in ("p50", "p95")})
            ratios["throughput"] = round(r["turns_per_s"] / b["turns_per_s"], 2)
            r["ratio_to_bare"] = ratios
            r["meets_target"] = ratios["p50"] <= TARGET_RATIO and ratios["p95"] <= TARGET_RATIO
        out[str(c)] = result
        if time.monotonic() > deadline or any(totals[n].partial for n in order):
            out["partial"] = True
            break
    return out


# --------------------------------------------------------------------------------------------
# Profiling: where does a FULL turn's time go?


class TimingProxy:
    """A forwarding HTTP proxy on 127.0.0.1 recording every call's duration (upstream time as seen
    by the caller, minus this proxy's own ~0.3-1 ms), runs in its own thread and event loop."""

    def __init__(self, name: str, upstream: str):
        self.name, self.upstream = name, upstream.rstrip("/")
        self.port = free_port()
        self.calls: List[Dict[str, Any]] = []
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._ready = threading.Event()
        self._stop: Optional[asyncio.Event] = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"proxy-{self.name}",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError(f"proxy {self.name} did not start")

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        import aiohttp
        from aiohttp import web

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TURN_TIMEOUT_S))

        async def handle(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            headers = {k: v for k, v in request.headers.items()
                       if k.lower() not in ("host", "content-length", "transfer-encoding",
                                            "connection")}
            started = time.perf_counter()
            async with session.request(request.method, self.upstream + request.path_qs,
                                       data=body, headers=headers) as upstream:
                data = await upstream.read()
                status = upstream.status
                ctype = upstream.headers.get("Content-Type", "application/json")
            ended = time.perf_counter()
            match = re.match(rb'\s*\{\s*"next_action"\s*:\s*"([^"]+)"', body[:200])
            self.calls.append({"path": request.path, "method": request.method,
                               "action": match.group(1).decode() if match else None,
                               "started": started, "ended": ended,
                               "ms": (ended - started) * 1000, "status": status,
                               "request_bytes": len(body), "response_bytes": len(data),
                               "has_domain": b'"domain"' in body if match else None})
            return web.Response(body=data, status=status, headers={"Content-Type": ctype})

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, HOST, self.port)
        await site.start()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()
            await session.close()

    def stop(self) -> None:
        """Idempotent: stops the server and joins the thread."""
        thread, self._thread = self._thread, None
        if thread is None or not thread.is_alive():
            return
        if self._loop is not None and self._stop is not None:
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:      # the loop already closed
                pass
        thread.join(15)


async def profile_turns(stack: FullStack, citizens: List[Citizen], proxies: Dict[str, TimingProxy],
                        deadline: float) -> Dict[str, Any]:
    """One conversation at a time through the timing proxies: per step, Rasa's own time, the
    action server's, the portal's, and each process's CPU (schedstat) during the turn."""
    import aiohttp

    pids = group_pids(stack.pgids())
    per_turn: List[Dict[str, Any]] = []
    cpu_before: Dict[str, int] = {}

    def observer_start() -> None:
        for name, plist in pids.items():
            cpu_before[name] = tasks_cpu_ns(plist)

    phase = Phase()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TURN_TIMEOUT_S)) as http:
        for citizen in citizens:
            if time.monotonic() > deadline:
                break
            # Run the journey step by step, sampling CPU around each turn.
            sender = f"bench-prof-{uuid.uuid4().hex[:12]}"
            for step in JOURNEY:
                text = step.text
                if text == "{fnr}":
                    text = citizen.fnr
                elif text == "{code}":
                    text = await fetch_code(http, stack.portal_url, citizen.mobile) or "000000"
                await asyncio.sleep(0.02)   # let the previous turn's stragglers (logging) settle
                observer_start()
                latency, started, ended, body, error = await send_turn(
                    http, stack.rest_url, sender, text)
                cpu = {name: (tasks_cpu_ns(plist) - cpu_before[name]) / 1e6
                       for name, plist in pids.items()}
                reply = reply_text(body)
                ok = error is None and all(f in reply for f in step.expect)
                if not ok:
                    phase.errors.append(f"{step.name}: {error} {reply[:100]!r}")
                per_turn.append({"step": step.name, "ms": latency, "started": started,
                                 "ended": ended, "cpu_ms": cpu, "ok": ok})
    # Attribute proxy calls to turns by time (one turn at a time).
    action_calls = proxies["actions"].calls
    portal_calls = proxies["portal"].calls
    for turn in per_turn:
        inside = lambda c: turn["started"] <= c["started"] and c["ended"] <= turn["ended"] + 1e-3
        turn["actions"] = [c for c in action_calls if inside(c)]
        turn["portal"] = [c for c in portal_calls if inside(c)]
    out: Dict[str, Any] = {"errors": phase.errors[:8], "steps": {}}
    for step in JOURNEY:
        turns = [t for t in per_turn if t["step"] == step.name and t["ok"]]
        if not turns:
            continue

        def med(values: List[float]) -> float:
            return round(percentile(values, 50), 1)

        action_ms = [sum(c["ms"] for c in t["actions"]) for t in turns]
        portal_ms = [sum(c["ms"] for c in t["portal"]) for t in turns]
        names: Dict[str, int] = {}
        for t in turns:
            for c in t["actions"]:
                names[c["action"]] = names.get(c["action"], 0) + 1
        paths: Dict[str, int] = {}
        for t in turns:
            for c in t["portal"]:
                key = re.sub(r"/\d+", "/<id>", f"{c['method']} {c['path']}")
                paths[key] = paths.get(key, 0) + 1
        out["steps"][step.name] = {
            "n": len(turns),
            "turn_ms_p50": med([t["ms"] for t in turns]),
            "action_calls_per_turn": round(sum(len(t["actions"]) for t in turns) / len(turns), 2),
            "actions": {k: round(v / len(turns), 2) for k, v in names.items()},
            "action_server_ms_p50": med(action_ms),
            "portal_calls_per_turn": round(sum(len(t["portal"]) for t in turns) / len(turns), 2),
            "portal_paths": {k: round(v / len(turns), 2) for k, v in paths.items()},
            "portal_ms_p50": med(portal_ms),
            "rasa_own_ms_p50": med([t["ms"] - a for t, a in zip(turns, action_ms)]),
            "actions_own_ms_p50": med([a - p for a, p in zip(action_ms, portal_ms)]),
            "action_request_kb_mean": round(
                sum(c["request_bytes"] for t in turns for c in t["actions"])
                / max(1, sum(len(t["actions"]) for t in turns)) / 1024, 1),
            "cpu_ms_mean": {name: round(sum(t["cpu_ms"][name] for t in turns) / len(turns), 1)
                            for name in pids},
        }
    all_ok = [t for t in per_turn if t["ok"]]
    if all_ok:
        total = sum(t["ms"] for t in all_ok)
        actions = sum(c["ms"] for t in all_ok for c in t["actions"])
        portal = sum(c["ms"] for t in all_ok for c in t["portal"])
        out["share_of_turn_time"] = {
            "rasa_own": round((total - actions) / total, 3),
            "action_server_own": round((actions - portal) / total, 3),
            "portal": round(portal / total, 3)}
        out["turns"] = len(all_ok)
        out["mean_turn_ms"] = round(total / len(all_ok), 1)
        calls = [c for t in all_ok for c in t["actions"]]
        out["action_calls"] = {
            "per_turn": round(len(calls) / len(all_ok), 2),
            "mean_ms": round(sum(c["ms"] for c in calls) / max(1, len(calls)), 1),
            "request_kb_mean": round(sum(c["request_bytes"] for c in calls)
                                     / max(1, len(calls)) / 1024, 1),
            "with_domain_share": round(sum(1 for c in calls if c["has_domain"])
                                       / max(1, len(calls)), 2),
            "validate_slot_mappings_mean_ms": round(
                sum(c["ms"] for c in calls if c["action"] == "action_validate_slot_mappings")
                / max(1, sum(1 for c in calls
                             if c["action"] == "action_validate_slot_mappings")), 1)}
        pcalls = [c for t in all_ok for c in t["portal"]]
        out["portal_calls"] = {"per_turn": round(len(pcalls) / len(all_ok), 2),
                               "mean_ms": round(sum(c["ms"] for c in pcalls)
                                                / max(1, len(pcalls)), 1)}
        out["cpu_ms_per_turn_mean"] = {
            name: round(sum(t["cpu_ms"][name] for t in all_ok) / len(all_ok), 1)
            for name in pids}
    return out


def micro_costs(full_var_dir: Path, bare_db: Path, bare_domain: Path, samples: int = 30
                ) -> Dict[str, Any]:
    """In-process costs of what Rasa and rasa_sdk do per action call and per turn, measured on
    real trackers from the FULL run's conversation store (a copy)."""
    import jsonschema

    from rasa.core.actions.action import RemoteAction
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
    from rasa_sdk import Tracker

    from channels.tracker_store import RedactingSQLTrackerStore, redacted

    domain = Domain.load(str(BOT_DIR / "domain"))
    schema = RemoteAction.action_response_format_spec()
    compiled = jsonschema.validators.validator_for(schema)(schema)
    source = full_var_dir / "conversations.sqlite3"
    work = Path(tempfile.mkdtemp(prefix="bot-bench-micro-"))
    try:
        copy = work / "conversations.sqlite3"
        shutil.copy(source, copy)
        store = RedactingSQLTrackerStore(domain=domain, dialect="sqlite", db=str(copy))
        plain = SQLTrackerStore(domain=domain, dialect="sqlite", db=str(copy))
        senders = [s for s in asyncio.run(store.keys()) if s.startswith("bench-")][:samples]
        results: Dict[str, List[float]] = {}

        def timed(key: str, fn: Callable[[], Any]) -> Any:
            t0 = time.perf_counter()
            value = fn()
            results.setdefault(key, []).append((time.perf_counter() - t0) * 1000)
            return value

        event_counts = []
        for sender in senders:
            tracker = timed("tracker_store_retrieve", lambda: asyncio.run(store.retrieve(sender)))
            if tracker is None:
                continue
            event_counts.append(len(tracker.events))
            timed("redact_rebuild_tracker (RedactingMixin.save)",
                  lambda: redacted(tracker, domain))
            state = timed("tracker.current_state(ALL)",
                          lambda: tracker.current_state(EventVerbosity.ALL))
            dumped = timed("domain.as_dict()", domain.as_dict)
            payload = {"next_action": "action_list_letters", "sender_id": sender,
                       "tracker": state, "version": "3.6", "domain": dumped}
            raw = timed("json.dumps(action request)", lambda: json.dumps(payload))
            results.setdefault("action_request_kb", []).append(len(raw) / 1024)
            results.setdefault("of_which_domain_kb", []).append(len(json.dumps(dumped)) / 1024)
            timed("json.loads(action request) (rasa_sdk)", lambda: json.loads(raw))
            timed("rasa_sdk Tracker.from_dict", lambda: Tracker.from_dict(state))
            response = {"events": [{"event": "slot", "name": "language", "value": "nb",
                                    "timestamp": None}], "responses": [{"text": "x"}]}
            timed("jsonschema.validate of an action response, per call (Rasa 3.6 as shipped)",
                  lambda: jsonschema.validate(response, RemoteAction.action_response_format_spec()))
            timed("compiled validator, per call (channels/rasa_fixes.py)",
                  lambda: compiled.validate(response))
            timed("DialogueStateTracker.from_dict (retrieve replay)",
                  lambda: DialogueStateTracker.from_dict(sender, state["events"], domain.slots))
        # save(): a new tracker's events appended, as after a turn (on a scratch copy).
        for sender in senders[:10]:
            tracker = asyncio.run(plain.retrieve(sender))
            if tracker is None:
                continue
            fresh = DialogueStateTracker.from_dict(f"{sender}-x", [e.as_dict() for e in
                                                                   tracker.events], domain.slots)
            timed("tracker_store_save plain SQL (whole conversation, first save)",
                  lambda: asyncio.run(plain.save(fresh)))
            fresh2 = DialogueStateTracker.from_dict(f"{sender}-y", [e.as_dict() for e in
                                                                    tracker.events], domain.slots)
            timed("tracker_store_save redacting SQL (whole conversation, first save)",
                  lambda: asyncio.run(store.save(fresh2)))
        # BARE's conversations (same texts, no custom actions): fewer events to load per turn.
        bare_copy = work / "bare.sqlite3"
        bare_events = []
        if bare_db.exists():
            shutil.copy(bare_db, bare_copy)
            bare_store = SQLTrackerStore(domain=Domain.load(str(bare_domain)), dialect="sqlite",
                                         db=str(bare_copy))
            for sender in [s for s in asyncio.run(bare_store.keys())
                           if s.startswith("bench-")][:samples]:
                tracker = timed("tracker_store_retrieve (BARE)",
                                lambda: asyncio.run(bare_store.retrieve(sender)))
                if tracker is not None:
                    bare_events.append(len(tracker.events))
        out = {k: {"median": round(percentile(v, 50), 2), "mean": round(sum(v) / len(v), 2),
                   "n": len(v)} for k, v in results.items()}
        out["events_per_conversation_median"] = percentile(event_counts, 50) if event_counts \
            else None
        out["events_per_conversation_median (BARE)"] = (percentile(bare_events, 50)
                                                        if bare_events else None)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Report


LABEL = {"full": "FULL", "full_fix": "FULL+what-if", "bare": "BARE"}


def _levels(measured: Dict[str, Any]) -> List[Tuple[str, Dict[str, Any]]]:
    return [(c, r) for c, r in measured.items() if isinstance(r, dict)]


def print_table(measured: Dict[str, Any]) -> None:
    print(f"\nPer-turn latency through Rasa's REST channel ({TURNS_PER_CONVERSATION}-turn "
          f"logged-in journey; target FULL ≤ {TARGET_RATIO}× BARE at p50 and p95)\n")
    print("| concurrency | server | turns | p50 ms | p95 ms | p99 ms | turns/s | errors |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c, result in _levels(measured):
        for name, r in result.items():
            print(f"| {c} | {LABEL[name]} | {r['n']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
                  f"{r['p99_ms']:.1f} | {r['turns_per_s']:.2f} | {r['errors']} |")
    print("\n| concurrency | server | ÷ BARE p50 | ÷ BARE p95 | ÷ BARE p99 | throughput ÷ BARE "
          "| without fnr+code turns: p50 / p95 | meets 1.5× |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | :---: |")
    for c, result in _levels(measured):
        for name, r in result.items():
            if name == "bare":
                continue
            q = r["ratio_to_bare"]
            print(f"| {c} | {LABEL[name]} | {q['p50']:.2f} | {q['p95']:.2f} | {q['p99']:.2f} | "
                  f"{q['throughput']:.2f} | {q['p50_without_login_turns']:.2f} / "
                  f"{q['p95_without_login_turns']:.2f} | "
                  f"{'yes' if r['meets_target'] else 'no'} |")
    print("\nPer step, p50 ms (" + " / ".join(LABEL[n] for n in
                                            next(iter(_levels(measured)), ("", {}))[1]) + "):\n")
    print("| concurrency | " + " | ".join(s.name for s in JOURNEY) + " |")
    print("| ---: |" + " ---: |" * len(JOURNEY))
    for c, result in _levels(measured):
        cells = []
        for step in JOURNEY:
            cells.append(" / ".join(
                f"{r['per_step'].get(step.name, {}).get('p50_ms', float('nan')):.0f}"
                for r in result.values()))
        print(f"| {c} | " + " | ".join(cells) + " |")
    print("\nCPU per turn, ms (each service's process group; client = this bench; "
          "other_work_cores = other work on the machine meanwhile):")
    for c, result in _levels(measured):
        for name, r in result.items():
            cpu = r.get("cpu_ms_per_turn") or {}
            print(f"  c={c} {LABEL[name]}: " + ", ".join(f"{k} {v}" for k, v in cpu.items()))


def print_profile(profile: Dict[str, Any]) -> None:
    turns = profile.get("turns_profile") or {}
    if turns.get("steps"):
        print("\nProfile (FULL through timing proxies, one conversation at a time; p50 ms):\n")
        print("| step | turn | Rasa own | action server own | portal | action calls | "
              "portal calls | CPU ms rasa / actions / portal / sms |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for name, s in turns["steps"].items():
            cpu = s["cpu_ms_mean"]
            print(f"| {name} | {s['turn_ms_p50']} | {s['rasa_own_ms_p50']} | "
                  f"{s['actions_own_ms_p50']} | {s['portal_ms_p50']} | "
                  f"{s['action_calls_per_turn']} | {s['portal_calls_per_turn']} | "
                  f"{cpu.get('rasa')} / {cpu.get('actions')} / {cpu.get('portal')} / "
                  f"{cpu.get('sms-worker')} |")
        if "share_of_turn_time" in turns:
            print(f"\nShare of turn time: {turns['share_of_turn_time']}; action calls: "
                  f"{turns['action_calls']}; portal calls: {turns['portal_calls']}")
            print(f"CPU per turn (mean ms): {turns['cpu_ms_per_turn_mean']}")
    for name, spy in (profile.get("py_spy") or {}).items():
        print(f"\npy-spy, {name} ({spy['samples']} samples), inclusive share of busy samples:")
        for key, share in list(spy["inclusive_share"].items())[:14]:
            print(f"  {share:6.1%}  {key}")
    micro = profile.get("micro")
    if micro:
        print("\nIn-process costs (median ms, real trackers of this run):")
        for key, value in micro.items():
            if isinstance(value, dict):
                print(f"  {key}: {value['median']}")
            else:
                print(f"  {key}: {value}")


# --------------------------------------------------------------------------------------------


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bot_bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=400,
                        help="measured turns per server and concurrency, at least (default 400; "
                             "rounded up to whole conversations per client and round)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16],
                        help="concurrent conversations (default: 1 16)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="measured conversations are split into rounds alternating FULL and "
                             "BARE (default 2)")
    parser.add_argument("--warmup-conversations", type=int, default=3,
                        help="warm-up conversations per concurrency, at least the concurrency "
                             "(default 3)")
    parser.add_argument("--what-if", action="store_true",
                        help="also measure FULL+what-if: the same stack with Rasa started "
                             "through bench/rasa_whatif.py (the change under study: the "
                             "tracker store redacts only new events)")
    parser.add_argument("--profile", dest="profile", action="store_true", default=None,
                        help="always run the profiling pass (default: only if a ratio misses "
                             "the target)")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--profile-conversations", type=int, default=12,
                        help="conversations in the profiling pass (default 12)")
    parser.add_argument("--py-spy", type=Path, default=None, metavar="PATH",
                        help="a py-spy binary: also sample the profiling stack's Rasa, action "
                             "server and portal during the profiling pass")
    parser.add_argument("--retrain-bare", action="store_true",
                        help="train the bare model even if bench/results/models has it")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--max-seconds", type=float, default=2400,
                        help="bound on the measuring time (default 2400 s)")
    parser.add_argument("--output", type=Path, default=RESULTS / "bot.json")
    parser.add_argument("--no-logs", dest="keep_logs", action="store_false",
                        help="don't copy the servers' logs to bench/results/bot_logs/ (default: "
                             "copied, replacing the previous run's)")
    args = parser.parse_args(argv)
    if any(c < 1 for c in args.concurrency) or args.turns < 1:
        parser.error("--turns and --concurrency must be positive")
    return args


def conversations_needed(args: argparse.Namespace) -> int:
    """Citizens one FULL stack logs in (each conversation or partial one uses its own)."""
    total = 1
    for c in args.concurrency:
        rounds = max(1, args.rounds)
        per_client = max(1, math.ceil(args.turns / (TURNS_PER_CONVERSATION * c * rounds)))
        plans = [client_plan(i, c, per_client) for i in range(c)]
        total += max(args.warmup_conversations, c) + rounds * sum(len(p) for p in plans)
    return total


def run_profile(model: Path, work: Path, citizens: List[Citizen], full_var_dir: Path,
                args: argparse.Namespace, stacks: List[Any], proxies: List["TimingProxy"]
                ) -> Dict[str, Any]:
    """A FULL stack whose Rasa -> actions and actions -> portal calls pass timing proxies, run one
    conversation at a time; optionally py-spy on its processes; then in-process costs."""
    out: Dict[str, Any] = {}
    prof_dir = work / "profile-var"
    probe = FullStack(prof_dir, model)
    portal_proxy = TimingProxy("portal", probe.portal_url)
    actions_proxy = TimingProxy("actions", f"http://{HOST}:{probe.runtime.actions_port}")
    proxies += [portal_proxy, actions_proxy]
    for proxy in (portal_proxy, actions_proxy):
        proxy.start()
    probe.supervisor.overrides.update({"ACTION_ENDPOINT_URL": f"{actions_proxy.url}/webhook",
                                       "PORTAL_URL": portal_proxy.url})
    seed_portal(probe.runtime.settings, citizens, prof_dir, args.seed)
    stacks.append(probe)
    probe.start()
    spies: List[Tuple[str, subprocess.Popen, Path]] = []
    proxied = {"actions": actions_proxy, "portal": portal_proxy}
    n = args.profile_conversations
    try:
        asyncio.run(profile_turns(probe, citizens[:2], proxied, time.monotonic() + 300))  # warm
        actions_proxy.calls.clear()
        portal_proxy.calls.clear()
        out["turns_profile"] = asyncio.run(profile_turns(
            probe, citizens[2:2 + n], proxied, time.monotonic() + 600))
        if args.py_spy:   # a separate pass: sampling slows the processes a little
            for name, pids in group_pids(probe.pgids()).items():
                if name == "sms-worker":
                    continue
                for pid in pids:
                    raw = work / f"pyspy-{name}-{pid}.txt"
                    spies.append((name, subprocess.Popen(
                        [str(args.py_spy), "record", "--nonblocking", "-p", str(pid), "-r",
                         "200", "--format", "raw", "-o", str(raw), "-d", "600"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                        start_new_session=True), raw))
            time.sleep(1.0)
            asyncio.run(profile_turns(probe, citizens[2 + n:2 + 2 * n], proxied,
                                      time.monotonic() + 600))
    finally:
        for _, spy, _ in spies:
            if spy.poll() is None:
                spy.send_signal(signal.SIGINT)     # py-spy writes its samples on SIGINT
        for _, spy, _ in spies:
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait(10)
        probe.stop()
        for proxy in (portal_proxy, actions_proxy):
            proxy.stop()
    if spies:
        out["py_spy"] = {name: summarize_py_spy([raw for n, _, raw in spies if n == name])
                         for name in {n for n, _, _ in spies}}
    log("Measuring Rasa's and rasa_sdk's per-call pieces in-process …")
    out["micro"] = micro_costs(full_var_dir, work / "bare" / "conversations.sqlite3",
                               work / "bare-project" / "bot" / "domain")
    return out


def summarize_py_spy(paths: List[Path], top: int = 40) -> Dict[str, Any]:
    """Inclusive share of samples per function (collapsed stacks from `py-spy --format raw`)."""
    total = 0
    inclusive: Dict[str, int] = {}
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            total += n
            seen = set()
            for frame in stack.split(";"):
                match = re.match(r"\s*(.*?) \((.*?):\d+\)", frame)
                if not match:
                    continue
                key = f"{match.group(1)} ({match.group(2).split('site-packages/')[-1]})"
                if key not in seen:
                    seen.add(key)
                    inclusive[key] = inclusive.get(key, 0) + n
    ranked = sorted(inclusive.items(), key=lambda kv: -kv[1])
    # Frames every sample passes through (server loops, runpy) say nothing; leave them out.
    skip = ("runpy.py", "threading.py", "sanic/", "asyncio/", "uvloop", "gunicorn/",
            "concurrent/futures", "<module>", "main (", "click/", "rasa/cli/", "(rasa/api.py)",
            "(rasa/core/run.py)", "(assistant/cli.py)", "rasa_sdk/__main__.py",
            "run (rasa_sdk/endpoint.py)", "connection_task", "handle_request (handle_request)")
    shares = [(k, round(v / total, 3)) for k, v in ranked if not any(x in k for x in skip)]
    return {"samples": total, "inclusive_share": dict(shares[:top])}


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    timings: Dict[str, float] = {}

    def _terminate(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)

    load_before = machine_load()
    if load_before["busy_pct_all_cores"] > 20:
        log(f"WARNING: the machine is already {load_before['busy_pct_all_cores']}% busy with "
            "other work; latencies will be inflated")
    work = Path(tempfile.mkdtemp(prefix="bot-bench-"))
    stacks: List[Any] = []
    proxies: List[TimingProxy] = []
    measured: Dict[str, Any] = {}
    profile: Dict[str, Any] = {}
    load_end: Optional[Dict[str, Any]] = None
    bare_info: Dict[str, Any] = {}
    model: Optional[Path] = None
    try:
        t0 = time.perf_counter()
        model = full_model()
        bare_path, bare_info = bare_model(work, args.retrain_bare)
        timings["models_s"] = round(time.perf_counter() - t0, 1)

        needed = conversations_needed(args)
        fnrs, mobiles = demo_identities()
        citizens = make_citizens(needed + 4 + 2 * args.profile_conversations + 4, args.seed, fnrs,
                                 mobiles)
        main_citizens, profile_citizens = citizens[:needed + 4], citizens[needed + 4:]

        t0 = time.perf_counter()
        servers: Dict[str, Any] = {"full": FullStack(work / "full-var", model)}
        if args.what_if:
            servers["full_fix"] = FullStack(work / "full-fix-var", model,
                                            rasa_module="bench.rasa_whatif")
        for name, stack in servers.items():
            seed_portal(stack.runtime.settings, main_citizens, stack.var_dir, args.seed)
        bare = BareServer(work / "bare", bare_path)
        stacks += [bare, *servers.values()]
        bare.start()                      # loads its model while the FULL stacks start
        for stack in servers.values():
            stack.start()
        bare.wait()
        servers["bare"] = bare
        timings["startup_s"] = round(time.perf_counter() - t0, 1)
        log(f"Up in {timings['startup_s']} s: " + ", ".join(
            f"{LABEL[n]} {s.rest_url}" for n, s in servers.items())
            + f"; {len(main_citizens)} bench citizens per FULL stack")

        deadline = time.monotonic() + args.max_seconds
        t0 = time.perf_counter()
        measured = asyncio.run(measure(servers, main_citizens, args, deadline))
        timings["measure_s"] = round(time.perf_counter() - t0, 1)
        load_end = machine_load(sample_s=0.5)
        if args.keep_logs:
            _keep_logs(work)
        for stack in stacks:
            stack.stop()

        misses = any(not r["full"].get("meets_target") for _, r in _levels(measured))
        if args.profile or (args.profile is None and misses):
            t0 = time.perf_counter()
            log("Profiling: a FULL stack behind timing proxies, one conversation at a time …")
            profile = run_profile(model, work, profile_citizens, work / "full-var", args,
                                  stacks, proxies)
            timings["profile_s"] = round(time.perf_counter() - t0, 1)
    finally:
        # Every step on its own: one failing must not leave the others' processes running.
        for item in [*stacks, *proxies]:
            try:
                item.stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                log(f"stopping {type(item).__name__} failed: {exc}")
        shutil.rmtree(work, ignore_errors=True)

    timings["total_s"] = round(time.perf_counter() - began, 1)
    print_table(measured)
    if profile:
        print_profile(profile)
    document = {
        "benchmark": "bot",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "target": f"FULL per-turn latency <= {TARGET_RATIO} x BARE at p50 and p95",
        "journey": [{"step": s.name, "text": s.text} for s in JOURNEY],
        "config": {"turns": args.turns, "concurrency": args.concurrency, "rounds": args.rounds,
                   "warmup_conversations": args.warmup_conversations, "what_if": args.what_if,
                   "client": "asyncio + aiohttp, one keep-alive session per client, closed "
                             "loop; clients staggered over the journey by unmeasured partial "
                             "conversations",
                   "full": "assistant.stack.start_stack, embedded defaults (SQLite, no Redis, no "
                           "Twilio), ASSISTANT_ENV=demo, log level info, RASA_TELEMETRY_ENABLED="
                           "false",
                   "full_fix": "as FULL, Rasa through bench/rasa_whatif.py (redacting "
                               "tracker store redacts only the new events)",
                   "bare": "rasa run --enable-api, same config.yml + data/nlu, every intent -> "
                           "utter_ok, SQL tracker store on SQLite, no action endpoint",
                   "full_model": model.name if model else None, "bare_model": bare_info},
        "code": code_revision(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "machine_load": {"before": load_before, "end_of_measuring": load_end},
        "timings_s": timings,
        "results": measured,
        "profile": profile,
    }
    args.output.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"\nWrote {args.output} (bench took {timings['total_s']:.0f} s)")
    errors = sum(r[n]["errors"] for _, r in _levels(measured) for n in r)
    return 0 if errors == 0 and not measured.get("partial") else 1


def _keep_logs(work: Path) -> None:
    target = RESULTS / "bot_logs"
    shutil.rmtree(target, ignore_errors=True)
    for logs in work.rglob("logs"):
        if logs.is_dir():
            shutil.copytree(logs, target / logs.parent.name, dirs_exist_ok=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as interrupt:
        log(f"Interrupted ({interrupt}); every process the bench started was stopped.")
        sys.exit(130)
