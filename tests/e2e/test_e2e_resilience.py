"""End to end: hostile input ends no process, and a process that dies comes back."""
from __future__ import annotations

import os
import signal
import time

import pytest
import requests

from assistant.processes import is_healthy

pytestmark = pytest.mark.slow

# Raw JSON: a lone UTF-16 surrogate is valid JSON but cannot be stored. It used to reach
# Rasa's SQL tracker store, whose error path exits the whole process.
SURROGATE_SENDER = b'{"sender": "\\ud800", "message": "hei"}'
SURROGATE_TEXT = b'{"sender": "e2e-surrogate", "message": "hei \\udfff"}'


def _service(stack, name):
    return next(s for s in stack.supervisor.services if s.name == name)


def _rasa_status_ok(stack) -> bool:
    return requests.get(f"{stack.runtime.rasa_url}/status",
                        headers={"Authorization": f"Bearer {stack.runtime.rasa_auth_token}"},
                        params={"token": stack.runtime.rasa_auth_token}, timeout=5).ok


@pytest.mark.parametrize("stack_name", ["production_stack", "embedded_stack"])
def test_a_lone_surrogate_ends_no_process(request, stack_name):
    stack = request.getfixturevalue(stack_name)
    rasa = _service(stack, "rasa")
    pid = rasa.process.pid
    for body in (SURROGATE_SENDER, SURROGATE_TEXT):
        response = requests.post(f"{stack.runtime.rasa_url}/webhooks/rest/webhook", data=body,
                                 headers={"Content-Type": "application/json"}, timeout=30)
        assert response.status_code < 500, response.text
    time.sleep(1)
    assert rasa.process.poll() is None and rasa.process.pid == pid
    assert _rasa_status_ok(stack)
    reply = stack.rest("e2e-after-surrogate", "hei")
    assert reply and reply[0].get("text")


def test_a_killed_action_server_comes_back_and_the_bot_answers_again(embedded_stack):
    stack = embedded_stack
    actions = _service(stack, "actions")
    others = {s.name: s.process.pid for s in stack.supervisor.services if s.name != "actions"}
    os.killpg(actions.process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while not stack.supervisor.keep_alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert actions.restarts == 1
    stack.supervisor.wait_healthy(actions, timeout=60)
    assert {s.name: s.process.pid for s in stack.supervisor.services if s.name != "actions"} \
        == others
    assert all(s.process.poll() is None for s in stack.supervisor.services)
    reply = stack.rest("e2e-after-restart", "vis brevene mine")  # needs the action server
    assert any("fødselsnummer" in (m.get("text") or "").lower() for m in reply), reply
