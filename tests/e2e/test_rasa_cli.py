"""Rasa's own commands from the repository root: the project's layout and our fixes."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import requests

from assistant.processes import Supervisor
from assistant.rasa_cli import with_project_defaults
from assistant.runtime import Runtime
from tests.stack import free_port

RASA = str(Path(sys.executable).parent / "rasa")


def test_the_project_script_is_the_rasa_command():
    assert "assistant.rasa_cli" in Path(RASA).read_text()


def test_defaults_fill_what_is_missing_and_never_override():
    assert with_project_defaults(["data", "validate"]) == [
        "data", "validate", "--domain", "bot/domain", "--config", "config.yml",
        "--data", "data/nlu", "data/rules"]
    train = with_project_defaults(["train", "--config", "other.yml"])
    assert train.count("--config") == 1 and "other.yml" in train
    assert train[train.index("--out") + 1] == "var/models"
    test = with_project_defaults(["test"])
    assert ["--stories", "tests"] == test[test.index("--stories"):test.index("--stories") + 2]
    assert "--model" in test and "--out" not in test  # Rasa's own results/ folder


def test_servers_get_the_configuration_assistant_up_uses(tmp_path):
    runtime = Runtime.from_env({"ASSISTANT_ENV": "demo", "ASSISTANT_VAR_DIR": str(tmp_path)})
    shell = with_project_defaults(["shell"], runtime)
    assert shell[shell.index("--endpoints") + 1] == "bot/endpoints.yml"
    assert shell[shell.index("--credentials") + 1] == "bot/credentials.yml"
    assert shell[shell.index("--model") + 1] == "var/models"


@pytest.fixture
def rasa_run_actions(tmp_path):
    port = free_port()
    env = {**os.environ, "ASSISTANT_ENV": "demo", "ASSISTANT_VAR_DIR": str(tmp_path)}
    supervisor = Supervisor(env, log_dir=tmp_path / "logs")
    service = supervisor.start("actions", [RASA, "run", "actions", "--port", str(port)],
                               f"http://127.0.0.1:{port}/health")
    supervisor.wait_healthy(service, timeout=120)
    yield f"http://127.0.0.1:{port}", tmp_path
    supervisor.stop()


def test_rasa_run_actions_is_the_hardened_action_server(rasa_run_actions):
    url, var_dir = rasa_run_actions
    assert requests.post(f"{url}/webhook", json={}, timeout=10).status_code == 401
    token = (var_dir / "secrets" / "action_server_token").read_text().strip()
    response = requests.post(f"{url}/webhook", json={"next_action": 1},
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 400
