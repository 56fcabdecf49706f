"""Latency benchmark of the citizen portal's read endpoints at Bergen's scale.

    .venv/bin/python -m bench.portal_bench [--citizens 300000 --letters 3000000
                                            --requests 2000 --concurrency 4] [--refill]

1. Fills a dedicated PostgreSQL schema (default `bench`) through the project's migrations and
   COPY, unless it already holds data of the same size (see bench/portal_data.py).
2. Starts the real portal (portal.server.PortalServer: gunicorn, gthread) in a subprocess on a
   free 127.0.0.1 port and waits for /health.
3. Opens citizen sessions with portal.services.sessions.start_session, then measures, over HTTP
   with keep-alive clients, the three citizen read paths and GET /health as the baseline.
4. Prints p50/p95/p99 per endpoint with the ratio of p95 to the baseline's p95 and whether p95
   meets the target, and writes bench/results/portal.json.
5. Afterwards (server stopped) runs each endpoint in-process with the Flask test client against
   the same schema to split the server-side time into database round trips, COMMIT and Python,
   and EXPLAIN ANALYZEs every statement one request issues.

Only 127.0.0.1 is contacted; every loop is bounded; the server subprocess is always stopped.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import secrets
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
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import requests

from bench.common import (CLK_TCK, DEFAULT_DB, RESULTS, ROOT, code_revision, ensure_postgres,
                          free_port, log, machine_load, machine_ticks, percentile, proc_stat)
from bench.portal_data import FillSpec, _connect, fill, schema_url
from portal.config import WEB_SECRETS

TARGET_P95_MS = 20.0
HOST = "127.0.0.1"

ENDPOINTS = ("health", "list_unread_letters", "read_letter", "list_unpaid_invoices")
LABELS = {
    "health": "GET /health (baseline)",
    "list_unread_letters": "GET /me/letters?unread=true",
    "read_letter": "GET /me/letters/<id>",
    "list_unpaid_invoices": "GET /me/invoices?status=unpaid",
}

SERVE = (
    "from portal.config import Settings\n"
    "from portal.server import PortalServer\n"
    "PortalServer(Settings.from_env(), host='127.0.0.1').run()\n"
)


def pg_settings(base_url: str) -> Dict[str, str]:
    conn = _connect(base_url)
    try:
        with conn.cursor() as cur:
            out = {}
            for name in ("server_version", "shared_buffers", "effective_cache_size",
                         "work_mem", "synchronous_commit", "fsync", "wal_sync_method",
                         "max_connections", "random_page_cost", "jit"):
                cur.execute(f"SHOW {name}")
                out[name] = cur.fetchone()[0]
            return out
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# Sessions and request targets


@dataclass
class Target:
    endpoint: str
    path: str
    headers: Dict[str, str]


@dataclass
class Fixture:
    service_token: str
    sessions: Dict[int, Dict[str, str]]          # citizen id -> request headers
    letters: Dict[int, List[int]]                # citizen id -> that citizen's letter ids


def open_sessions(url: str, count: int, n_citizens: int, service_token: str,
                  rng: random.Random, idle_minutes: int) -> Fixture:
    """Opens `count` sessions (as a completed login would) for random citizens with letters."""
    from sqlalchemy import create_engine, select

    from portal.db import make_session_factory
    from portal.models import Channel, Citizen, Letter
    from portal.conversation_ids import PREFIX_OF
    from portal.services.sessions import start_session

    engine = create_engine(url, future=True)
    factory = make_session_factory(engine)
    now = datetime.now(timezone.utc)
    candidates = rng.sample(range(1, n_citizens + 1), min(n_citizens, count * 2))
    with factory() as db:
        rows = db.execute(select(Letter.citizen_id, Letter.id)
                          .where(Letter.citizen_id.in_(candidates))).all()
        letters: Dict[int, List[int]] = {}
        for citizen_id, letter_id in rows:
            letters.setdefault(citizen_id, []).append(letter_id)
        chosen = [c for c in candidates if c in letters][:count]
        citizens = {c.id: c for c in db.execute(
            select(Citizen).where(Citizen.id.in_(chosen))).scalars()}
        sessions: Dict[int, Dict[str, str]] = {}
        channels = [Channel.WEBCHAT, Channel.SMS, Channel.REST]
        for citizen_id in chosen:
            channel = channels[citizen_id % len(channels)]
            conversation = f"{PREFIX_OF[channel.value]}bench-{uuid.uuid4().hex}"
            start_session(db, citizens[citizen_id], channel=channel,
                          conversation_id=conversation, now=now, idle_minutes=idle_minutes)
            sessions[citizen_id] = {"Authorization": f"Bearer {service_token}",
                                    "X-Channel": channel.value,
                                    "X-Conversation-Id": conversation}
        db.commit()
    engine.dispose()
    return Fixture(service_token, sessions, {c: letters[c] for c in chosen})


def make_targets(fixture: Fixture, endpoint: str, n: int, rng: random.Random) -> List[Target]:
    citizens = list(fixture.sessions)
    targets = []
    for _ in range(n):
        if endpoint == "health":
            targets.append(Target(endpoint, "/health", {}))
            continue
        citizen = rng.choice(citizens)
        headers = fixture.sessions[citizen]
        if endpoint == "list_unread_letters":
            path = "/api/v1/me/letters?unread=true"
        elif endpoint == "read_letter":
            path = f"/api/v1/me/letters/{rng.choice(fixture.letters[citizen])}"
        elif endpoint == "list_unpaid_invoices":
            path = "/api/v1/me/invoices?status=unpaid"
        else:
            raise ValueError(endpoint)
        targets.append(Target(endpoint, path, headers))
    return targets


# --------------------------------------------------------------------------------------------
# The server subprocess


def _with_query(url: str, **params: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.set(query={**dict(parsed.query), **params}).render_as_string(
        hide_password=False)


class ServerProcess:
    """PortalServer (gunicorn) in its own process group; always stopped by stop()."""

    def __init__(self, database_url: str, tokens: Dict[str, str], workers: Optional[int],
                 threads: Optional[int], log_path: Path):
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.log_path = log_path
        self.var_dir = tempfile.mkdtemp(prefix="portal-bench-var-")
        env = dict(os.environ)
        env.update({
            "ASSISTANT_ENV": "production",
            "ASSISTANT_VAR_DIR": self.var_dir,
            "DATABASE_URL": database_url,
            "REDIS_URL": "redis://127.0.0.1:6379/14",   # lets server.py run several workers
            "PORTAL_PORT": str(self.port),
            "PORTAL_SERVICE_TOKEN": tokens["service"],
            "DISPATCH_TOKEN": tokens["dispatch"],
            "IDENTITY_HASH_KEY": tokens["identity"],
            "PYTHONUNBUFFERED": "1",
        })
        for name in WEB_SECRETS:  # the rest of what production needs, unused by the bench
            env.setdefault(name, secrets.token_urlsafe(32))
        for name, value in (("PORTAL_WORKERS", workers), ("PORTAL_THREADS", threads)):
            if value is not None:
                env[name] = str(value)
        self.log_file = open(log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVE], cwd=str(ROOT), env=env, stdin=subprocess.DEVNULL,
            stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the portal exited with {self.proc.returncode}:\n"
                                   + self.log_tail())
            try:
                response = requests.get(self.base + "/health", timeout=2)
                if response.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.25)
        raise RuntimeError("the portal did not become healthy in time:\n" + self.log_tail())

    def workers(self) -> int:
        return self.log_path.read_text(errors="replace").count("Booting worker with pid")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)   # the group this bench started
                self.proc.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self.log_file.close()
        shutil.rmtree(self.var_dir, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# CPU accounting: on a 2-core machine latency at a fixed concurrency is mostly CPU per request,
# and other work on the machine inflates it; both are measured per phase.

SERVER_APP_NAME = "portal-bench-server"
class CpuMeter:
    """CPU time of the server's process group, its PostgreSQL backends (found by
    application_name), the client processes and this process, and of the whole machine."""

    def __init__(self, base_url: str, server_pgid: int, client_pids: List[int]):
        self.server_pgid = server_pgid
        self.client_pids = client_pids
        self.conn = _connect(base_url)
        self.conn.autocommit = True

    def close(self) -> None:
        self.conn.close()

    def _backend_pids(self) -> List[int]:
        with self.conn.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                        (SERVER_APP_NAME,))
            return [row[0] for row in cur.fetchall()]

    def snapshot(self) -> Dict[str, object]:
        server = 0
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                info = proc_stat(int(entry))
                if info and info[0] == self.server_pgid:
                    server += info[1]
        backends = {}
        for pid in self._backend_pids():
            info = proc_stat(pid)
            if info:
                backends[pid] = info[1]
        clients = sum((proc_stat(pid) or (0, 0, 0))[1] for pid in self.client_pids)
        own = os.times()
        busy, total = machine_ticks()
        return {"server": server, "pg": backends, "clients": clients,
                "bench": (own.user + own.system) * CLK_TCK, "busy": busy, "total": total,
                "t": time.monotonic()}

    @staticmethod
    def delta(a: Dict[str, object], b: Dict[str, object]) -> Dict[str, float]:
        """CPU seconds used between two snapshots."""
        pg = sum(ticks - a["pg"].get(pid, 0) for pid, ticks in b["pg"].items())
        ours = {
            "server_s": (b["server"] - a["server"]) / CLK_TCK,
            "postgres_s": pg / CLK_TCK,
            "clients_s": (b["clients"] - a["clients"] + b["bench"] - a["bench"]) / CLK_TCK,
        }
        machine = (b["busy"] - a["busy"]) / CLK_TCK
        ours["machine_busy_s"] = machine
        ours["others_s"] = max(0.0, machine - sum(v for k, v in ours.items()
                                                  if k != "machine_busy_s"))
        ours["wall_s"] = b["t"] - a["t"]
        return ours


# --------------------------------------------------------------------------------------------
# The load generator


@dataclass
class PhaseResult:
    latencies_ms: List[float] = field(default_factory=list)
    errors: int = 0
    error_samples: List[str] = field(default_factory=list)
    wall_s: float = 0.0
    cpu: Dict[str, float] = field(default_factory=dict)

    def add(self, other: "PhaseResult") -> None:
        self.latencies_ms += other.latencies_ms
        self.errors += other.errors
        self.error_samples += other.error_samples[:3]
        self.wall_s += other.wall_s
        for key, value in other.cpu.items():
            self.cpu[key] = self.cpu.get(key, 0.0) + value


def _timed_get(session: requests.Session, url: str, headers: Dict[str, str]
               ) -> Tuple[Optional[float], Optional[str]]:
    """One request; (latency in ms, None) on a 200, (None, description) otherwise."""
    started = time.perf_counter()
    try:
        response = session.get(url, headers=headers, timeout=10)
        body = response.content
        elapsed = (time.perf_counter() - started) * 1000
    except requests.RequestException as exc:
        return None, f"{url}: {exc}"
    if response.status_code != 200:
        return None, f"{url}: {response.status_code} {body[:200]!r}"
    return elapsed, None


def _run_share(session: requests.Session, base: str, share: List[Tuple[str, Dict[str, str]]],
               seconds_left: float) -> Tuple[List[float], List[str]]:
    deadline = time.monotonic() + seconds_left
    latencies: List[float] = []
    errors: List[str] = []
    for path, headers in share:
        if time.monotonic() > deadline:
            break
        elapsed, error = _timed_get(session, base + path, headers)
        if error is None:
            latencies.append(elapsed)
        else:
            errors.append(error)
    return latencies, errors


def _client_process(conn, base: str) -> None:
    """A client process: one keep-alive requests.Session, one share of each phase."""
    session = requests.Session()
    try:
        while True:
            message = conn.recv()
            if message is None:
                break
            share, seconds_left = message
            conn.send(_run_share(session, base, share, seconds_left))
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        session.close()
        conn.close()


class Clients:
    """`concurrency` closed-loop clients, each with its own keep-alive requests.Session kept
    across phases: threads of this process (`threads`, the default) or one process each
    (`processes`, so that client threads do not share a GIL; on this 2-core machine the two
    measured the same within noise)."""

    def __init__(self, base: str, concurrency: int, mode: str = "threads"):
        self.base = base
        self.mode = mode
        self.n = concurrency
        self.sessions: List[requests.Session] = []
        self.procs: list = []
        if mode == "threads":
            self.sessions = [requests.Session() for _ in range(concurrency)]
        else:
            ctx = multiprocessing.get_context("spawn")
            for _ in range(concurrency):
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_client_process, args=(child, base), daemon=True)
                proc.start()
                child.close()
                self.procs.append((proc, parent))

    def close(self) -> None:
        for session in self.sessions:
            session.close()
        for proc, conn in self.procs:
            try:
                conn.send(None)
            except OSError:
                pass
        for proc, conn in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
            conn.close()

    def pids(self) -> List[int]:
        return [proc.pid for proc, _ in self.procs]

    def run(self, targets: List[Target], deadline: float,
            meter: Optional[CpuMeter] = None) -> PhaseResult:
        """Each client sends its share of `targets` one after another (closed loop)."""
        result = PhaseResult()
        before = meter.snapshot() if meter else None
        plain = [(t.path, t.headers) for t in targets]
        shares = [plain[i::self.n] for i in range(self.n)]
        seconds_left = max(0.0, deadline - time.monotonic())
        outcomes: List[Tuple[List[float], List[str]]] = []
        started = time.perf_counter()
        if self.mode == "threads":
            lock = threading.Lock()
            barrier = threading.Barrier(self.n)

            def worker(session: requests.Session, share) -> None:
                barrier.wait()
                outcome = _run_share(session, self.base, share, seconds_left)
                with lock:
                    outcomes.append(outcome)

            threads = [threading.Thread(target=worker, args=(s, share), daemon=True)
                       for s, share in zip(self.sessions, shares)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        else:
            for (proc, conn), share in zip(self.procs, shares):
                conn.send((share, seconds_left))
            for proc, conn in self.procs:
                outcomes.append(conn.recv())
        result.wall_s = time.perf_counter() - started
        if meter:
            result.cpu = CpuMeter.delta(before, meter.snapshot())
        for latencies, errors in outcomes:
            result.latencies_ms.extend(latencies)
            result.errors += len(errors)
            result.error_samples.extend(errors[:3])
        return result


def summarize(latencies: List[float], wall_s: float, errors: int) -> Dict[str, float]:
    values = sorted(latencies)
    return {
        "n": len(values),
        "errors": errors,
        "mean_ms": round(sum(values) / len(values), 3) if values else None,
        "p50_ms": round(percentile(values, 50), 3),
        "p95_ms": round(percentile(values, 95), 3),
        "p99_ms": round(percentile(values, 99), 3),
        "max_ms": round(values[-1], 3) if values else None,
        "throughput_rps": round(len(values) / wall_s, 1) if wall_s else None,
    }


def sanity_check(base: str, fixture: Fixture) -> None:
    """One request per endpoint, checking that the answers are what they claim to be."""
    citizen = next(iter(fixture.sessions))
    headers = fixture.sessions[citizen]
    r = requests.get(base + "/api/v1/me/letters?unread=true", headers=headers, timeout=10)
    r.raise_for_status()
    body = r.json()
    assert all(letter["unread"] for letter in body["letters"]), body
    letter_id = fixture.letters[citizen][0]
    r = requests.get(base + f"/api/v1/me/letters/{letter_id}", headers=headers, timeout=10)
    r.raise_for_status()
    assert r.json()["id"] == letter_id
    r = requests.get(base + "/api/v1/me/invoices?status=unpaid", headers=headers, timeout=10)
    r.raise_for_status()
    assert all(i["status"] == "unpaid" for i in r.json()["invoices"])
    r = requests.get(base + "/api/v1/me/letters?unread=true",
                     headers={**headers, "X-Conversation-Id": "rest-wrong"}, timeout=10)
    assert r.status_code == 401, r.status_code


# --------------------------------------------------------------------------------------------
# Server-side breakdown (in-process, after the HTTP run)


def breakdown(url: str, fixture: Fixture, tokens: Dict[str, str], n: int,
              rng: random.Random) -> Dict[str, dict]:
    """Runs each endpoint through the Flask test client (no HTTP, no gunicorn) against the
    bench schema, timing every DBAPI execute/commit/rollback; EXPLAIN ANALYZEs the statements
    of one request per endpoint."""
    import psycopg2.extensions
    from sqlalchemy import create_engine

    from portal.app import create_app
    from portal.config import Settings
    from portal.db import make_session_factory

    stats: Dict[str, float] = {}
    captured: List[Tuple[str, object]] = []
    capture = {"on": False}

    def add(kind: str, seconds: float) -> None:
        stats[kind] = stats.get(kind, 0.0) + seconds
        stats["statements"] = stats.get("statements", 0) + 1

    def kind_of(query) -> str:
        sql = (query.decode() if isinstance(query, bytes) else str(query)).lstrip()
        word = sql.split(None, 1)[0].upper() if sql else "?"
        if sql.upper().startswith("SELECT 1"):
            return "select_1"
        return word.lower()

    class TimedCursor(psycopg2.extensions.cursor):
        def execute(self, query, vars=None):
            started = time.perf_counter()
            try:
                return super().execute(query, vars)
            finally:
                add(kind_of(query), time.perf_counter() - started)
                if capture["on"]:
                    captured.append((query, vars))

    class TimedConnection(psycopg2.extensions.connection):
        def commit(self):
            started = time.perf_counter()
            try:
                return super().commit()
            finally:
                add("commit", time.perf_counter() - started)

        def rollback(self):
            started = time.perf_counter()
            try:
                return super().rollback()
            finally:
                add("rollback", time.perf_counter() - started)

    settings = Settings(environment="production", database_url=url,
                        service_token=tokens["service"], dispatch_token=tokens["dispatch"],
                        identity_key=tokens["identity"], var_dir=Path(tempfile.mkdtemp()))
    app = create_app(settings)
    portal = app.extensions["portal"]
    portal.engine.dispose()
    portal.engine = create_engine(url, future=True, pool_pre_ping=True, pool_size=10,
                                  max_overflow=10,
                                  connect_args={"connection_factory": TimedConnection,
                                                "cursor_factory": TimedCursor})
    portal.sessions = make_session_factory(portal.engine)
    client = app.test_client()
    out: Dict[str, dict] = {}
    try:
        for endpoint in ENDPOINTS:
            targets = make_targets(fixture, endpoint, n + 20, rng)
            for target in targets[:20]:                      # warm-up
                client.get(target.path, headers=target.headers)
            rows = []
            for i, target in enumerate(targets[20:]):
                stats.clear()
                capture["on"] = i == 0
                started = time.perf_counter()
                response = client.get(target.path, headers=target.headers)
                total = time.perf_counter() - started
                capture["on"] = False
                if response.status_code != 200:
                    raise RuntimeError(f"{target.path}: {response.status_code} "
                                       f"{response.get_data()[:200]!r}")
                db_time = sum(v for k, v in stats.items() if k != "statements")
                rows.append({"total": total, "db": db_time, "statements": stats["statements"],
                             **{k: v for k, v in stats.items() if k != "statements"}})
            statements = list(captured)
            captured.clear()
            out[endpoint] = {
                "requests": len(rows),
                "median_ms": {key: round(percentile(sorted(r.get(key, 0.0) for r in rows), 50)
                                         * 1000, 3)
                              for key in sorted({k for r in rows for k in r} - {"statements"})},
                "p95_total_ms": round(percentile(sorted(r["total"] for r in rows), 95) * 1000, 3),
                "commit_ms": {f"p{q}": round(percentile(sorted(r.get("commit", 0.0)
                                                               for r in rows), q) * 1000, 3)
                              for q in (50, 95, 99)},
                "statements_per_request": rows[0]["statements"],
                "python_median_ms": round(percentile(sorted(r["total"] - r["db"] for r in rows),
                                                     50) * 1000, 3),
                "explain": explain(portal.engine, statements),
            }
    finally:
        portal.engine.dispose()
        shutil.rmtree(settings.var_dir, ignore_errors=True)
    return out


def explain(engine, statements: List[Tuple[str, object]]) -> List[dict]:
    """EXPLAIN (ANALYZE, BUFFERS) of each captured statement, in a rolled-back transaction."""
    plans = []
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for query, params in statements:
            sql = query.decode() if isinstance(query, bytes) else str(query)
            if sql.strip().upper().startswith("SELECT 1"):
                continue
            try:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                plan = [row[0] for row in cursor.fetchall()]
            except Exception as exc:  # noqa: BLE001 - keep going, report it
                plan = [f"EXPLAIN failed: {exc}"]
            raw.rollback()
            plans.append({"sql": " ".join(sql.split()), "plan": plan})
    finally:
        raw.rollback()
        raw.close()
    return plans


# --------------------------------------------------------------------------------------------
# Reporting


def print_table(results: Dict[str, dict], baseline_p95: float) -> None:
    header = (f"{'endpoint':34} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
              f"{'p95/base':>9} {'p95<20ms':>9} {'err':>4} {'req/s':>7}")
    print(header)
    print("-" * len(header))
    for endpoint in ENDPOINTS:
        r = results[endpoint]
        ratio = r["p95_ms"] / baseline_p95 if baseline_p95 else float("nan")
        print(f"{LABELS[endpoint]:34} {r['n']:>6} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} "
              f"{r['p99_ms']:>8.2f} {ratio:>8.2f}x {'yes' if r['meets_target'] else 'NO':>9} "
              f"{r['errors']:>4} {r['throughput_rps'] or 0:>7.0f}")


def print_cpu(results: Dict[str, dict]) -> None:
    """CPU cost per request, which on a shared machine is steadier than latency."""
    if "cpu_ms_per_request" not in results["health"]:
        return
    print(f"\nCPU per request in ms ({os.cpu_count()} cores = {os.cpu_count() * 1000} ms of CPU "
          "per second); the mean latency an otherwise idle machine could not beat at this "
          "concurrency, max(cpu, concurrency x cpu / cores); and the cores kept busy by other "
          "work on the machine meanwhile:")
    header = (f"{'endpoint':34} {'gunicorn':>9} {'postgres':>9} {'clients':>8} {'total':>7} "
              f"{'idle-machine mean floor':>24} {'other work (cores)':>19}")
    print(header)
    print("-" * len(header))
    for endpoint in ENDPOINTS:
        r = results[endpoint]
        c = r["cpu_ms_per_request"]
        print(f"{LABELS[endpoint]:34} {c['server']:>9.2f} {c['postgres']:>9.2f} "
              f"{c['clients']:>8.2f} {c['server'] + c['postgres'] + c['clients']:>7.2f} "
              f"{r['idle_machine_mean_floor_ms']:>24.2f} {r['other_work_cores']:>19.2f}")


def print_breakdown(parts: Dict[str, dict]) -> None:
    print("\nServer-side breakdown, in-process (Flask test client, one request at a time;"
          " medians in ms):")
    header = (f"{'endpoint':34} {'total':>7} {'python':>7} {'db':>7} {'commit':>7} "
              f"{'commit p99':>10} {'stmts':>6}  per kind")
    print(header)
    print("-" * len(header))
    for endpoint in ENDPOINTS:
        p = parts[endpoint]
        med = p["median_ms"]
        kinds = ", ".join(f"{k} {v:.2f}" for k, v in med.items()
                          if k not in ("total", "db", "commit") and v > 0)
        print(f"{LABELS[endpoint]:34} {med['total']:>7.2f} {p['python_median_ms']:>7.2f} "
              f"{med['db']:>7.2f} {med.get('commit', 0.0):>7.2f} {p['commit_ms']['p99']:>10.2f} "
              f"{p['statements_per_request']:>6}  {kinds}")


# --------------------------------------------------------------------------------------------


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.portal_bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--citizens", type=int, default=300_000)
    parser.add_argument("--letters", type=int, default=3_000_000)
    parser.add_argument("--invoices-per-citizen", type=float, default=2.0)
    parser.add_argument("--requests", type=int, default=2000,
                        help="measured requests per endpoint (default 2000)")
    parser.add_argument("--warmup", type=int, default=300,
                        help="warm-up requests per endpoint (default 300)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="measured requests are split into rounds that cycle through the "
                             "endpoints, so slow drift hits all of them alike (default 4)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--client", choices=("threads", "processes"), default="threads",
                        help="clients as threads of this process (default) or one process "
                             "each (no shared GIL on the client side)")
    parser.add_argument("--sessions", type=int, default=1000,
                        help="citizens with an open session to draw requests from")
    parser.add_argument("--workers", type=int, default=None,
                        help="PORTAL_WORKERS for the server (default: server.py's own)")
    parser.add_argument("--threads", type=int, default=None,
                        help="PORTAL_THREADS for the server (default: server.py's own)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                 DEFAULT_DB))
    parser.add_argument("--schema", default="bench")
    parser.add_argument("--refill", action="store_true",
                        help="drop and re-create the schema even if it holds the same sizes")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--breakdown-requests", type=int, default=200,
                        help="in-process requests per endpoint for the server-side breakdown "
                             "(0 skips it)")
    parser.add_argument("--max-seconds", type=float, default=900,
                        help="hard bound on the measuring time (default 900 s)")
    parser.add_argument("--output", type=Path, default=RESULTS / "portal.json")
    parser.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                        help="before measuring, wait up to SECONDS for the machine to be less "
                             "than 25%% busy with other work (default 0: don't wait)")
    parser.add_argument("--fill-only", action="store_true",
                        help="fill (or check) the schema, then stop")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    RESULTS.mkdir(parents=True, exist_ok=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)

    # SIGTERM/SIGHUP unwind through the finally blocks, so the server is always stopped.
    def _terminate(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)

    ensure_postgres(args.database_url)
    spec = FillSpec(citizens=args.citizens, letters=args.letters,
                    invoices_per_citizen=args.invoices_per_citizen, seed=args.seed)
    report = fill(args.database_url, args.schema, spec, refill=args.refill)
    how = "reused" if report.reused else "loaded"
    log(f"Data {how}: {report.row_counts} (load took {report.total_seconds:.0f} s: "
        f"{report.seconds})")
    url = schema_url(args.database_url, args.schema)
    if args.fill_only:
        print(json.dumps({"reused": report.reused, "rows": report.row_counts,
                          "load_seconds": report.total_seconds, "steps": report.seconds,
                          "sizes": report.table_sizes}, indent=2))
        return 0

    load_before = machine_load()
    waited = 0.0
    while load_before.get("busy_pct_all_cores", 0) > 25 and waited < args.wait_idle:
        log(f"  machine {load_before['busy_pct_all_cores']}% busy with other work; waiting")
        time.sleep(min(28.0, max(0.0, args.wait_idle - waited)))
        waited += 30
        load_before = machine_load()
    load_before["waited_for_idle_s"] = waited
    if load_before.get("busy_pct_all_cores", 0) > 20:
        log(f"WARNING: the machine is already {load_before['busy_pct_all_cores']}% busy before "
            "the benchmark starts; latencies will be inflated by the other work")

    tokens = {
        "service": os.environ.get("PORTAL_SERVICE_TOKEN") or secrets.token_urlsafe(24),
        "dispatch": os.environ.get("DISPATCH_TOKEN") or secrets.token_urlsafe(24),
        "identity": os.environ.get("IDENTITY_HASH_KEY") or secrets.token_urlsafe(24),
    }
    idle_minutes = int(os.environ.get("SESSION_IDLE_MINUTES", "30"))
    started = time.perf_counter()
    fixture = open_sessions(url, args.sessions, args.citizens, tokens["service"], rng,
                            idle_minutes)
    log(f"Opened {len(fixture.sessions)} citizen sessions in "
        f"{time.perf_counter() - started:.1f} s")

    server_url = schema_url(_with_query(args.database_url, application_name=SERVER_APP_NAME),
                            args.schema)
    server = ServerProcess(server_url, tokens, args.workers, args.threads,
                           RESULTS / "portal_server.log")
    results: Dict[str, dict] = {}
    partial = False
    try:
        server.wait_healthy()
        workers = server.workers()
        log(f"Portal up at {server.base} ({workers} gunicorn workers)")
        sanity_check(server.base, fixture)
        clients = Clients(server.base, args.concurrency, args.client)
        meter = None
        deadline = time.monotonic() + args.max_seconds
        try:
            meter = CpuMeter(args.database_url, server.proc.pid, clients.pids())
            for endpoint in ENDPOINTS:
                warm = clients.run(make_targets(fixture, endpoint, args.warmup, rng), deadline)
                if warm.errors:
                    raise RuntimeError(f"warm-up of {endpoint} failed: {warm.error_samples}")
            collected = {e: PhaseResult() for e in ENDPOINTS}
            rounds = max(1, args.rounds)
            for round_no in range(rounds):
                share = args.requests // rounds + (1 if round_no < args.requests % rounds else 0)
                for endpoint in ENDPOINTS:
                    phase = clients.run(make_targets(fixture, endpoint, share, rng), deadline,
                                        meter)
                    collected[endpoint].add(phase)
                log(f"  round {round_no + 1}/{rounds} done")
                if time.monotonic() > deadline:
                    partial = True
                    log("  time bound reached; reporting what was measured")
                    break
        finally:
            if meter is not None:
                meter.close()
            clients.close()
        load_during = machine_load(sample_s=0)
    finally:
        server.stop()
        log("Portal stopped")

    for endpoint in ENDPOINTS:
        bucket = collected[endpoint]
        results[endpoint] = summarize(bucket.latencies_ms, bucket.wall_s, bucket.errors)
        results[endpoint]["meets_target"] = results[endpoint]["p95_ms"] < TARGET_P95_MS
        results[endpoint]["error_samples"] = bucket.error_samples[:5]
        cpu, n = bucket.cpu, max(1, results[endpoint]["n"])
        if cpu:
            results[endpoint]["cpu_ms_per_request"] = {
                "server": round(cpu["server_s"] * 1000 / n, 2),
                "postgres": round(cpu["postgres_s"] * 1000 / n, 2),
                "clients": round(cpu["clients_s"] * 1000 / n, 2),
            }
            results[endpoint]["other_work_cores"] = round(cpu["others_s"] / cpu["wall_s"], 2)
            total = sum(results[endpoint]["cpu_ms_per_request"].values())
            cores = os.cpu_count() or 1
            # Closed loop: on an otherwise idle machine the mean latency cannot be below the
            # CPU of one request, nor below concurrency x CPU / cores once the cores are busy.
            results[endpoint]["idle_machine_mean_floor_ms"] = round(
                max(total, args.concurrency * total / cores), 2)
    baseline_p95 = results["health"]["p95_ms"]
    for endpoint in ENDPOINTS:
        r = results[endpoint]
        r["p95_over_baseline_p95"] = round(r["p95_ms"] / baseline_p95, 2)
        r["p50_over_baseline_p50"] = round(r["p50_ms"] / results["health"]["p50_ms"], 2)

    print(f"\nPortal latency over HTTP — {report.row_counts['citizens']:,} citizens, "
          f"{report.row_counts['letters']:,} letters, {report.row_counts['invoices']:,} invoices; "
          f"{workers} gunicorn workers; concurrency {args.concurrency}; "
          f"target p95 < {TARGET_P95_MS:g} ms")
    print(f"Data {how} (load time {report.total_seconds:.0f} s); machine before the run: "
          f"{load_before.get('busy_pct_all_cores')}% busy, load average "
          f"{load_before['loadavg']}\n")
    print_table(results, baseline_p95)
    print_cpu(results)

    parts = None
    if args.breakdown_requests > 0:
        parts = breakdown(url, fixture, tokens, args.breakdown_requests, rng)
        print_breakdown(parts)

    document = {
        "benchmark": "portal",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "partial": partial,
        "target_p95_ms": TARGET_P95_MS,
        "all_meet_target": all(results[e]["meets_target"] for e in ENDPOINTS),
        "config": {
            "requests_per_endpoint": args.requests, "warmup_per_endpoint": args.warmup,
            "rounds": args.rounds, "concurrency": args.concurrency,
            "sessions": len(fixture.sessions), "schema": args.schema,
            "gunicorn_workers": workers,
            "gunicorn_threads": int(args.threads or os.environ.get("PORTAL_THREADS", 8)),
            "client": f"requests.Session (keep-alive) per client, closed loop, {args.client}",
        },
        "code": code_revision(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "machine_load": {"before_run": load_before, "end_of_run": load_during},
        "postgres": pg_settings(args.database_url),
        "data": {"reused": report.reused, "spec": report.spec, "rows": report.row_counts,
                 "load_seconds": report.total_seconds, "load_steps_seconds": report.seconds,
                 "loaded_at": report.loaded_at, "sizes": report.table_sizes},
        "baseline": {"endpoint": "GET /health", **results["health"]},
        "endpoints": {e: {"label": LABELS[e], **results[e]} for e in ENDPOINTS},
        "server_breakdown": parts,
    }
    args.output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"\nWrote {args.output}")
    return 0 if not partial and all(results[e]["errors"] == 0 for e in ENDPOINTS) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as interrupt:
        log(f"Interrupted ({interrupt}); the portal was stopped.")
        sys.exit(130)
