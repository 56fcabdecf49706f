"""Starting, watching and stopping the assistant's processes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from portal.config import PROJECT_ROOT


@dataclass
class Service:
    name: str
    args: List[str]
    health_url: str
    process: Optional[subprocess.Popen] = None
    log_path: Optional[Path] = None


def is_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Supervisor:
    """Runs services as child processes in their own process groups; stops them all together."""

    env: Dict[str, str]
    log_dir: Optional[Path] = None
    services: List[Service] = field(default_factory=list)

    def start(self, name: str, args: List[str], health_url: str,
              env: Optional[Dict[str, str]] = None) -> Service:
        """Starts a service with `env` (default: the supervisor's environment)."""
        service = Service(name, args, health_url)
        output = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            service.log_path = self.log_dir / f"{name}.log"
            output = open(service.log_path, "ab")
        service.process = subprocess.Popen(
            args, env=self.env if env is None else env, cwd=PROJECT_ROOT, stdout=output, stderr=subprocess.STDOUT
            if output else None, start_new_session=True)
        self.services.append(service)
        return service

    def wait_healthy(self, service: Service, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise RuntimeError(f"{service.name} exited with code {service.process.returncode}"
                                   + (f"; see {service.log_path}" if service.log_path else ""))
            if is_healthy(service.health_url):
                return
            time.sleep(0.3)
        raise RuntimeError(f"{service.name} did not become healthy within {timeout:.0f} s")

    def dead(self) -> Optional[Service]:
        return next((s for s in self.services if s.process.poll() is not None), None)

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
