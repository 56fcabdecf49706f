"""The Twilio client aimed at the stand-in, and the stand-in: contract, failures, callbacks."""
from __future__ import annotations

import pytest
import requests
from twilio.request_validator import RequestValidator
from werkzeug.wrappers import Response

from portal.config import Settings
from portal.models import OutboundSms
from portal.sms.twilio_client import TwilioSender, make_client
from tests.sms_fixtures import FROM_NUMBER, MOBILE, StatusReceiver, twilio  # noqa: F401
from tests.twilio_standin import (DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, contract,
                                  num_segments, wait_until)

SERVICE_SID = "MG" + "fedcba9876543210" * 2
MESSAGES = f"/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages.json"


def _settings(twilio, **changes) -> Settings:
    values = dict(twilio_account_sid=DEFAULT_ACCOUNT_SID, twilio_auth_token=DEFAULT_AUTH_TOKEN,
                  twilio_from_number=FROM_NUMBER, twilio_api_base_url=twilio.base_url,
                  public_base_url="https://assistent.example.no")
    values.update(changes)
    return Settings(**values)


def _row(body: str = "Hei") -> OutboundSms:
    return OutboundSms(to_number=MOBILE, body=body)


def test_client_uses_twilio_unless_a_base_url_is_set(twilio):
    assert make_client(_settings(twilio, twilio_api_base_url=None)).api.base_url == \
        "https://api.twilio.com"
    client = make_client(_settings(twilio))
    assert client.api.base_url == twilio.base_url
    assert client.messages._version.domain is client.api  # Messages hang off the api domain


def test_sender_posts_the_message_through_the_official_client(twilio):
    sid, status = TwilioSender(_settings(twilio)).send(_row("Hei, dette er Bergen kommune"))

    [message] = twilio.messages
    assert (sid, status) == (message["sid"], "queued")
    assert message["to"] == MOBILE and message["from"] == FROM_NUMBER
    assert message["body"] == "Hei, dette er Bergen kommune"
    assert message["status_callback"] == "https://assistent.example.no/webhooks/twilio/status"
    [request] = twilio.requests
    assert request.path == MESSAGES and "twilio-python" in request.headers["User-Agent"]
    assert twilio.violations == []


def test_sender_uses_the_messaging_service_without_a_from_number(twilio):
    settings = _settings(twilio, twilio_from_number=None,
                         twilio_messaging_service_sid=SERVICE_SID)
    _sid, status = TwilioSender(settings).send(_row())

    [request] = twilio.requests
    assert request.form["MessagingServiceSid"] == SERVICE_SID and "From" not in request.form
    assert status == "accepted"
    assert twilio.violations == []


def test_contract_catches_broken_requests(twilio):
    url = twilio.base_url + MESSAGES
    auth = (DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)

    no_to = requests.post(url, data={"From": FROM_NUMBER, "Body": "Hei"}, auth=auth)
    assert no_to.status_code == 400 and no_to.json()["code"] == 21604
    no_auth = requests.post(url, data={"To": MOBILE, "From": FROM_NUMBER, "Body": "Hei"})
    assert no_auth.status_code == 401 and no_auth.json()["code"] == 20003
    bad_service = requests.post(url, data={"To": MOBILE, "MessagingServiceSid": "MG123",
                                           "Body": "Hei"}, auth=auth)
    assert bad_service.status_code == 201  # Twilio would refuse it; the contract says why

    first, second, third = (r.violations for r in twilio.requests)
    assert first == ["InvalidRequestBody: 'To' is a required property"]
    assert second and second[0].startswith("SecurityValidationError")
    assert [v.split(":")[0] for v in third] == ["InvalidRequestBody", "answer"]
    assert all("does not match '^MG[0-9a-fA-F]{32}$'" in v for v in third)
    assert len(twilio.violations) == 4


def test_contract_checks_answers_too(twilio):
    TwilioSender(_settings(twilio)).send(_row())
    request = twilio.requests[0]
    answer = Response('{"sid": "XX1", "status": "lost"}', 201, mimetype="application/json")

    problems = contract().check_response("POST", request.path, request.headers, "",
                                         "application/x-www-form-urlencoded", answer)
    assert any("'lost' is not one of" in p for p in problems)


def test_scripted_failures_come_in_order(twilio):
    sender = TwilioSender(_settings(twilio), timeout=5)
    twilio.fail_next(429)
    twilio.fail_next(500)
    twilio.reject_next(21610)
    twilio.drop_next()

    errors = []
    for _ in range(4):
        try:
            sender.send(_row())
        except Exception as exc:  # noqa: BLE001 - what the client raises is the point
            errors.append((type(exc).__name__, getattr(exc, "status", None),
                           getattr(exc, "code", None)))
    sender.send(_row())

    assert errors == [("TwilioRestException", 429, 20429), ("TwilioRestException", 500, 20500),
                      ("TwilioRestException", 400, 21610), ("ConnectionError", None, None)]
    assert twilio.outcomes() == ["failed", "failed", "rejected", "dropped", "accepted"]
    assert len(twilio.messages) == 1 and twilio.violations == []


def test_a_client_that_gives_up_during_a_delay_sends_nothing(twilio):
    twilio.delay_next(60)
    with pytest.raises(requests.Timeout):
        TwilioSender(_settings(twilio), timeout=0.5).send(_row())

    wait_until(lambda: twilio.outcomes() == ["abandoned"], what="the stand-in to notice")
    assert twilio.messages == []


def test_status_callbacks_are_signed_like_twilios_in_any_order(twilio):
    received = []

    class Recorder(StatusReceiver):
        def _wsgi(self, environ, start_response):
            from werkzeug.wrappers import Request

            request = Request(environ)
            form = request.form.to_dict()
            valid = self.validator.validate(request.url, form,
                                            request.headers["X-Twilio-Signature"])
            received.append((form["MessageStatus"], valid, form.get("ErrorCode")))
            return Response("<Response/>", 200)(environ, start_response)

    with Recorder(DEFAULT_AUTH_TOKEN) as receiver:
        sid, _ = TwilioSender(_settings(twilio, public_base_url=receiver.base_url)).send(_row())
        for status, code in (("delivered", None), ("sent", None), ("undelivered", 30003)):
            assert twilio.send_status(sid, status, code).status_code == 200

    assert received == [("delivered", True, None), ("sent", True, None),
                        ("undelivered", True, "30003")]
    url, form, headers = twilio.callback_request(sid, "sent")
    forged = dict(form, MessageStatus="delivered")
    assert not RequestValidator(DEFAULT_AUTH_TOKEN).validate(url, forged,
                                                             headers["X-Twilio-Signature"])


def test_captured_lists_messages_for_other_processes(twilio):
    TwilioSender(_settings(twilio)).send(_row("Hei på deg"))
    captured = requests.get(twilio.base_url + "/captured").json()

    assert [m["body"] for m in captured["messages"]] == ["Hei på deg"]
    assert captured["violations"] == []


@pytest.mark.parametrize("body, segments", [
    ("a" * 160, 1), ("a" * 161, 2), ("Hei æøå ÆØÅ", 1), ("€" * 80, 1), ("€" * 81, 2),
    ("Hei 👋", 1), ("ł" * 70, 1), ("ł" * 71, 2),
])
def test_segments_are_counted_like_twilio(body, segments):
    assert num_segments(body) == segments
