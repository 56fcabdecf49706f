"""The outbox keeps one-time codes sealed, never sends them late, and asks Twilio before it
sends again after an attempt that may have gone out (the real client, the stand-in)."""
from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import text

from portal.sms.sender import MASKED_BODY, SendPolicy, claim_due, drain
from portal.sms.outbox import open_body
from portal.sms.twilio_client import TwilioSender
from tests.conftest import KARI, KARI_MOBILE
from tests.login_helpers import request_code
from tests.sms_fixtures import (MOBILE, add_sms, load_sms, sms_portal, sms_settings,  # noqa: F401
                                status_receiver, twilio)

POLICY = SendPolicy(base_delay=2.0, max_delay=300.0, lease_seconds=60.0, request_timeout=5.0)
CODE_SMS = "Engangskoden din er 482913. Den gjelder i 10 minutter."


def _drain(portal):
    return drain(portal, portal.clock.now(), policy=POLICY, rng=random.Random(7))


def _stored_body(portal, row_id) -> str:
    with portal.engine.connect() as conn:  # the column as it is on disk, past the ORM
        return conn.execute(text("SELECT body FROM outbound_sms WHERE id = :id"),
                            {"id": row_id}).scalar_one()


def test_a_code_is_sealed_at_rest_and_sent_in_clear(sms_portal, twilio):
    row_id = add_sms(sms_portal, body=CODE_SMS, sensitive=True)
    stored = _stored_body(sms_portal, row_id)
    assert "482913" not in stored and stored.startswith("fernet:")
    assert open_body(sms_portal.settings.outbox_key, stored) == CODE_SMS

    assert _drain(sms_portal).sent == 1
    assert [m["body"] for m in twilio.messages] == [CODE_SMS]
    assert _stored_body(sms_portal, row_id) == MASKED_BODY


def test_the_demo_outbox_shows_sealed_codes(client, app, demo, service_headers):
    """Without Twilio the code waits in the dev outbox: sealed on disk, shown on the page."""
    answer = request_code(client, service_headers, KARI, "rest-dev-outbox")
    assert answer.status_code == 202
    portal = app.extensions["portal"]
    with portal.engine.connect() as conn:
        stored = conn.execute(text("SELECT body FROM outbound_sms")).scalar_one()
    assert stored.startswith("fernet:") and "Engangskoden" not in stored
    listed = client.get("/dev/sms", query_string={"to": KARI_MOBILE}).json["messages"]
    assert listed[0]["body"].startswith("Engangskoden din er ")
    page = client.get("/dev/outbox").get_data(as_text=True)
    assert listed[0]["body"] in page


def test_a_code_past_its_expiry_is_never_sent(sms_portal, twilio):
    now = sms_portal.clock.now()
    row_id = add_sms(sms_portal, body=CODE_SMS, sensitive=True,
                     expires_at=now + timedelta(minutes=10))
    twilio.fail_next(503, times=1)
    assert _drain(sms_portal).retrying == 1

    sms_portal.clock.advance(minutes=10)
    assert _drain(sms_portal).claimed == 0
    row = load_sms(sms_portal, row_id)
    assert (row.status, row.body) == ("expired", MASKED_BODY)
    sms_portal.clock.advance(days=1)
    assert _drain(sms_portal).claimed == 0
    assert [r.method for r in twilio.requests] == ["POST"] and twilio.messages == []


def test_a_code_claimed_but_expired_meanwhile_is_not_sent(sms_portal, twilio):
    now = sms_portal.clock.now()
    row_id = add_sms(sms_portal, body=CODE_SMS, sensitive=True,
                     expires_at=now + timedelta(seconds=30))
    with sms_portal.sessions() as db:
        assert len(claim_due(db, now, 10, policy=POLICY)) == 1  # then the sender dies
    sms_portal.clock.advance(seconds=POLICY.lease_seconds + 1)
    assert _drain(sms_portal).claimed == 0
    assert load_sms(sms_portal, row_id).status == "expired" and twilio.requests == []


def test_an_sms_twilio_took_before_the_connection_broke_is_not_sent_again(sms_portal, twilio):
    row_id = add_sms(sms_portal, body=CODE_SMS, sensitive=True)
    twilio.accept_then_drop_next()
    assert _drain(sms_portal).retrying == 1  # we cannot know it went out
    row = load_sms(sms_portal, row_id)
    assert (row.status, row.error_code) == ("pending", "network")

    sms_portal.clock.at = row.next_attempt_at
    assert _drain(sms_portal).sent == 1
    [message] = twilio.messages
    row = load_sms(sms_portal, row_id)
    assert (row.provider_sid, row.status, row.body) == (message["sid"], "queued", MASKED_BODY)
    assert twilio.outcomes() == ["accepted_unanswered", "listed"]
    assert twilio.violations == []


def test_a_sender_that_died_after_twilio_took_the_sms_is_not_repeated(sms_portal, twilio):
    row_id = add_sms(sms_portal, body="Du har fått brev fra kommunen.")
    with sms_portal.sessions() as db:
        [row] = claim_due(db, sms_portal.clock.now(), 10, policy=POLICY)
        TwilioSender(sms_portal.settings).send(row)  # accepted; the worker dies before commit
    sms_portal.clock.advance(seconds=POLICY.lease_seconds + 1)

    assert _drain(sms_portal).sent == 1
    [message] = twilio.messages
    assert load_sms(sms_portal, row_id).provider_sid == message["sid"]
    assert [r.method for r in twilio.requests] == ["POST", "GET"]


def test_the_same_text_sent_earlier_to_the_number_is_not_taken_for_this_one(sms_portal, twilio):
    first = add_sms(sms_portal, body="Hei fra kommunen")
    assert _drain(sms_portal).sent == 1
    second = add_sms(sms_portal, body="Hei fra kommunen")
    twilio.drop_next()  # this one never reached Twilio
    assert _drain(sms_portal).retrying == 1
    sms_portal.clock.at = load_sms(sms_portal, second).next_attempt_at
    assert _drain(sms_portal).sent == 1

    assert len(twilio.messages) == 2
    assert load_sms(sms_portal, first).provider_sid != load_sms(sms_portal, second).provider_sid
