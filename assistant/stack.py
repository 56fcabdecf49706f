"""The whole assistant: portal, action server and Rasa, started in order and healthy."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from assistant.model import ensure_model
from assistant.processes import Supervisor, python_module
from assistant.runtime import Runtime


def start_stack(runtime: Runtime, supervisor: Supervisor, model: Optional[Path] = None,
                log_level: str = "info") -> Path:
    """Starts every service and waits until each answers; returns the model in use.

    Each process gets its own environment (Runtime.env_for); no secret is on a command line
    or in a health-check URL.
    """
    model = model or ensure_model(runtime.settings.var_dir / "models", env=supervisor.env)
    portal = supervisor.start(
        "portal", python_module("assistant.cli", "portal", "--host",
                                runtime.interface("PORTAL_INTERFACE")),
        f"{runtime.portal_url}/health", env=runtime.env_for("portal"))
    actions = supervisor.start(
        "actions", python_module("channels.rasa_main", "run", "actions", "--actions", "actions",
                                 "--port", str(runtime.actions_port)),
        f"http://127.0.0.1:{runtime.actions_port}/health", env=runtime.env_for("actions"))
    level = ["--debug"] if log_level == "debug" else []
    # The token reaches Rasa through RASA_AUTH_TOKEN (channels/rasa_main.py); `/` answers
    # without it once the model is loaded.
    rasa = supervisor.start(
        "rasa", python_module(
            "channels.rasa_main", "run", "--model", str(model), "--enable-api",
            "--port", str(runtime.rasa_port),
            "--interface", runtime.interface("RASA_INTERFACE"),
            "--credentials", str(runtime.credentials_file),
            "--endpoints", str(runtime.endpoints_file), *level),
        f"{runtime.rasa_url}/", env=runtime.env_for("rasa"))
    # The SMS worker has no HTTP side: the supervisor notices if it exits.
    supervisor.start("sms-worker", python_module("assistant.cli", "sms-worker"), "",
                     env=runtime.env_for("sms-worker"))
    for service in (portal, actions, rasa):
        supervisor.wait_healthy(service)
    return model
