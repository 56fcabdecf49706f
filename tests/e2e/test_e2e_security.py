"""End to end on the running assistant: no session secret in Rasa, conversations fixed to their
channel, the Rasa token off command lines, each process only its own secrets, bodies capped."""
import json
import random
import re
import socket
import threading
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from portal.identity import synthetic_fnr
from tests.conftest import KARI, KARI_MOBILE, PERSONAL_CODES

pytestmark = pytest.mark.slow

SAFE_SLOTS = {"language", "logged_in", "first_name", "login_step", "pending_intent",
              "pending_offer_answer", "pending_offer_id", "fallback_count", "letter_ids",
              "message_number", "session_started_metadata", "pending_deletion",
              "conversation_erased", "requested_slot",
              # Writing to the municipality: the message (masked as citizen text), ids.
              "case_text", "case_letter_id", "case_letter_number", "pending_case"}


def texts(messages):
    return "\n".join(m.get("text", "") for m in messages)


def log_in_over_rest(bot, sender):
    bot.rest(sender, "logg inn")
    bot.rest(sender, KARI)
    before = len(bot.sms_to(KARI_MOBILE))
    bot.rest(sender, PERSONAL_CODES[KARI])
    sms = bot.wait_for_sms(KARI_MOBILE, "Engangskoden", after=before)
    reply = texts(bot.rest(sender, re.search(r"\b(\d{6})\b", sms["body"]).group(1)))
    assert "Kari" in reply
    return reply


def test_a_login_puts_no_session_secret_in_trackers_events_or_logs(production_stack,
                                                                     e2e_pg_url):
    bot = production_stack
    bot.reset_demo()
    sender = "sec-kari"
    log_in_over_rest(bot, sender)
    assert "Feievarsel for Fjellveien 12" in texts(bot.rest(sender, "vis brevene mine"))

    tracker = bot.tracker(bot.conversation_id(sender))
    assert tracker["slots"]["logged_in"] is True and tracker["slots"]["first_name"] == "Kari"
    assert set(tracker["slots"]) <= SAFE_SLOTS
    set_slots = {e["name"] for e in tracker["events"] if e["event"] == "slot"}
    assert "logged_in" in set_slots and set_slots <= SAFE_SLOTS

    engine = create_engine(e2e_pg_url, future=True)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT data FROM events WHERE sender_id = :s"),
                              {"s": bot.conversation_id(sender)}).scalars().all()
        sessions = conn.execute(text(
            "SELECT channel, conversation_id, ended_at FROM citizen_sessions")).all()
    engine.dispose()
    assert ("rest", "rest-sec-kari", None) in [tuple(row) for row in sessions]
    blobs = ["\n".join(stored), json.dumps(tracker)]
    blobs += [path.read_text(errors="replace") for path in bot.log_files]
    for blob in blobs:  # Rasa's debug log prints every slot value each turn
        assert "session_token" not in blob and "X-Citizen-Session" not in blob
        assert bot.runtime.settings.service_token not in blob
        assert bot.runtime.rasa_auth_token not in blob


