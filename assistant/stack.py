"""The whole assistant: portal, action server, Rasa servers and workers, started and healthy."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from assistant.model import ensure_model
from assistant.processes import Service, Supervisor, python_module
from assistant.runtime import Runtime


def start_stack(runtime: Runtime, supervisor: Supervisor, model: Optional[Path] = None,
                log_level: str = "info") -> Path:
    """Starts every service and waits until each answers; returns the model in use.

    Each process gets its own environment (Runtime.env_for); no secret is on a command line
    or in a health-check URL.
    """
    if runtime.rasa_instances > 1 and not runtime.production_stores:
        raise RuntimeError("RASA_INSTANCES > 1 needs the shared stores: a PostgreSQL "
                           "DATABASE_URL and REDIS_URL")
    model = model or ensure_model(runtime.settings.var_dir / "models", env=supervisor.env)
    portal = supervisor.start(
        "portal", python_module("assistant.cli", "portal", "--host",
                                runtime.interface("PORTAL_INTERFACE")),
        f"{runtime.portal_url}/health", env=runtime.env_for("portal"))
    actions = supervisor.start(
        "actions", python_module("actions.server", "--port", str(runtime.actions_port)),
        f"http://127.0.0.1:{runtime.actions_port}/health", env=runtime.env_for("actions"),
        niceness=runtime.turn_niceness)
    rasas = [start_rasa(runtime, supervisor, model, index, log_level)
             for index in range(runtime.rasa_instances)]
    # The workers have no HTTP side: the supervisor notices if one exits.
    # Each serves /metrics on its own loopback port (METRICS_PORT).
    for index in range(runtime.turn_workers):
        supervisor.start(f"turn-worker-{index + 1}",
                         python_module("assistant.cli", "turn-worker"), "",
                         env=worker_env(runtime, "turn-worker", index + 1),
                         niceness=runtime.turn_niceness)
    supervisor.start("sms-worker", python_module("assistant.cli", "sms-worker"), "",
                     env=worker_env(runtime, "sms-worker"), niceness=runtime.turn_niceness)
    for service in (portal, actions, *rasas):
        supervisor.wait_healthy(service)
    return model


def worker_env(runtime: Runtime, process: str, index: int = 0) -> dict:
    return {**runtime.env_for(process),
            "METRICS_PORT": str(runtime.worker_metrics_port(process, index))}


def start_rasa(runtime: Runtime, supervisor: Supervisor, model: Path, index: int,
               log_level: str = "info") -> Service:
    """The index-th Rasa server, on RASA_PORT + index.

    The token reaches Rasa through RASA_AUTH_TOKEN (channels/rasa_main.py); `/` answers
    without it once the model is loaded.
    """
    port = runtime.rasa_ports[index]
    level = ["--debug"] if log_level == "debug" else []
    return supervisor.start(
        "rasa" if index == 0 else f"rasa-{index + 1}", python_module(
            "channels.rasa_main", "run", "--model", str(model), "--enable-api",
            "--port", str(port), "--interface", runtime.interface("RASA_INTERFACE"),
            "--credentials", str(runtime.credentials_file),
            "--endpoints", str(runtime.endpoints_file), *level),
        f"http://127.0.0.1:{port}/", env=runtime.env_for("rasa"), niceness=runtime.turn_niceness)
