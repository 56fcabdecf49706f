"""Starting the real assistant (portal, action server, Rasa) for end-to-end tests."""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Dict, List

import requests

from assistant.processes import Supervisor
from assistant.runtime import Runtime
from assistant.stack import start_stack


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningAssistant:
    """The three servers, started from the same code and configuration as `assistant up`."""

    def __init__(self, var_dir: Path, model: Path, env: Dict[str, str]):
        env = {**env, "ASSISTANT_VAR_DIR": str(var_dir), "PORTAL_PORT": str(free_port()),
               "RASA_PORT": str(free_port()), "ACTIONS_PORT": str(free_port())}
        self.runtime = Runtime.from_env(env)
        self.supervisor = Supervisor(self.runtime.child_env(), log_dir=var_dir / "logs")
        self.model = model
        self.env = env

    def start(self) -> "RunningAssistant":
        try:
            start_stack(self.runtime, self.supervisor, self.model, log_level="debug")
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.supervisor.stop()

    @property
    def log_files(self) -> List[Path]:
        return [s.log_path for s in self.supervisor.services if s.log_path]

    def rest(self, sender: str, text: str) -> List[dict]:
        """One message through Rasa's REST channel (enabled in the demo configuration only)."""
        response = requests.post(f"{self.runtime.rasa_url}/webhooks/rest/webhook",
                                 json={"sender": sender, "message": text}, timeout=30)
        response.raise_for_status()
        return response.json()

    def sms_to(self, mobile: str) -> List[dict]:
        response = requests.get(f"{self.runtime.portal_url}/dev/sms", params={"to": mobile},
                                timeout=10)
        response.raise_for_status()
        return response.json()["messages"]
