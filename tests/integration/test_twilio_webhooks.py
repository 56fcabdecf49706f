"""Twilio's webhooks at the portal over real HTTP: signature, size, de-duplication, bad input."""
import dataclasses
import uuid

import pytest
import redis
import requests
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from portal.app import create_app
from portal.models import Conversation, InboundSms, OutboundSms, TranscriptMessage
from portal.sms import outbox
from tests.conftest import KARI, REDIS_URL, serve

PUBLIC = "https://assistent.example.no"
TOKEN = "webhook-test-auth-token"
MOBILE = "+4791234567"


def sid() -> str:
    return "SM" + uuid.uuid4().hex


def form_for(body="brev", message_sid=None, **extra):
    return {"MessageSid": message_sid or sid(), "AccountSid": "AC" + "0" * 32,
            "From": MOBILE, "To": "+4759440000", "Body": body, "NumMedia": "0", **extra}


def signature(form, path="/webhooks/twilio/sms", base=PUBLIC, token=TOKEN):
    return RequestValidator(token).compute_signature(base + path, form)


@pytest.fixture
def hook_settings(settings):
    redis.Redis.from_url(REDIS_URL).flushdb()
    return dataclasses.replace(settings, public_base_url=PUBLIC, twilio_auth_token=TOKEN,
                               redis_url=REDIS_URL)


def running(settings, clock):
    app = create_app(settings, clock)
    return app, serve(app)


@pytest.fixture
def portal_url(hook_settings, clock):
    app, server = running(hook_settings, clock)
    with server as url:
        yield url, app.extensions["portal"]
    app.extensions["portal"].engine.dispose()


def post(url, form, *, sig=None, path="/webhooks/twilio/sms", **kwargs):
    headers = {"X-Twilio-Signature": signature(form, path) if sig is None else sig}
    return requests.post(url + path, data=form, headers=headers, timeout=10, **kwargs)


def counts(portal):
    with portal.sessions() as db:
        return (db.scalar(select(func.count()).select_from(InboundSms)),
                db.scalar(select(func.count()).select_from(TranscriptMessage)))


def test_a_signed_sms_is_logged_with_its_redacted_transcript_and_acked(portal_url):
    url, portal = portal_url
    form = form_for(f"logg inn {KARI}")
    answer = post(url, form)
    assert answer.status_code == 200 and answer.text.endswith("<Response/>")
    assert answer.headers["Content-Type"].startswith("text/xml")
    with portal.sessions() as db:
        row = db.execute(select(InboundSms)).scalar_one()
        conv = db.get(Conversation, row.conversation_id)
        message = db.get(TranscriptMessage, row.transcript_message_id)
        assert row.status == "received" and row.body == f"logg inn {KARI}"  # for the turn
        assert conv.sender_key == row.sender_key and conv.sender_key.startswith("sms-")
        assert MOBILE not in conv.sender_key
        assert (message.direction, message.author, message.external_id) == (
            "in", "citizen", form["MessageSid"])
        assert message.text == "logg inn [fødselsnummer]"


def test_a_nul_character_in_an_sms_is_dropped_and_the_rest_logged(portal_url):
    url, portal = portal_url
    answer = post(url, form_for("br\x00ev\x00"))
    assert answer.status_code == 200
    with portal.sessions() as db:
        row = db.execute(select(InboundSms)).scalar_one()
        assert row.body == "brev"
        assert db.get(TranscriptMessage, row.transcript_message_id).text == "brev"


def test_a_replayed_webhook_is_refused_and_changes_nothing(portal_url):
    url, portal = portal_url
    form = form_for()
    assert post(url, form).status_code == 200
    again = post(url, form)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_received"
    assert counts(portal) == (1, 1)


@pytest.mark.parametrize("change", ["unsigned", "tampered", "wrong_url", "wrong_token"])
def test_unsigned_or_forged_webhooks_get_403(portal_url, change):
    url, portal = portal_url
    form = form_for()
    sig = {"unsigned": "", "tampered": signature(form),
           "wrong_url": signature(form, base="https://evil.example"),
           "wrong_token": signature(form, token="not-the-token")}[change]
    sent = {**form, "Body": "logg ut"} if change == "tampered" else form
    answer = post(url, sent, sig=sig)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] in ("invalid_signature", "forbidden")
    assert counts(portal) == (0, 0)


@pytest.mark.parametrize("field,value,code", [
    ("NumMedia", "abc", "invalid_num_media"),
    ("MessageSid", "", "missing_message_sid"),
    ("From", "not a number", "invalid_from"),
])
def test_malformed_signed_webhooks_get_400(portal_url, field, value, code):
    url, portal = portal_url
    form = form_for(**{field: value})
    if field == "MessageSid":
        form.pop("MessageSid")
    answer = post(url, form)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code
    assert counts(portal) == (0, 0)


def test_an_oversized_body_is_refused_before_it_is_parsed(portal_url):
    url, portal = portal_url
    form = form_for("x" * 20000)
    answer = post(url, form)
    assert answer.status_code == 413
    assert counts(portal) == (0, 0)


def test_without_an_auth_token_every_webhook_is_refused(hook_settings, clock):
    app, server = running(dataclasses.replace(hook_settings, twilio_auth_token=None), clock)
    with server as url:
        assert post(url, form_for()).status_code == 403
        assert post(url, {"MessageSid": sid(), "MessageStatus": "delivered"},
                    path="/webhooks/twilio/status").status_code == 403
    app.extensions["portal"].engine.dispose()


def test_with_redis_down_the_database_decides_once(hook_settings, clock):
    down = dataclasses.replace(hook_settings, redis_url="redis://127.0.0.1:1/0")
    app, server = running(down, clock)
    portal = app.extensions["portal"]
    form = form_for()
    with server as url:
        assert post(url, form).status_code == 200
        assert post(url, form).status_code == 409
    assert counts(portal) == (1, 1)
    portal.engine.dispose()


def test_status_callbacks_move_outbox_and_transcript_forward_only(portal_url):
    from portal.conversations import service

    url, portal = portal_url
    assert post(url, form_for("hjelp")).status_code == 200
    with portal.sessions() as db:
        conv = db.execute(select(Conversation)).scalar_one()
        row = outbox.enqueue(db, to=MOBILE, body="Svar", purpose="reply", now=conv.started_at,
                             sender_key=conv.sender_key)
        row.provider_sid, row.status = "SM" + "1" * 32, "queued"
        [reply] = service.record_bot_replies(db, conv, None, [{"text": "Svar"}],
                                             conv.started_at)
        service.attach_outbound(reply, row)
        db.commit()
        reply_id = reply.id
    for status in ("sent", "delivered", "sent"):
        form = {"MessageSid": "SM" + "1" * 32, "MessageStatus": status}
        assert post(url, form, path="/webhooks/twilio/status").status_code == 200
    forged = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "failed"}
    assert post(url, forged, sig="Zm9yZ2Vk", path="/webhooks/twilio/status").status_code == 403
    bad = {"MessageSid": "SM" + "1" * 32}
    assert post(url, bad, path="/webhooks/twilio/status").status_code == 400
    with portal.sessions() as db:
        assert db.execute(select(OutboundSms.status)).scalar_one() == "delivered"
        assert db.get(TranscriptMessage, reply_id).status == "delivered"
