"""Fixtures for outbound SMS: the Twilio stand-in, settings aimed at it, the SMS worker process."""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from portal.config import PROJECT_ROOT, Settings
from portal.models import OutboundSms
from portal.sms import outbox
from portal.sms.sender import apply_status_callback
from portal.bootstrap import Portal
from tests.twilio_standin import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, TwilioStandIn

FROM_NUMBER = "+4759440000"
MOBILE = "+4791234567"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@pytest.fixture
def twilio():
    """A Twilio stand-in on a free port."""
    with TwilioStandIn() as standin:
        yield standin


class StatusReceiver:
    """Does what the SMS channel's status webhook does: checks Twilio's signature, applies it."""

    def __init__(self, auth_token: str):
        self.validator = RequestValidator(auth_token)
        self.sessions = None  # set once the database is known
        self.results: List[str] = []
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        form = request.form.to_dict()
        if not self.validator.validate(request.url, form,
                                       request.headers.get("X-Twilio-Signature", "")):
            return Response("Forbidden", 403)(environ, start_response)
        with self.sessions() as db:
            result = apply_status_callback(db, form["MessageSid"], form["MessageStatus"],
                                           form.get("ErrorCode"))
        self.results.append(result.value)
        return Response("<Response/>", 200, mimetype="text/xml")(environ, start_response)

    def __enter__(self) -> "StatusReceiver":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def status_receiver():
    with StatusReceiver(DEFAULT_AUTH_TOKEN) as receiver:
        yield receiver


def twilio_settings(settings: Settings, twilio: TwilioStandIn, **changes) -> Settings:
    """`settings` with Twilio configured to send through the stand-in."""
    return dataclasses.replace(
        settings, twilio_account_sid=DEFAULT_ACCOUNT_SID, twilio_auth_token=DEFAULT_AUTH_TOKEN,
        twilio_from_number=FROM_NUMBER, twilio_api_base_url=twilio.base_url, **changes)


@pytest.fixture
def sms_settings(settings, twilio, status_receiver) -> Settings:
    return twilio_settings(settings, twilio, public_base_url=status_receiver.base_url)


@pytest.fixture
def sms_portal(sms_settings, clock, status_receiver):
    """What the SMS worker works with, on the test database and the frozen clock."""
    context = Portal(sms_settings, clock)
    status_receiver.sessions = context.sessions
    yield context
    context.close()


def add_sms(portal, *, now: Optional[datetime] = None, body: str = "Hei fra kommunen",
            to: str = MOBILE, sensitive: bool = False, deliver: bool = True,
            expires_at: Optional[datetime] = None) -> int:
    """Writes an SMS to the outbox (and commits); returns its id."""
    with portal.sessions() as db:
        row = outbox.enqueue(db, to=to, body=body, purpose="otp" if sensitive else "reply",
                             now=now or portal.clock.now(), sensitive=sensitive,
                             deliver=deliver, key=portal.settings.outbox_key,
                             expires_at=expires_at)
        db.commit()
        return row.id


def load_sms(portal, row_id: int) -> OutboundSms:
    """The row as stored now, read in a short transaction of its own."""
    with portal.sessions() as db:
        return db.get(OutboundSms, row_id)


class WorkerProcess:
    """`assistant sms-worker` as a real child process."""

    def __init__(self, args: List[str], env: Dict[str, str], log_path: Path):
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "assistant.cli", "sms-worker", *args], env=env,
                cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as `assistant up` stops it; returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def wait(self, timeout: float = 60) -> int:
        return self.process.wait(timeout)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def worker_env(sms_settings, tmp_path) -> Dict[str, str]:
    """The environment the worker process reads its settings from."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TWILIO_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({
        "DATABASE_URL": sms_settings.database_url, "ASSISTANT_ENV": "test",
        "ASSISTANT_VAR_DIR": str(tmp_path / "worker-var"), "PYTHONUNBUFFERED": "1",
        "PUBLIC_BASE_URL": sms_settings.public_base_url,
        "TWILIO_ACCOUNT_SID": sms_settings.twilio_account_sid,
        "TWILIO_AUTH_TOKEN": sms_settings.twilio_auth_token,
        "TWILIO_FROM_NUMBER": sms_settings.twilio_from_number,
        "TWILIO_API_BASE_URL": sms_settings.twilio_api_base_url,
    })
    return env


@pytest.fixture
def start_worker(worker_env, tmp_path) -> Callable[..., WorkerProcess]:
    """Starts `assistant sms-worker ARGS…`; whatever still runs at the end is killed."""
    started: List[WorkerProcess] = []

    def start(*args: str) -> WorkerProcess:
        worker = WorkerProcess(list(args), worker_env, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.kill()