def test_a_rest_request_without_sender_is_refused(production_stack):
    url = f"{production_stack.runtime.rasa_url}/webhooks/rest/webhook"
    for body in ({"message": "hei"}, {"sender": "", "message": "hei"},
                 {"sender": 42, "message": "hei"}, {"sender": "x" * 65, "message": "hei"}):
        response = requests.post(url, json=body, timeout=30)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "sender_required"
    for raw in (b"not json", b"[1, 2]"):
        response = requests.post(url, data=raw, timeout=30,
                                 headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and response.json()["error"]["code"]
    missing = requests.post(url, json={"sender": "x"}, timeout=30)
    assert missing.json()["error"]["code"] == "message_required"
    shared = production_stack.tracker("default")
    assert not [e for e in shared["events"] if e["event"] == "user"]


def test_a_rest_client_can_never_name_a_web_chat_or_sms_conversation(production_stack):
    bot = production_stack
    for victim in ("web-abcdefghijklmnopqrstuvwx", "sms-0123456789abcdef"):
        response = requests.post(f"{bot.runtime.rasa_url}/webhooks/rest/webhook", json={
            "sender": victim, "message": "hei", "input_channel": "webchat",
            "metadata": {"channel": "sms"}}, timeout=30)
        assert response.status_code == 200 and response.json()
        assert not [e for e in bot.tracker(victim)["events"] if e["event"] == "user"]
        own = bot.tracker("rest-" + victim)
        (user,) = [e for e in own["events"] if e["event"] == "user"]
        assert user["input_channel"] == "rest" and user["text"] == "hei"
        assert "channel" not in (user.get("metadata") or {})  # the client's metadata is dropped


def test_a_login_in_one_conversation_is_not_usable_from_another(production_stack):
    bot = production_stack
    bot.reset_demo()
    log_in_over_rest(bot, "sec-owner")
    # The other conversation claims to be logged in; the portal knows it is not.
    bot.rasa_api("/conversations/rest-sec-intruder/tracker/events", "POST",
                 json=[{"event": "slot", "name": "logged_in", "value": True}]).raise_for_status()
    reply = texts(bot.rest("sec-intruder", "vis brevene mine"))
    assert "Feievarsel" not in reply and "fødselsnummer" in reply


def _process_group(pid):
    """The pids of a service's process group (the service and anything it started)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pid:  # field 5 of /proc/<pid>/stat: the process group
            members.append(int(stat.parent.name))
    return members


def _descendants(pid):
    """A process and everything it started, through parent pids."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in found]
        found.update(children)
        frontier.extend(children)
    return found


def _environ(pid):
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_no_secret_on_a_command_line_and_each_process_holds_only_its_own(production_stack):
    runtime = production_stack.runtime
    s = runtime.settings
    secrets = {"rasa": runtime.rasa_auth_token, "webchat": runtime.webchat_secret,
               "actions": runtime.action_server_token, "metrics": runtime.metrics_token,
               "service": s.service_token, "dispatch": s.dispatch_token,
               "identity": s.identity_key, "gateway": s.gateway_token,
               "outbox": s.outbox_key, "staff": s.staff_session_secret,
               "totp": s.staff_totp_key, "twilio": s.twilio_auth_token}
    assert len(set(secrets.values())) == len(secrets)  # each one tells whose it is
    workers = {"service", "dispatch", "identity", "gateway", "outbox", "staff", "twilio",
               "metrics"}
    # The web app activates models on Rasa and opens staff TOTP secrets; no worker does.
    allowed = {"portal": workers | {"rasa", "totp"},
               "sms-worker": workers, "turn-worker-1": workers,
               "actions": {"service", "actions", "metrics"},
               "rasa": {"rasa", "webchat", "gateway", "actions", "metrics"}}
    services = {svc.name: svc for svc in production_stack.supervisor.services}
    assert set(services) == set(allowed)
    for name, service in services.items():
        pids = _process_group(service.process.pid)
        assert service.process.pid in pids
        for pid in pids:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            assert not [k for k, v in secrets.items() if v in cmdline], (name, cmdline)
            held = {k for k, v in secrets.items()
                    if any(v in value for value in _environ(pid).values())}
            assert held == allowed[name], name
    rasa_cmdline = Path(f"/proc/{services['rasa'].process.pid}/cmdline").read_bytes()
    assert b"--auth-token" not in rasa_cmdline and b"--enable-api" in rasa_cmdline


def test_rasa_takes_its_token_in_a_header_and_answers_its_health_check_without(
        production_stack):
    bot = production_stack
    assert requests.get(f"{bot.runtime.rasa_url}/", timeout=10).status_code == 200
    path = "/conversations/rest-sec-kari/tracker"
    assert bot.rasa_api(path).status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"},
                    {"Authorization": f"Bearer {bot.runtime.rasa_auth_token}x"}):
        response = requests.get(f"{bot.runtime.rasa_url}{path}", headers=headers, timeout=10)
        assert response.status_code == 401, headers


def _answer_to_a_declared_huge_body(port, path, headers):
    """Sends headers declaring 10 MB and only 1 KB of body; returns the status line."""
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
            f"Content-Length: {10 * 1024 * 1024}", "Connection: close",
            *[f"{k}: {v}" for k, v in headers.items()]]
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + b"{" + b" " * 1024)
        answer = b""
        while b"\r\n" not in answer:  # the server answers without waiting for the body
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0].decode()


def test_large_bodies_are_refused_before_they_are_read(production_stack):
    runtime = production_stack.runtime
    service = {"Authorization": f"Bearer {runtime.settings.service_token}"}
    for port, path, headers in [
            (runtime.rasa_port, "/webhooks/rest/webhook", {}),
            (runtime.rasa_port, "/webhooks/gateway/turn", {}),
            (runtime.rasa_port, "/socket.io/?EIO=4&transport=polling", {}),
            (runtime.rasa_port, "/model/parse", {"Authorization":
                                                 f"Bearer {runtime.rasa_auth_token}"}),
            (runtime.settings.port, "/api/v1/login/code", service),
            (runtime.settings.port, "/api/v1/dispatch/letters", {}),
            (runtime.settings.port, "/webhooks/twilio/sms", {})]:
        status = _answer_to_a_declared_huge_body(port, path, headers)
        assert " 413 " in status + " ", (path, status)
    # And the servers still serve normal requests.
    assert texts(production_stack.rest("sec-after-413", "hei"))


