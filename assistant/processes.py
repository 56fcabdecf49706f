"""Starting, watching, restarting and stopping the assistant's processes."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

from portal.config import PROJECT_ROOT

log = logging.getLogger("assistant.supervisor")

# Restart back-off: 1 s, doubling to at most 60 s; a process that stayed up this long
# is considered healthy again and its next crash starts from 1 s.
FIRST_BACKOFF, MAX_BACKOFF, STABLE_AFTER = 1.0, 60.0, 60.0


@dataclass
class Service:
    name: str
    args: List[str]
    health_url: str
    process: Optional[subprocess.Popen] = None
    log_path: Optional[Path] = None
    headers: Dict[str, str] = field(default_factory=dict)
    env: Optional[Dict[str, str]] = None  # None: the supervisor's environment
    niceness: int = 0  # added to the supervisor's own (lower CPU priority)
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = FIRST_BACKOFF
    restart_at: Optional[float] = None  # set while the service waits to be started again


def is_healthy(url: str, headers: Optional[Dict[str, str]] = None) -> bool:
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def lowered(niceness: int) -> Optional[Callable[[], None]]:
    """For Popen(preexec_fn=...): the child runs `niceness` steps nicer; None for 0.

    A child in a session of its own is also a scheduling group of its own where the kernel
    groups by session (sched_autogroup), and there only the group's niceness counts: both are
    set.
    """
    if niceness <= 0:
        return None

    def lower() -> None:  # in the child, after setsid, before exec
        os.nice(niceness)
        try:
            with open("/proc/self/autogroup", "w") as group:
                group.write(str(niceness))
        except OSError:  # no autogroups here: the process niceness is what counts
            pass

    return lower


def exit_reason(returncode: int) -> str:
    """'exit code 1' or 'killed by SIGKILL'."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


@dataclass
class Supervisor:
    """Runs services as child processes in their own process groups.

    `keep_alive` restarts a service that exited, with a growing back-off, and leaves the
    others running; `stop` ends them all together.
    """

    env: Dict[str, str]
    log_dir: Optional[Path] = None
    services: List[Service] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic

    def start(self, name: str, args: List[str], health_url: str,
              headers: Optional[Dict[str, str]] = None,
              env: Optional[Dict[str, str]] = None, niceness: int = 0) -> Service:
        """Starts a service with `env` (default: the supervisor's environment), `niceness`
        steps nicer than the supervisor."""
        service = Service(name, args, health_url, headers=dict(headers or {}), env=env,
                          niceness=niceness)
        self._spawn(service)
        self.services.append(service)
        return service

    def _spawn(self, service: Service) -> None:
        output = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            service.log_path = self.log_dir / f"{service.name}.log"
            output = open(service.log_path, "ab")
        try:
            service.process = subprocess.Popen(
                service.args, env=self.env if service.env is None else service.env,
                cwd=PROJECT_ROOT, stdout=output, stderr=subprocess.STDOUT if output else None,
                start_new_session=True, preexec_fn=lowered(service.niceness))
        finally:
            if output is not None:
                output.close()  # the child keeps its own copy
        service.started_at = self.clock()
        service.restart_at = None

    def wait_healthy(self, service: Service, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise RuntimeError(f"{service.name} exited ({exit_reason(service.process.returncode)})"
                                   + (f"; see {service.log_path}" if service.log_path else ""))
            if not service.health_url or is_healthy(service.health_url, service.headers):
                return
            time.sleep(0.3)
        raise RuntimeError(f"{service.name} did not become healthy within {timeout:.0f} s")

    def dead(self) -> Optional[Service]:
        return next((s for s in self.services if s.process.poll() is not None), None)

    def keep_alive(self) -> List[Service]:
        """One look at every service: schedules or performs restarts. Returns those restarted."""
        now = self.clock()
        restarted = []
        for service in self.services:
            code = service.process.poll()
            if code is None:
                if now - service.started_at >= STABLE_AFTER:
                    service.backoff = FIRST_BACKOFF
                continue
            if service.restart_at is None:
                uptime = now - service.started_at
                if uptime >= STABLE_AFTER:
                    service.backoff = FIRST_BACKOFF
                service.restart_at = now + service.backoff
                log.warning("%s stopped (%s) after %.0f s; restarting in %.0f s%s",
                            service.name, exit_reason(code), uptime, service.backoff,
                            f"; see {service.log_path}" if service.log_path else "")
                service.backoff = min(service.backoff * 2, MAX_BACKOFF)
            elif now >= service.restart_at:
                self._spawn(service)
                service.restarts += 1
                log.warning("%s restarted (restart %d, pid %d)", service.name,
                            service.restarts, service.process.pid)
                restarted.append(service)
        return restarted

    def run_forever(self, interval: float = 0.5) -> None:
        """Watches the services until interrupted (KeyboardInterrupt)."""
        while True:
            self.keep_alive()
            time.sleep(interval)

    def stop(self, timeout: float = 15) -> None:
        for service in reversed(self.services):
            if service.process.poll() is None:
                try:
                    os.killpg(service.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for service in self.services:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                service.process.wait(remaining)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(service.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                service.process.wait()
        self.services.clear()


def python_module(*args: str) -> List[str]:
    return [sys.executable, "-m", *args]
