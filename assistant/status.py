"""`assistant status`: what an operator looks at first.

Every process with its health, the queues and the outbox from the database, the active model
(the portal's choice and what each Rasa server has loaded) and the last errors in the logs.
"""
from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Deque, Dict, List, Optional

import requests

from assistant.processes import is_healthy
from assistant.runtime import Runtime

ERROR_LEVELS = ("error", "critical", "exception")
_TEXT_LEVEL = re.compile(r"\[(error|critical)\s*\]|\b(ERROR|CRITICAL)\b")


@dataclass
class ProcessHealth:
    name: str
    url: str
    healthy: bool
    detail: str = ""


@dataclass
class LogError:
    process: str
    line: str


@dataclass
class Status:
    processes: List[ProcessHealth] = field(default_factory=list)
    figures: Optional[object] = None
    database_error: str = ""
    rasa_models: Dict[str, str] = field(default_factory=dict)
    errors: List[LogError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(p.healthy for p in self.processes) and not self.database_error


def health_urls(runtime: Runtime) -> List[tuple]:
    """(process, health URL) of everything `assistant up` starts."""
    urls = [("portal", f"{runtime.portal_url}/health"),
            ("actions", f"http://127.0.0.1:{runtime.actions_port}/health")]
    for index, url in enumerate(runtime.rasa_urls):
        urls.append(("rasa" if index == 0 else f"rasa-{index + 1}", f"{url}/"))
    for index in range(runtime.turn_workers):
        port = runtime.worker_metrics_port("turn-worker", index + 1)
        urls.append((f"turn-worker-{index + 1}", f"http://127.0.0.1:{port}/health"))
    port = runtime.worker_metrics_port("sms-worker")
    urls.append(("sms-worker", f"http://127.0.0.1:{port}/health"))
    return urls


def loaded_model(url: str, token: str) -> str:
    """The model file a Rasa server reports on its /metrics, or why not."""
    try:
        answer = requests.get(f"{url}/webhooks/gateway/metrics", timeout=3,
                              headers={"Authorization": f"Bearer {token}"})
    except requests.RequestException as exc:
        return f"unreachable ({type(exc).__name__})"
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}"
    found = re.search(r'assistant_rasa_model\{[^}]*file="([^"]*)"', answer.text)
    return found.group(1) if found else "no model loaded"


def _is_error(line: str) -> bool:
    line = line.strip()
    if line.startswith("{"):
        try:
            return str(json.loads(line).get("level", "")).lower() in ERROR_LEVELS
        except ValueError:
            return False
    return bool(_TEXT_LEVEL.search(line))


def last_errors(log_dir: Path, per_process: int = 3) -> List[LogError]:
    """The last error lines of each process's log under var/logs (already redacted)."""
    found: List[LogError] = []
    for path in sorted(log_dir.glob("*.log")) if log_dir.is_dir() else []:
        recent: Deque[str] = deque(maxlen=per_process)
        with path.open(errors="replace") as handle:
            for line in handle:
                if _is_error(line):
                    recent.append(_summary(line))
        found.extend(LogError(path.stem, line) for line in recent)
    return found


def _summary(line: str) -> str:
    line = line.strip()
    if line.startswith("{"):
        try:
            record = json.loads(line)
            parts = [record.get("timestamp", ""), record.get("logger", ""),
                     record.get("event", "")]
            if record.get("correlation_id"):
                parts.append(f"(correlation {record['correlation_id']})")
            return " ".join(str(p) for p in parts if p)[:300]
        except ValueError:
            pass
    return line[:300]


def collect(runtime: Runtime, portal) -> Status:
    from portal.ops_figures import figures

    status = Status()
    for name, url in health_urls(runtime):
        status.processes.append(ProcessHealth(name, url, is_healthy(url)))
    try:
        with portal.sessions() as db:
            status.figures = figures(db, portal.clock.now())
    except Exception as exc:  # noqa: BLE001 - reported, not raised: the operator needs the rest
        status.database_error = type(exc).__name__
    for index, url in enumerate(runtime.rasa_urls):
        status.rasa_models["rasa" if index == 0 else f"rasa-{index + 1}"] = loaded_model(
            url, runtime.metrics_token)
    status.errors = last_errors(runtime.settings.var_dir / "logs")
    return status


def render(status: Status) -> str:
    lines = ["Processes"]
    for p in status.processes:
        lines.append(f"  {p.name:<16} {'ok' if p.healthy else 'DOWN':<5} {p.url}")
    f = status.figures
    if f is None:
        lines.append(f"Database: UNAVAILABLE ({status.database_error})")
    else:
        lines += [
            "Queues",
            f"  inbound SMS waiting   {f.inbound_waiting:>6}  oldest {f.inbound_oldest_age:.0f} s",
            f"  outbox backlog        {f.outbox_backlog:>6}  oldest {f.outbox_oldest_age:.0f} s",
            f"  outbox sent / failed  {f.sent:>6} / {f.failed}",
            f"  Twilio error codes    {_pairs(f.error_codes) or 'none'}",
            f"  login codes           {_pairs(f.login_codes) or 'none'}",
            f"  handoffs waiting      {f.handoffs_waiting:>6}  longest {f.handoff_oldest_wait:.0f} s",
            "Model",
            f"  active version        {f.model_version} {f.model_path}".rstrip(),
        ]
    for name, model in status.rasa_models.items():
        lines.append(f"  {name:<21} {model}")
    lines.append("Last errors" if status.errors else "Last errors: none in the logs")
    for error in status.errors:
        lines.append(f"  {error.process:<16} {error.line}")
    return "\n".join(lines)


def _pairs(values: Dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(values.items()))
