"""The whole assistant: portal, action server, Rasa servers and workers, started and healthy."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from assistant.model import ensure_model
from assistant.processes import Service, Supervisor, python_module
from assistant.runtime import Runtime


def start_stack(runtime: Runtime, supervisor: Supervisor, model: Optional[Path] = None,
                log_level: str = "info") -> Path:
    """Starts every service and waits until each answers; returns the model in use."""
    env = supervisor.env
    model = model or ensure_model(runtime.settings.var_dir / "models", env=env)
    portal = supervisor.start("portal", python_module("assistant.cli", "portal"),
                              f"{runtime.portal_url}/health")
    actions = supervisor.start(
        "actions", python_module("actions.server", "--port", str(runtime.actions_port)),
        f"http://127.0.0.1:{runtime.actions_port}/health")
    if runtime.rasa_instances > 1 and not runtime.production_stores:
        raise RuntimeError("RASA_INSTANCES > 1 needs the shared stores: a PostgreSQL "
                           "DATABASE_URL and REDIS_URL")
    rasas = [start_rasa(runtime, supervisor, model, index, log_level)
             for index in range(runtime.rasa_instances)]
    # The workers have no HTTP side: the supervisor notices if one exits.
    for index in range(runtime.turn_workers):
        supervisor.start(f"turn-worker-{index + 1}",
                         python_module("assistant.cli", "turn-worker"), "")
    supervisor.start("sms-worker", python_module("assistant.cli", "sms-worker"), "")
    for service in (portal, actions, *rasas):
        supervisor.wait_healthy(service)
    return model


def start_rasa(runtime: Runtime, supervisor: Supervisor, model: Path, index: int,
               log_level: str = "info") -> Service:
    """The index-th Rasa server, on RASA_PORT + index."""
    port = runtime.rasa_ports[index]
    level = ["--debug"] if log_level == "debug" else []
    return supervisor.start(
        "rasa" if index == 0 else f"rasa-{index + 1}", python_module(
            "channels.rasa_main", "run", "--model", str(model), "--enable-api",
            f"--auth-token={runtime.rasa_auth_token}", "--port", str(port),
            "--interface", os.environ.get("RASA_INTERFACE", "127.0.0.1"),
            "--credentials", str(runtime.credentials_file),
            "--endpoints", str(runtime.endpoints_file), *level),
        f"http://127.0.0.1:{port}/status?token={runtime.rasa_auth_token}")
