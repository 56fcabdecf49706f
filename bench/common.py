"""What the benches share: logging, code revision, machine load, percentiles, per-process CPU
and memory meters, free ports, PostgreSQL start-up and stopping process groups."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/test"
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


# Every bench conversation logs in from this one client: the per-source and global code limits
# would answer "too many codes" instead of measuring turns.
RAISED_LOGIN_LIMITS = {"OTP_CODES_PER_SOURCE_PER_HOUR": "100000",
                       "OTP_CODES_GLOBAL_PER_MINUTE": "100000",
                       "OTP_CODES_GLOBAL_PER_HOUR": "100000"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------------------------
# What was measured, and on how busy a machine


def code_revision(paths: Iterable[str] = ("channels", "portal", "assistant", "actions", "bot",
                                          "config.yml", "data")) -> Dict[str, Any]:
    """The commit checked out, and uncommitted changes in what the stack runs."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = git("status", "--porcelain", "--", *paths)
    return {"commit": git("rev-parse", "HEAD"), "dirty": dirty.splitlines()[:20]}


def machine_ticks() -> Tuple[int, int]:
    """(busy, total) jiffies over all cores."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def machine_load(sample_s: float = 2.0) -> Dict[str, Any]:
    """How busy the machine is: load average, CPU pressure (PSI) and the share of all cores
    busy over a short sample (taken while the bench itself idles)."""
    out: Dict[str, Any] = {"loadavg": [round(v, 2) for v in os.getloadavg()],
                           "cores": os.cpu_count()}
    if sample_s > 0:
        busy0, total0 = machine_ticks()
        time.sleep(sample_s)
        busy1, total1 = machine_ticks()
        out["busy_pct_all_cores"] = round(100 * (busy1 - busy0) / max(1, total1 - total0), 1)
    try:
        with open("/proc/pressure/cpu") as handle:
            some = handle.readline().split()
        out["cpu_pressure_some"] = {k: float(v) for k, v in
                                    (item.split("=") for item in some[1:4])}
    except OSError:
        pass
    return out


# --------------------------------------------------------------------------------------------
# Statistics


def percentile(values: List[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); sorts a copy."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def stats(values: List[float], digits: int = 1) -> Dict[str, Any]:
    """n, p50, p95, p99 and max of a list of figures (milliseconds, seconds, ...)."""
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(percentile(values, 50), digits),
            "p95": round(percentile(values, 95), digits),
            "p99": round(percentile(values, 99), digits), "max": round(max(values), digits)}


def ratio(a: Optional[float], b: Optional[float], digits: int = 2) -> Optional[float]:
    return round(a / b, digits) if a is not None and b else None


# --------------------------------------------------------------------------------------------
# Processes: CPU and memory, stopping


def proc_stat(pid: int) -> Optional[Tuple[int, int, int]]:
    """(process group, utime+stime ticks, RSS bytes) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[2]), int(fields[11]) + int(fields[12]), int(fields[21]) * PAGE_SIZE


def descendants(pid: int) -> List[int]:
    """A process and every process below it (by parent pid), from /proc."""
    children: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


class ProcessMeter:
    """CPU seconds and peak RSS per named process tree (a process and its children), sampled
    with sample(); processes that restart are followed by calling track() again."""

    def __init__(self) -> None:
        self.roots: Dict[str, int] = {}
        self.cpu: Dict[str, Dict[int, int]] = {}  # name -> pid -> last ticks seen
        self.peak_rss: Dict[str, int] = {}
        self.base: Dict[str, int] = {}  # name -> ticks already used when tracking began
        self.busy0, self.total0 = machine_ticks()
        self.started = time.monotonic()

    def track(self, name: str, pid: int) -> None:
        """Follows a process tree from now on: CPU is counted from this call."""
        self.roots[name] = pid
        self.base.setdefault(name, 0)
        for child in descendants(pid):
            info = proc_stat(child)
            if info:
                self.base[name] += info[1]
                # Seen now: a process killed before the next sample counts 0, not minus its past.
                self.cpu.setdefault(name, {})[child] = info[1]

    def sample(self) -> None:
        for name, root in self.roots.items():
            rss = 0  # a tree that is gone keeps its last figures
            for pid in descendants(root):
                info = proc_stat(pid)
                if info:
                    self.cpu.setdefault(name, {})[pid] = info[1]
                    rss += info[2]
            self.peak_rss[name] = max(self.peak_rss.get(name, 0), rss)

    def report(self) -> Dict[str, Any]:
        self.sample()
        busy1, total1 = machine_ticks()
        wall = time.monotonic() - self.started
        return {
            "wall_s": round(wall, 1),
            "machine_busy_pct": round(100 * (busy1 - self.busy0) / max(1, total1 - self.total0),
                                      1),
            "processes": {name: {"cpu_s": round((sum(self.cpu.get(name, {}).values())
                                                 - self.base.get(name, 0)) / CLK_TCK, 1),
                                 "peak_rss_mb": round(self.peak_rss.get(name, 0) / 2 ** 20, 1)}
                          for name in self.roots},
        }


def exit_on_signals() -> None:
    """SIGTERM/SIGINT end the bench through its `finally` blocks (the stack is stopped)."""
    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)


def stop_group(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM to the process group a bench started (start_new_session), SIGKILL after
    `timeout` seconds."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


# --------------------------------------------------------------------------------------------
# PostgreSQL


def ensure_postgres(base_url: str) -> None:
    """Connects, starting the local cluster once if it is down."""
    import psycopg2

    def connect() -> None:
        psycopg2.connect(base_url.split("?")[0]).close()

    try:
        connect()
        return
    except Exception as exc:  # noqa: BLE001 - any connection failure
        first_error = exc
    clusters = Path("/etc/postgresql")
    if not shutil.which("pg_ctlcluster") or not clusters.is_dir():
        raise SystemExit(f"PostgreSQL is not reachable at {base_url}: {first_error}")
    for version in sorted(p.name for p in clusters.iterdir()):
        log(f"PostgreSQL is down; starting cluster {version}/main")
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                       check=False)
    for _ in range(30):
        try:
            connect()
            return
        except Exception:  # noqa: BLE001
            time.sleep(1)
    raise SystemExit(f"PostgreSQL is not reachable at {base_url}: {first_error}")
