"""The action server as Rasa reaches it: loopback only, a shared secret, strict input."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import requests

from assistant.processes import Supervisor, python_module
from portal.config import PROJECT_ROOT
from tests.stack import free_port

TOKEN = "test-action-server-token"


def _listening_addresses(port: int) -> set:
    """Local addresses of the TCP sockets listening on `port` (from /proc/net/tcp*)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.fixture(scope="module")
def action_server(tmp_path_factory):
    port = free_port()
    env = {**os.environ, "ACTION_SERVER_TOKEN": TOKEN, "ASSISTANT_ENV": "production"}
    env.pop("ACTIONS_HOST", None)
    supervisor = Supervisor(env, log_dir=tmp_path_factory.mktemp("actions-logs"))
    service = supervisor.start("actions", python_module("actions.server", "--port", str(port)),
                               f"http://127.0.0.1:{port}/health")
    supervisor.wait_healthy(service)
    yield f"http://127.0.0.1:{port}", port, service
    supervisor.stop()


def _call(next_action="action_logout", **tracker):
    base = {"sender_id": "web-abc", "slots": {}, "latest_message": {"text": "logg ut"},
            "events": []}
    return {"next_action": next_action, "sender_id": "web-abc", "tracker": {**base, **tracker},
            "domain": {"responses": {"utter_logged_out": [{"text": "Du er logget ut."}]}},
            "version": "3.6.21"}


def _post(url, body, token=TOKEN, **headers):
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(f"{url}/webhook", data=data,
                         headers={"Content-Type": "application/json", **headers}, timeout=10)


def test_binds_loopback_only(action_server):
    _, port, _ = action_server
    assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else


def test_calls_need_the_shared_token(action_server):
    url, _, _ = action_server
    assert _post(url, _call(), token=None).status_code == 401
    assert _post(url, _call(), token="wrong").status_code == 401
    assert requests.get(f"{url}/actions", timeout=5).status_code == 401
    assert requests.get(f"{url}/health", timeout=5).status_code == 200
    response = _post(url, _call())
    assert response.status_code == 200, response.text
    assert response.json()["responses"][0]["text"] == "Du er logget ut."



def test_a_call_without_a_domain_renders_from_bot_domain(action_server):
    """Rasa sends no domain (enable_selective_domain): the server's own copy answers."""
    url, _, _ = action_server
    call = _call(slots={"language": "nn"})
    del call["domain"]
    response = _post(url, call)
    assert response.status_code == 200, response.text
    assert response.json()["responses"][0]["text"].startswith("Du er no logga ut.")


MALFORMED = [
    b"not json",
    b'{"next_action": "action_logout", "tracker": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    json.dumps(["action_logout"]).encode(),
    json.dumps({"tracker": {}}).encode(),
    json.dumps({"next_action": "action_logout"}).encode(),
    json.dumps({"next_action": 5, "tracker": {"sender_id": "x"}}).encode(),
    json.dumps(_call(slots=["session_token"])).encode(),
    json.dumps(_call(latest_message={"intent": "login"})).encode(),
    json.dumps(_call(latest_message={"entities": "fnr"})).encode(),
    json.dumps(_call(events=[{"name": "x"}])).encode(),
    json.dumps(_call(events="all")).encode(),
    json.dumps({**_call(), "domain": []}).encode(),
]


@pytest.mark.parametrize("body", MALFORMED)
def test_malformed_or_forged_calls_get_400_without_echo(action_server, body):
    url, _, _ = action_server
    response = _post(url, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_action_call" and error["message"]
    assert "request_body" not in response.text and "web-abc" not in response.text


def test_compressed_bodies_are_limited(action_server):
    url, _, _ = action_server
    bomb = zlib.compress(b" " * (50 * 1024 * 1024))  # 50 MB of spaces in ~50 KB
    response = _post(url, bomb, **{"Content-Encoding": "deflate"})
    assert response.status_code == 400
    ok = _post(url, zlib.compress(json.dumps(_call()).encode()),
               **{"Content-Encoding": "deflate"})
    assert ok.status_code == 200, ok.text


def test_unknown_action_is_a_404(action_server):
    url, _, _ = action_server
    assert _post(url, _call(next_action="action_nobody_wrote")).status_code == 404


def test_still_answers_after_hostile_calls(action_server):
    url, _, service = action_server
    for body in MALFORMED:
        _post(url, body)
    assert service.process.poll() is None
    assert _post(url, _call()).status_code == 200


def test_production_refuses_to_start_without_a_token():
    env = {k: v for k, v in os.environ.items() if k != "ACTION_SERVER_TOKEN"}
    env["ASSISTANT_ENV"] = "production"
    result = subprocess.run([sys.executable, "-m", "actions.server", "--port", str(free_port())],
                            env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    assert "ACTION_SERVER_TOKEN must be set" in result.stderr


@pytest.mark.parametrize("name", ["endpoints.yml", "endpoints.production.yml"])
def test_rasa_sends_the_token_from_its_endpoints(name, monkeypatch):
    from rasa.core.utils import read_endpoints_from_path

    for variable in ("TRACKER_DB_HOST", "TRACKER_DB_PORT", "TRACKER_DB_NAME", "TRACKER_DB_USER",
                     "TRACKER_DB_PASSWORD", "TRACKER_DB_OPTIONS", "LOCK_REDIS_HOST",
                     "LOCK_REDIS_PORT", "LOCK_REDIS_DB", "LOCK_REDIS_PASSWORD",
                     "TRACKER_SQLITE_PATH"):
        monkeypatch.setenv(variable, "1")
    monkeypatch.setenv("ACTION_ENDPOINT_URL", "http://127.0.0.1:5055/webhook")
    monkeypatch.setenv("ACTION_SERVER_TOKEN", TOKEN)
    endpoints = read_endpoints_from_path(str(PROJECT_ROOT / "bot" / name))
    assert endpoints.action.headers == {"Authorization": f"Bearer {TOKEN}"}
