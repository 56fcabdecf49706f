"""deploy/ stays true to `assistant up`: every process it starts has a compose service and a
systemd unit with the same command and every setting the process gets (assistant/runtime.py);
the compose file parses and has the structure production needs."""
from __future__ import annotations

import configparser
import re
import sys
from pathlib import Path
from typing import Dict, List, Set

import pytest
import yaml

from assistant.processes import Supervisor
from assistant.runtime import Runtime
from assistant.stack import start_stack
from portal.config import PROJECT_ROOT
from tests.integration.test_security_config import production_env

DEPLOY = PROJECT_ROOT / "deploy"
# Options whose values differ by installation (ports, addresses, the model's place).
VARIABLE_OPTIONS = {"--port", "--host", "--interface", "--model"}
FILE_OPTIONS = {"--credentials", "--endpoints"}
# What a deployment may set on top of what `assistant up` passes.
EXTRA_SETTINGS = {"LOG_FORMAT", "METRICS_HOST", "PORTAL_WORKERS", "PORTAL_PUBLIC_URL",
                  "TWILIO_FROM_NUMBER", "TWILIO_MESSAGING_SERVICE_SID",
                  "SANIC_PROXIES_COUNT"}  # the proxy in front of the web chat


# Read by `assistant up` itself, or the system's: passed on, not needed by the process.
SUPERVISOR_ONLY = {"PATH", "LANG", "RASA_INSTANCES", "TURN_WORKERS"}


class RecordingSupervisor(Supervisor):
    """Runs nothing: records what `start_stack` would start, with its environment."""

    def _spawn(self, service) -> None:
        service.process = None

    def wait_healthy(self, service, timeout: float = 180) -> None:
        return None


@pytest.fixture(scope="module")
def started(tmp_path_factory) -> Dict[str, dict]:
    env = production_env(tmp_path_factory.mktemp("deploy"), RASA_INSTANCES="2",
                         TURN_WORKERS="2")
    runtime = Runtime.from_env(env)
    supervisor = RecordingSupervisor(runtime.child_env())
    start_stack(runtime, supervisor, model=Path("var/models/bot.tar.gz"))
    return {s.name: {"args": s.args, "settings": set(s.env) - SUPERVISOR_ONLY,
                     "env": s.env}
            for s in supervisor.services}


def shape(args: List[str]) -> List[str]:
    """A command without the interpreter and with installation-specific values blanked."""
    if args[0].endswith("python") or args[0] == sys.executable:
        args = args[1:]
    out, previous = [], None
    for arg in args:
        if previous in VARIABLE_OPTIONS:
            arg = "<value>"
        elif previous in FILE_OPTIONS:  # the same file of the repository, where it is installed
            arg = str(Path(arg).relative_to(PROJECT_ROOT)) if Path(arg).is_absolute() else arg
        out.append(arg)
        previous = arg
    return out


def kind(name: str) -> str:
    """The process kind of a service name: rasa-2 -> rasa, turn-worker-1 -> turn-worker."""
    return re.sub(r"-\d+$", "", name)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_assistant_up_starts_what_the_deployment_must_hold(started):
    assert set(started) == {"portal", "actions", "rasa", "rasa-2", "turn-worker-1",
                            "turn-worker-2", "sms-worker"}


def test_the_compose_file_runs_every_process_with_its_command_and_settings(started, compose):
    services = compose["services"]
    by_kind: Dict[str, List[str]] = {}
    for name in services:
        by_kind.setdefault(kind(name), []).append(name)
    for name, process in started.items():
        matches = by_kind.get(kind(name), [])
        assert matches, f"no compose service for {name}"
        for service_name in matches:
            service = services[service_name]
            assert shape(service["command"]) == shape(process["args"]), service_name
            missing = process["settings"] - set(service["environment"])
            assert not missing, (service_name, missing)
            unknown = set(service["environment"]) - process["settings"] - EXTRA_SETTINGS
            assert not unknown, (service_name, unknown)
    assert len(by_kind["rasa"]) >= 2 and len(by_kind["turn-worker"]) >= 2


