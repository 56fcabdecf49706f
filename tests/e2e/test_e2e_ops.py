"""Operations on the real stack: every process's /metrics moves during a conversation, one SMS
is followed through every process's log by its correlation id, and no log field holds a
secret or a personal number."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Dict, List

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import KARI, KARI_MOBILE, PERSONAL_CODES
from tests.e2e.test_e2e_sms import Phone, db_row, sid

pytestmark = pytest.mark.slow


def endpoints(stack) -> Dict[str, str]:
    """Every process's /metrics URL."""
    runtime = stack.runtime
    urls = {"portal": f"{runtime.portal_url}/metrics",
            "actions": f"http://127.0.0.1:{runtime.actions_port}/metrics",
            "sms-worker": f"http://127.0.0.1:{runtime.worker_metrics_port('sms-worker')}/metrics"}
    for index, url in enumerate(runtime.rasa_urls):
        urls["rasa" if index == 0 else f"rasa-{index + 1}"] = f"{url}/webhooks/gateway/metrics"
    for index in range(runtime.turn_workers):
        port = runtime.worker_metrics_port("turn-worker", index + 1)
        urls[f"turn-worker-{index + 1}"] = f"http://127.0.0.1:{port}/metrics"
    return urls


def scrape(url: str, token: str) -> Dict[tuple, float]:
    """{(sample name, sorted labels): value} of one scrape."""
    answer = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200, (url, answer.text[:200])
    assert answer.headers["Content-Type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def total(samples: Dict[tuple, float], name: str, **labels) -> float:
    return sum(value for (sample, have), value in samples.items() if sample == name
               and all(dict(have).get(k) == v for k, v in labels.items()))


def scrape_all(stack) -> Dict[str, Dict[tuple, float]]:
    return {name: scrape(url, stack.runtime.metrics_token)
            for name, url in endpoints(stack).items()}


def test_metrics_are_refused_without_the_metrics_token(production_stack):
    stack = production_stack
    for name, url in endpoints(stack).items():
        for headers in ({}, {"Authorization": "Bearer wrong-token"},
                        {"Authorization": f"Bearer {stack.runtime.rasa_auth_token}"}):
            answer = requests.get(url, headers=headers, timeout=10)
            assert answer.status_code == 401, (name, headers)
            assert answer.json()["error"]["code"] == "invalid_token"
            assert "assistant_" not in answer.text


def test_every_process_counts_a_conversation(production_stack):
    stack, kari = production_stack, Phone(production_stack, KARI_MOBILE)
    stack.reset_demo()
    before = scrape_all(stack)
    kari.send("logg inn", "fødselsnummer")
    kari.send(KARI, "personlige koden")
    kari.send(PERSONAL_CODES[KARI], "Hvis fødselsnummeret")
    deadline = time.monotonic() + 30
    while True:  # the SMS worker counts a send right after Twilio accepted it
        after = scrape_all(stack)
        if total(after["sms-worker"], "assistant_sms_sends_total", outcome="sent") >= total(
                before["sms-worker"], "assistant_sms_sends_total", outcome="sent") + 3:
            break
        assert time.monotonic() < deadline, "the SMS worker did not count 3 sends"
        time.sleep(0.3)

    def moved(process, name, by=1, **labels):
        grown = total(after[process], name, **labels) - total(before[process], name, **labels)
        assert grown >= by, (process, name, labels, grown)

    moved("portal", "assistant_webhook_ack_seconds_count", 2, webhook="sms", status="200")
    moved("turn-worker-1", "assistant_turns_total", 2, channel="sms", outcome="turn")
    moved("turn-worker-1", "assistant_turn_seconds_count", 2, channel="sms")
    rasa = {k: v for k, v in after.items() if k.startswith("rasa")}
    grown = sum(total(v, "assistant_turns_total", channel="sms", outcome="ok")
                - total(before[k], "assistant_turns_total", channel="sms", outcome="ok")
                for k, v in rasa.items())
    assert grown >= 2
    moved("actions", "assistant_actions_total")
    moved("actions", "assistant_action_seconds_count")
    # Figures the portal reads from the database at scrape time.
    handed = sum(total(after["portal"], "assistant_outbox_messages", status=status)
                 - total(before["portal"], "assistant_outbox_messages", status=status)
                 for status in ("queued", "sent", "delivered"))
    assert handed >= 3
    moved("portal", "assistant_login_codes", 1, outcome="sent")
    assert total(after["portal"], "assistant_active_model") == 1
    assert total(after["portal"], "assistant_inbound_queue_depth") >= 0
    assert any(name == "assistant_rasa_model" and value == 1
               for (name, _), value in after["rasa"].items())


def json_lines(path: Path) -> List[dict]:
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def logs_of(stack) -> Dict[str, List[dict]]:
    return {path.stem: json_lines(path) for path in stack.log_files}


def test_one_sms_is_followed_through_every_process_by_its_correlation_id(production_stack,
                                                                          e2e_pg_url):
    stack, kari = production_stack, Phone(production_stack, KARI_MOBILE)
    stack.reset_demo()
    kari.send("logg inn", "fødselsnummer")
    kari.send(KARI, "personlige koden")
    message = sid()
    before = len(stack.sms_to(KARI_MOBILE))
    assert stack.post_sms(KARI_MOBILE, PERSONAL_CODES[KARI], message).status_code == 200
    stack.wait_for_sms(KARI_MOBILE, "Engangskoden", after=before)
    stack.wait_for_sms(KARI_MOBILE, "Hvis fødselsnummeret", after=before)
    (correlation_id,) = db_row(e2e_pg_url, "SELECT correlation_id FROM inbound_sms "
                               "WHERE message_sid = :sid", sid=message)
    assert re.fullmatch(r"[0-9a-f]{32}", correlation_id)
    # Both SMS it caused (the reply and the one-time code the login action asked the portal
    # for) carry it on their outbox rows.
    outbox = db_row(e2e_pg_url, "SELECT count(*), string_agg(DISTINCT purpose, ',' ORDER BY "
                    "purpose) FROM outbound_sms WHERE correlation_id = :c", c=correlation_id)
    assert outbox == (2, "otp,reply")
    deadline = time.monotonic() + 20
    while True:
        mine = {process: [line for line in lines if line.get("correlation_id") == correlation_id]
                for process, lines in logs_of(stack).items()}
        seen = {process for process, lines in mine.items() if lines}
        if {"portal", "turn-worker-1", "actions", "sms-worker"} <= seen and seen & {
                "rasa", "rasa-2"}:
            break
        assert time.monotonic() < deadline, seen
        time.sleep(0.5)
    events = {process: " | ".join(line.get("event", "") for line in lines)
              for process, lines in mine.items()}
    assert "/webhooks/twilio/sms 200" in events["portal"]  # the webhook
    assert "/api/" in events["portal"]  # the login action's call, by X-Correlation-Id
    assert "turn worker finished SMS" in events["turn-worker-1"]
    assert "action " in events["actions"]
    assert events["sms-worker"].count("handed to Twilio") == 2
    for process, lines in mine.items():
        assert all(line["process"] == process.split("-")[0] or line["process"] in process
                   for line in lines), process


def test_no_log_field_holds_a_secret_or_a_personal_number(production_stack):
    stack = production_stack
    Phone(stack, KARI_MOBILE).send("logg inn", "fødselsnummer")
    runtime, settings = stack.runtime, stack.runtime.settings
    secrets = {runtime.rasa_auth_token, runtime.webchat_secret, runtime.action_server_token,
               runtime.metrics_token, settings.service_token, settings.dispatch_token,
               settings.identity_key, settings.gateway_token, settings.outbox_key,
               settings.staff_session_secret, settings.staff_totp_key,
               stack.env["TWILIO_AUTH_TOKEN"]}
    personal = {KARI, KARI_MOBILE, KARI_MOBILE[3:]}
    codes = {m["body"] for m in stack.sms_to(KARI_MOBILE)}
    codes = {c for body in codes for c in re.findall(r"\b\d{6}\b", body)}
    checked = 0
    for path in stack.log_files:
        text = path.read_text(errors="replace")
        for value in secrets | personal | codes:
            assert value not in text, (path.name, "a secret or personal number")
        for line in json_lines(path):
            checked += 1
            for field, value in line.items():
                for needle in secrets | personal | codes:
                    assert needle not in str(value), (path.name, field)
    assert checked > 50  # the logs are JSON lines in production format


def test_assistant_status_shows_every_process_the_queues_and_the_model(production_stack):
    import subprocess
    import sys

    stack = production_stack
    Phone(stack, KARI_MOBILE).send("hei", "")
    result = subprocess.run([sys.executable, "-m", "assistant.cli", "status"],
                            env=stack.env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for service in stack.supervisor.services:
        assert re.search(rf"^  {re.escape(service.name)}\s+ok\s", out, re.M), service.name
    assert re.search(r"inbound SMS waiting\s+\d+\s+oldest \d+ s", out)
    assert re.search(r"outbox sent / failed\s+\d+ / \d+", out)
    assert re.search(r"handoffs waiting\s+\d+", out)
    assert re.search(rf"^  rasa\s+{re.escape(stack.model.name)}$", out, re.M)
    assert "Last errors" in out
    for secret in (stack.runtime.metrics_token, stack.runtime.rasa_auth_token):
        assert secret not in out