def _listening_addresses(port):
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_the_demo_listens_on_the_loopback_only(production_stack):
    runtime = production_stack.runtime
    assert runtime.settings.environment == "demo"
    for port in (runtime.settings.port, runtime.rasa_port, runtime.actions_port):
        assert _listening_addresses(port) == {"0100007F"}, port  # 127.0.0.1, nothing else


def test_assistant_up_demo_is_the_demo_on_the_loopback(tmp_path, trained_model):
    """`make up` runs `assistant up --demo`: ASSISTANT_ENV=demo for everything it starts, every
    server on 127.0.0.1 even when asked for more, and it says so."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from portal.config import PROJECT_ROOT
    from tests.stack import free_port, free_ports

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / trained_model.name).symlink_to(trained_model)
    ports = {"PORTAL_PORT": free_port(), "RASA_PORT": free_port(), "ACTIONS_PORT": free_port(),
             "METRICS_PORT_BASE": free_ports(2)}  # the SMS worker, turn worker 1
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith("TWILIO_")}
    env.update({k: str(v) for k, v in ports.items()})
    env.update(ASSISTANT_ENV="production", ASSISTANT_VAR_DIR=str(tmp_path),
               RASA_INTERFACE="0.0.0.0", PORTAL_INTERFACE="0.0.0.0",
               ACTIONS_INTERFACE="0.0.0.0")
    log = open(tmp_path / "up.log", "w+")
    up = subprocess.Popen([sys.executable, "-m", "assistant.cli", "up", "--demo"], env=env,
                          cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                          start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while "The assistant is running" not in (tmp_path / "up.log").read_text():
            assert up.poll() is None, (tmp_path / "up.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "assistant up --demo did not start"
            time.sleep(0.5)
        output = (tmp_path / "up.log").read_text()
        assert "every server listens on 127.0.0.1" in output and "/dev/outbox" in output
        for port in ports.values():  # the SMS worker's metrics on METRICS_PORT_BASE too
            assert _listening_addresses(port) == {"0100007F"}, port
        started = _descendants(up.pid) - {up.pid}
        assert len(started) >= 5  # portal, action server, Rasa, turn worker, SMS worker
        assert {_environ(pid).get("ASSISTANT_ENV") for pid in started} == {"demo"}
        reply = requests.post(f"http://127.0.0.1:{ports['RASA_PORT']}/webhooks/rest/webhook",
                              json={"sender": "up-demo", "message": "hei"}, timeout=60)
        assert reply.status_code == 200 and reply.json()  # the demo's REST channel is on
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(60)
        log.close()


def _web_chats_opened(rasa_url, count):
    """Opens `count` web chats from this one address, each saying "hei"; their ids."""
    import socketio

    opened = []
    for _ in range(count):
        client, confirmed, answered = socketio.Client(), threading.Event(), threading.Event()
        client.on("session_confirm", lambda data: (opened.append(data["session_id"]),
                                                   confirmed.set()))
        client.on("bot_uttered", lambda _data: answered.set())
        client.connect(rasa_url, transports=["polling"], socketio_path="/socket.io")
        try:
            client.emit("session_request", {})
            assert confirmed.wait(30), "no session_confirm"
            client.emit("user_uttered", {"message": "hei"})
            assert answered.wait(60), "the bot did not answer"
        finally:
            client.disconnect()
    return opened


def test_one_web_client_cannot_spray_codes_from_many_chats(production_stack):
    """The web chat passes each chat's client address to the gateway; code requests from
    all chats of one address count against one per-source limit (20 an hour)."""
    runtime = production_stack.runtime
    production_stack.reset_demo()
    limit = runtime.settings.otp_codes_per_source_per_hour
    rng, numbers = random.Random(7), []
    while len(numbers) < limit + 1:  # distinct numbers: the per-number limits never answer
        fnr = synthetic_fnr(rng)
        if fnr and fnr not in numbers:
            numbers.append(fnr)
    service = {"Authorization": f"Bearer {runtime.settings.service_token}"}
    statuses = []
    try:
        for chat, fnr in zip(_web_chats_opened(runtime.rasa_url, limit + 1), numbers):
            call = {"channel": "webchat", "conversation_id": chat}
            started = requests.post(f"{runtime.portal_url}/api/v1/login/start",
                                    json={"fnr": fnr, **call}, headers=service, timeout=30)
            assert started.status_code == 202, started.text
            statuses.append(requests.post(f"{runtime.portal_url}/api/v1/login/code",
                                          json={"personal_code": "2580", **call},
                                          headers=service, timeout=30))
        assert [s.status_code for s in statuses] == [202] * limit + [429]
        assert statuses[-1].json()["error"]["code"] == "too_many_codes"
    finally:
        production_stack.reset_demo()  # the next tests' web chats come from here too