def test_the_compose_file_has_the_production_structure(compose):
    services = compose["services"]
    assert {"postgres", "redis", "proxy", "portal", "actions", "sms-worker"} <= set(services)
    for name, service in services.items():
        assert service.get("restart") == "unless-stopped", name
        for value in (service.get("environment") or {}).values():
            # Secrets come from deploy/.env, never written into the file.
            assert not re.search(r"(?i)token|secret|password", str(value)) or "${" in str(value)
    rasa_urls = services["portal"]["environment"]["RASA_URLS"].split(",")
    assert rasa_urls == [f"http://{n}:5005" for n in sorted(services) if kind(n) == "rasa"]
    assert services["portal"]["environment"]["PROMETHEUS_MULTIPROC_DIR"].startswith("/app/var")
    ports = {s["environment"]["METRICS_PORT"] for n, s in services.items()
             if kind(n) in ("turn-worker", "sms-worker")}
    assert ports  # the workers' metrics servers
    assert services["proxy"]["ports"] and not any(
        services[n].get("ports") for n in services if n != "proxy")  # one way in
    env_example = {line.split("=", 1)[0] for line in (DEPLOY / "env.example").read_text()
                   .splitlines() if "=" in line and not line.startswith("#")}
    wanted = set(re.findall(r"\$\{([A-Z_]+):\?", (DEPLOY / "compose.yaml").read_text()))
    assert wanted <= env_example, wanted - env_example


def test_nginx_keeps_socket_io_sticky_and_twilio_urls_intact(compose):
    conf = (DEPLOY / "nginx" / "assistant.conf").read_text()
    upstream = re.search(r"upstream rasa_webchat \{(.*?)\}", conf, re.S).group(1)
    assert "ip_hash;" in upstream
    servers = set(re.findall(r"server (rasa-\d+):5005;", upstream))
    assert servers == {n for n in compose["services"] if kind(n) == "rasa"}
    socket = re.search(r"location /socket.io/ \{(.*?)\}", conf, re.S).group(1)
    assert "Upgrade $http_upgrade" in socket and "proxy_http_version 1.1" in socket
    twilio = re.search(r"location /webhooks/twilio/ \{(.*?)\}", conf, re.S).group(1)
    assert "proxy_pass http://portal;" in twilio  # no URI part: the path reaches it as signed
    assert "proxy_set_header Host $host;" in twilio
    assert "location = /metrics { return 404; }" in conf


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(path.read_text())
    return parser


def unit_settings(parser: configparser.ConfigParser) -> Set[str]:
    """Every variable a unit sets: its Environment= lines and its EnvironmentFile= files."""
    text = parser.get("Service", "Environment", fallback="")
    names = set(re.findall(r"([A-Z_]+)=", text))
    files = (parser.get("Service", "EnvironmentFile", fallback="") or "").split("\n")
    for file in files:
        if file.strip():
            local = DEPLOY / "systemd" / "env" / Path(file.strip()).name
            names |= {line.split("=", 1)[0] for line in local.read_text().splitlines()
                      if "=" in line and not line.startswith("#")}
    return names


def read_units() -> Dict[str, configparser.ConfigParser]:
    units = {}
    for path in (DEPLOY / "systemd").glob("*.service"):
        text = path.read_text()
        # configparser keeps only the last of repeated keys: join them as systemd does.
        joined: Dict[str, List[str]] = {}
        lines = []
        for line in text.splitlines():
            key = line.split("=", 1)[0]
            if key in ("EnvironmentFile", "Environment"):
                joined.setdefault(key, []).append(line.split("=", 1)[1])
                continue
            lines.append(line)
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str
        parser.read_string("\n".join(lines))
        for key, values in joined.items():
            parser.set("Service", key, "\n".join(values))
        units[path.name] = parser
    return units


def test_the_systemd_units_run_every_process_with_its_command_and_settings(started):
    units = read_units()
    for name, process in started.items():
        process_kind = kind(name)
        unit_name = {"rasa": "assistant-rasa@.service",
                     "turn-worker": "assistant-turn-worker@.service"}.get(
            process_kind, f"assistant-{process_kind}.service")
        assert unit_name in units, unit_name
        parser = units[unit_name]
        exec_start = parser.get("Service", "ExecStart").split()
        assert exec_start[0].endswith("/python")
        assert shape(exec_start) == shape(process["args"]), unit_name
        missing = process["settings"] - unit_settings(parser)
        assert not missing, (unit_name, missing)
        assert parser.get("Service", "Restart") == "always"
    target = (DEPLOY / "systemd" / "assistant.target").read_text()
    for unit_name in units:
        stem = unit_name.replace("@.service", "@")
        assert stem.replace(".service", "") in target, unit_name
