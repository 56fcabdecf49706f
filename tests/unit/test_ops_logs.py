"""Structured log lines: the format per environment, the correlation id on every line, every
field redacted, and `assistant status` finding the last errors in them."""
from __future__ import annotations

import io
import json
import logging

import pytest

from assistant.status import last_errors
from portal import correlation, logsetup

FNR, MOBILE = "01017012345", "+4791234567"


@pytest.fixture
def capture():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)

    def configure(fmt):
        logsetup.configure("portal", fmt=fmt, stream=stream)
        return stream

    yield configure
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


@pytest.mark.parametrize("env, expected", [
    ({}, "json"), ({"ASSISTANT_ENV": "production"}, "json"), ({"ASSISTANT_ENV": "demo"}, "text"),
    ({"ASSISTANT_ENV": "demo", "LOG_FORMAT": "json"}, "json"),
    ({"LOG_FORMAT": "text"}, "text"), ({"LOG_FORMAT": "xml"}, "json")])
def test_json_in_production_text_in_the_demo_unless_log_format_says(env, expected):
    assert logsetup.log_format(env) == expected


def test_a_json_line_carries_the_correlation_id_and_no_personal_number_in_any_field(capture):
    stream = capture("json")
    log = logging.getLogger("portal.test")
    with correlation.bound("c0ffee0123456789"):
        log.info("code for %s", FNR, extra={"to": MOBILE, "nested": {"fnr": FNR}})
        try:
            raise ValueError(f"bad number {MOBILE}")
        except ValueError:
            log.exception("failed for %s", FNR)
    log.info("outside")
    first, second, third = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert first["correlation_id"] == second["correlation_id"] == "c0ffee0123456789"
    assert "correlation_id" not in third
    assert first["process"] == "portal" and first["level"] == "info"
    assert first["logger"] == "portal.test" and first["timestamp"].endswith("Z")
    assert "ValueError" in second["exception"] and second["level"] == "error"
    text = stream.getvalue()
    assert FNR not in text and MOBILE not in text and MOBILE[3:] not in text
    assert first["to"] != MOBILE and FNR not in json.dumps(first["nested"])


def test_text_lines_in_the_demo_are_readable_and_redacted(capture):
    stream = capture("text")
    with correlation.bound("c0ffee0123456789"):
        logging.getLogger("portal.test").warning("texted %s", MOBILE)
    line = stream.getvalue()
    assert not line.startswith("{") and "texted" in line and "warning" in line
    assert "correlation_id=c0ffee0123456789" in line and MOBILE not in line


def test_rasa_s_debug_fields_with_what_a_citizen_wrote_lose_personal_codes():
    event = logsetup.redact_fields(None, "debug", {
        "event": "rule_policy.actions.find", "parse_data_text": "personlig kode 2580",
        "current_states": "[state 1] user text: personlig kode 2580 | previous action",
        "tracker_states": [{"user": {"text": "koden min er 31415926"}}],
        "port": "port 5005", "timestamp": "2026-12-02T03:00:00Z"})
    assert event["parse_data_text"] == "personlig kode [kode]"
    assert "2580" not in event["current_states"]
    assert event["tracker_states"] == [{"user": {"text": "koden min er [kode]"}}]
    assert event["port"] == "port 5005"  # other fields keep their figures


def test_invalid_correlation_ids_are_not_taken():
    assert correlation.valid("short") is None
    assert correlation.valid("has spaces in it 123") is None
    assert correlation.valid("x" * 65) is None
    assert correlation.valid(correlation.new())


def test_status_finds_the_last_errors_of_each_log(tmp_path, capture):
    for process, fmt in (("sms-worker", "json"), ("rasa", "text")):
        stream = capture(fmt)
        log = logging.getLogger("portal.test")
        for index in range(5):
            log.error("send %d failed for %s", index, MOBILE)
            log.info("fine %d", index)
        (tmp_path / f"{process}.log").write_text(stream.getvalue())
        stream.seek(0)
        stream.truncate()
    (tmp_path / "portal.log").write_text("plain line without trouble\n")
    errors = last_errors(tmp_path, per_process=2)
    assert [(e.process, "send 3" in e.line or "send 4" in e.line) for e in errors] == [
        ("rasa", True), ("rasa", True), ("sms-worker", True), ("sms-worker", True)]
    assert all(MOBILE not in e.line for e in errors)
