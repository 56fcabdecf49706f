"""Starting the real assistant (portal, action server, Rasa) for end-to-end tests."""
from __future__ import annotations

import socket
import time
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


def free_ports(count: int) -> int:
    """The first of `count` consecutive free ports."""
    for _ in range(50):
        first = free_port()
        try:
            sockets = []
            for port in range(first, first + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports")


class RunningAssistant:
    """The three servers, started from the same code and configuration as `assistant up`."""

    def __init__(self, var_dir: Path, model: Path, env: Dict[str, str], twilio=None):
        self.twilio = twilio
        portal_port = free_port()
        # The tests themselves are the heaviest load here: turns at the portal's priority, so
        # a busy test worker never starves the bot it waits on (tests/integration/
        # test_supervisor.py proves the niceness itself).
        env = {"PUBLIC_BASE_URL": f"http://127.0.0.1:{portal_port}", "TURN_NICENESS": "0",
               **env,
               "ASSISTANT_VAR_DIR": str(var_dir), "PORTAL_PORT": str(portal_port),
               "RASA_PORT": str(free_ports(int(env.get("RASA_INSTANCES") or 1))),
               "ACTIONS_PORT": str(free_port()),
               "METRICS_PORT_BASE": str(free_ports(int(env.get("TURN_WORKERS") or 1) + 1))}
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

    def reset_demo(self) -> None:
        """Reloads the demo municipality, so each test starts from the same state."""
        from sqlalchemy import delete

        from portal.bootstrap import Portal
        from portal.clock import Clock
        from portal.models import Citizen
        from portal.services.demo import load_demo

        portal = Portal(self.runtime.settings, Clock())
        with portal.sessions() as db:
            db.execute(delete(Citizen))
            load_demo(db, portal.settings, now=portal.clock.now())
            db.commit()
        portal.engine.dispose()
        if self.runtime.settings.redis_url:  # the login limits and failures the tests ran up
            import redis

            # The portal's store prefixes its keys (portal/kv.py RedisStore).
            store = redis.Redis.from_url(self.runtime.settings.redis_url)
            for key in store.scan_iter("assistant:otp:*"):
                store.delete(key)
            store.close()

    def stop(self) -> None:
        self.supervisor.stop()

    @property
    def log_files(self) -> List[Path]:
        return [s.log_path for s in self.supervisor.services if s.log_path]

    @staticmethod
    def conversation_id(sender: str) -> str:
        """The conversation the REST channel keeps for a sender (channels/rest.py)."""
        return "rest-" + sender

    def rasa_api(self, path: str, method: str = "GET", **kwargs) -> requests.Response:
        """Rasa's HTTP API, with the token in a header (never in the URL)."""
        headers = {"Authorization": f"Bearer {self.runtime.rasa_auth_token}",
                   **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.runtime.rasa_url}{path}", headers=headers,
                                timeout=30, **kwargs)

    def tracker(self, conversation_id: str) -> dict:
        response = self.rasa_api(f"/conversations/{conversation_id}/tracker")
        response.raise_for_status()
        return response.json()

    def rest(self, sender: str, text: str) -> List[dict]:
        """One message through the demo REST channel (conversation `rest-<sender>`)."""
        response = requests.post(f"{self.runtime.rasa_url}/webhooks/rest/webhook",
                                 json={"sender": sender, "message": text}, timeout=30)
        response.raise_for_status()
        return response.json()

    def sms_to(self, mobile: str) -> List[dict]:
        """SMS sent to a number, newest first: from the Twilio stand-in, else the dev outbox."""
        if self.twilio is not None:
            return [m for m in reversed(self.twilio.messages) if m["to"] == mobile]
        response = requests.get(f"{self.runtime.portal_url}/dev/sms", params={"to": mobile},
                                timeout=10)
        response.raise_for_status()
        return response.json()["messages"]

    def wait_for_sms(self, mobile: str, contains: str, after: int = 0,
                     timeout: float = 60) -> dict:
        """The first SMS to `mobile` beyond the first `after` ones whose body contains text."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = list(reversed(self.sms_to(mobile)))[after:]
            for message in messages:
                if contains in message["body"]:
                    return message
            time.sleep(0.1)
        raise AssertionError(f"no SMS to {mobile} containing {contains!r} within {timeout} s; "
                             f"got {[m['body'] for m in self.sms_to(mobile)]}")

    def post_sms(self, sender: str, body: str, sid: str, *, sign: bool = True,
                 num_media: int = 0, path: str = "/webhooks/twilio/sms") -> requests.Response:
        """An inbound SMS webhook to the portal, signed exactly as Twilio signs it."""
        from twilio.request_validator import RequestValidator

        url = self.runtime.settings.public_base_url + path
        form = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32,
                "From": sender, "To": "+4759440000", "Body": body,
                "NumMedia": str(num_media)}
        token = self.env.get("TWILIO_AUTH_TOKEN", "")
        headers = ({"X-Twilio-Signature": RequestValidator(token).compute_signature(url, form)}
                   if sign else {})
        return requests.post(f"{self.runtime.portal_url}{path}", data=form, headers=headers,
                             timeout=10)

    @property
    def rasa_urls(self) -> List[str]:
        return self.runtime.rasa_urls

    def service(self, name: str):
        """The supervised process called `name` (e.g. "rasa", "turn-worker-1")."""
        return next(s for s in self.supervisor.services if s.name == name)
