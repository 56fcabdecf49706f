"""Fixtures for the conversation gateway end to end: a stack with two Rasa servers and no
turn workers of its own, turn worker processes, and a switchable proxy in front of Rasa."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from portal.config import PROJECT_ROOT
from tests.conftest import fresh_schema


class RasaSwitch:
    """A reverse proxy in front of one Rasa server: forwards, refuses (the server is down), or
    holds Rasa's answer after Rasa ran the turn (a worker that dies mid-turn never sees it)."""

    def __init__(self, target: str):
        self.target = target.rstrip("/")
        self.mode = "forward"
        self.held = threading.Event()  # set once an answer is being held
        self.release = threading.Event()
        self.calls: List[str] = []
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        self.calls.append(self.mode)
        if self.mode == "down":
            return Response("down", 502)(environ, start_response)
        answer = requests.post(self.target + request.path, data=request.get_data(),
                               headers={"Authorization": request.headers.get("Authorization", ""),
                                        "Content-Type": "application/json"}, timeout=120)
        if self.mode == "hold":
            self.held.set()
            self.release.wait(120)
        return Response(answer.content, answer.status_code,
                        mimetype="application/json")(environ, start_response)

    def __enter__(self) -> "RasaSwitch":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


class TurnWorkerProcess:
    """`assistant turn-worker` as a real child process."""

    def __init__(self, env: Dict[str, str], rasa_urls: List[str], log_path: Path, *args: str):
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "assistant.cli", "turn-worker", *args],
                env={**env, "RASA_URLS": ",".join(rasa_urls)}, cwd=PROJECT_ROOT,
                stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then its exit status; a worker that does not stop fails the test with
        every thread's stack (SIGUSR1, faulthandler) from its log."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGUSR1)
            time.sleep(2)
            self.kill()
            raise AssertionError(f"the turn worker did not stop in {timeout} s:\n"
                                 f"{self.log[-6000:]}") from None

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def cluster_pg_url() -> str:
    with fresh_schema("gw") as url:
        yield url


@pytest.fixture(scope="session")
def cluster_stack(tmp_path_factory, trained_model, cluster_pg_url, e2e_redis_url):
    """The real assistant on PostgreSQL and Redis with TWO Rasa servers and no turn workers:
    each test starts the workers it needs. SMS replies land in the dev outbox."""
    from tests.e2e.conftest import _seed
    from tests.stack import RunningAssistant

    var_dir = tmp_path_factory.mktemp("stack-cluster")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    env.update(DATABASE_URL=cluster_pg_url, REDIS_URL=e2e_redis_url, ASSISTANT_ENV="demo",
               TWILIO_AUTH_TOKEN="cluster-twilio-auth-token", RASA_INSTANCES="2",
               TURN_WORKERS="0", SMS_QUIET_HOURS="off")
    assistant = RunningAssistant(var_dir, trained_model, env)
    _seed(assistant)
    yield assistant.start()
    assistant.stop()


@pytest.fixture
def start_turn_worker(cluster_stack, tmp_path) -> Callable[..., TurnWorkerProcess]:
    """Starts `assistant turn-worker ARGS…` against the given Rasa URLs; kills leftovers."""
    started: List[TurnWorkerProcess] = []
    env = cluster_stack.runtime.env_for("turn-worker")

    def start(*args: str, rasa_urls: Optional[List[str]] = None) -> TurnWorkerProcess:
        worker = TurnWorkerProcess(env, rasa_urls or cluster_stack.rasa_urls,
                                   tmp_path / f"turn-worker-{len(started)}.log", *args)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.kill()
