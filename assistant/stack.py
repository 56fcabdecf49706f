"""The whole assistant: portal, action server and Rasa, started in order and healthy."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from assistant.model import ensure_model
from assistant.processes import Supervisor, python_module
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
    level = ["--debug"] if log_level == "debug" else []
    rasa = supervisor.start(
        "rasa", python_module(
            "channels.rasa_main", "run", "--model", str(model), "--enable-api",
            f"--auth-token={runtime.rasa_auth_token}", "--port", str(runtime.rasa_port),
            "--interface", os.environ.get("RASA_INTERFACE", "127.0.0.1"),
            "--credentials", str(runtime.credentials_file),
            "--endpoints", str(runtime.endpoints_file), *level),
        f"{runtime.rasa_url}/status?token={runtime.rasa_auth_token}")
    # The SMS worker has no HTTP side: the supervisor notices if it exits.
    supervisor.start("sms-worker", python_module("assistant.cli", "sms-worker"), "")
    for service in (portal, actions, rasa):
        supervisor.wait_healthy(service)
    return model
