"""Draining the SMS outbox through the real Twilio client to the stand-in, on both databases."""
from __future__ import annotations

import random
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal.models import OutboundSms
from portal.sms.sender import (MASKED_BODY, CallbackResult, SendPolicy, apply_status_callback,
                                   claim_due, drain, send_claimed)
from portal.sms.outbox import open_body
from portal.sms.twilio_client import TwilioSender
from tests.sms_fixtures import (MOBILE, add_sms, load_sms, sms_portal, sms_settings,  # noqa: F401
                                status_receiver, twilio)

POLICY = SendPolicy(base_delay=2.0, max_delay=300.0, lease_seconds=60.0, request_timeout=5.0)


def _drain(portal, policy: SendPolicy = POLICY, **kwargs):
    return drain(portal, portal.clock.now(), policy=policy, rng=random.Random(7), **kwargs)


def _wait_out_backoff(portal, row_id: int) -> None:
    portal.clock.at = load_sms(portal, row_id).next_attempt_at


def test_sends_through_twilio_and_records_the_sid(sms_portal, twilio):
    row_id = add_sms(sms_portal, body="Svar fra kommunen")

    result = _drain(sms_portal)

    assert (result.claimed, result.sent) == (1, 1)
    [message] = twilio.messages
    row = load_sms(sms_portal, row_id)
    assert (row.status, row.provider_sid, row.attempts) == ("queued", message["sid"], 1)
    assert row.lease_until is None and row.body == "Svar fra kommunen"
    assert message["to"] == MOBILE and message["body"] == "Svar fra kommunen"
    assert message["status_callback"] == \
        sms_portal.settings.public_base_url + "/webhooks/twilio/status"
    assert twilio.violations == []
    assert _drain(sms_portal).claimed == 0 and len(twilio.requests) == 1


def test_dev_outbox_sms_are_never_sent(sms_portal, twilio):
    row_id = add_sms(sms_portal, deliver=False)

    assert _drain(sms_portal).claimed == 0
    assert twilio.requests == [] and load_sms(sms_portal, row_id).status == "dev_outbox"


def test_retries_429_500_and_a_dropped_connection_then_sends_once(sms_portal, twilio):
    row_id = add_sms(sms_portal)
    twilio.fail_next(429)
    twilio.fail_next(500)
    twilio.drop_next()

    for attempt, code in enumerate(["20429", "20500", "network"], start=1):
        assert _drain(sms_portal).retrying == 1
        row = load_sms(sms_portal, row_id)
        assert (row.status, row.attempts, row.error_code) == ("pending", attempt, code)
        ceiling = POLICY.base_delay * 2 ** (attempt - 1)  # 2, 4, 8 s with equal jitter
        wait = (row.next_attempt_at - sms_portal.clock.now()).total_seconds()
        assert ceiling / 2 <= wait <= ceiling
        assert _drain(sms_portal).claimed == 0  # not due yet
        _wait_out_backoff(sms_portal, row_id)

    assert _drain(sms_portal).sent == 1
    row = load_sms(sms_portal, row_id)
    assert (row.status, row.attempts, row.error_code) == ("queued", 4, None)
    # After the 500 and the dropped connection Twilio may hold the SMS: it is asked first.
    assert twilio.outcomes() == ["failed", "failed", "listed", "dropped", "listed", "accepted"]
    assert len(twilio.messages) == 1 and row.provider_sid == twilio.messages[0]["sid"]
    assert twilio.violations == []


def test_permanent_errors_reject_without_retrying(sms_portal, twilio):
    codes = (21610, 21211, 21614)  # opted out, not a valid number, not a mobile
    ids = [add_sms(sms_portal, body=f"Til {code}") for code in codes]
    for code in codes:
        twilio.reject_next(code)

    assert _drain(sms_portal).rejected == 3
    sms_portal.clock.advance(days=1)
    assert _drain(sms_portal).claimed == 0

    rows = [load_sms(sms_portal, i) for i in ids]
    assert [(r.status, r.error_code, r.attempts) for r in rows] == \
        [("rejected", str(code), 1) for code in codes]
    assert len(twilio.requests) == 3 and twilio.messages == []


def test_gives_up_after_the_last_attempt(sms_portal, twilio):
    policy = SendPolicy(max_attempts=3, lease_seconds=60.0, request_timeout=5.0)
    row_id = add_sms(sms_portal)
    twilio.fail_next(503, times=3)

    outcomes = []
    for _ in range(3):
        result = _drain(sms_portal, policy)
        outcomes.append((result.retrying, result.failed))
        sms_portal.clock.advance(seconds=policy.max_delay)

    assert outcomes == [(1, 0), (1, 0), (0, 1)]
    row = load_sms(sms_portal, row_id)
    assert (row.status, row.error_code, row.attempts) == ("failed", "20500", 3)
    assert _drain(sms_portal, policy).claimed == 0
    assert [r.method for r in twilio.requests] == ["POST", "GET", "POST", "GET", "POST"]


def test_a_one_time_code_is_kept_for_retries_and_masked_once_accepted(sms_portal, twilio):
    code_sms = "Engangskoden din er 482913. Den gjelder i 10 minutter."
    otp_id = add_sms(sms_portal, body=code_sms, sensitive=True)
    reply_id = add_sms(sms_portal, body="Vanlig svar")
    twilio.fail_next(500)

    _drain(sms_portal)  # the code SMS fails, the reply goes out
    stored = load_sms(sms_portal, otp_id).body
    assert "482913" not in stored  # sealed at rest, opened only to send it
    assert open_body(sms_portal.settings.outbox_key, stored) == code_sms
    _wait_out_backoff(sms_portal, otp_id)
    assert _drain(sms_portal).sent == 1

    posted = [r.form["Body"] for r in twilio.requests if r.method == "POST"]
    assert posted == [code_sms, "Vanlig svar", code_sms]
    assert load_sms(sms_portal, otp_id).body == MASKED_BODY
    assert load_sms(sms_portal, reply_id).body == "Vanlig svar"


def test_a_rejected_one_time_code_is_masked_too(sms_portal, twilio):
    otp_id = add_sms(sms_portal, body="Engangskoden din er 482913.", sensitive=True)
    twilio.reject_next(21610)

    _drain(sms_portal)

    row = load_sms(sms_portal, otp_id)
    assert (row.status, row.body) == ("rejected", MASKED_BODY)


def test_a_row_with_a_provider_sid_is_never_sent_again(sms_portal, twilio):
    row_id = add_sms(sms_portal)
    with sms_portal.sessions() as db:  # however it got there: pending, or a lapsed lease
        db.execute(update(OutboundSms).values(provider_sid="SM" + "1" * 32))
        db.commit()
        assert claim_due(db, sms_portal.clock.now(), 10) == []
        db.execute(update(OutboundSms).values(
            status="sending", lease_until=sms_portal.clock.now() - timedelta(hours=1)))
        db.commit()
        assert claim_due(db, sms_portal.clock.now(), 10) == []
        row = db.get(OutboundSms, row_id)
        send = TwilioSender(sms_portal.settings)
        result = send_claimed(db, [row], send, clock=sms_portal.clock)  # even when handed one

    assert result.skipped == 1 and twilio.requests == []


def test_a_lapsed_lease_is_claimed_again_a_live_one_is_not(sms_portal, twilio):
    row_id = add_sms(sms_portal)
    start = sms_portal.clock.now()
    with sms_portal.sessions() as db:
        [claimed] = claim_due(db, start, 10, policy=POLICY)  # then this sender dies
        assert claimed.lease_until == start + POLICY.lease
        assert claim_due(db, start + POLICY.lease - timedelta(seconds=1), 10, policy=POLICY) == []

    sms_portal.clock.at = start + POLICY.lease + timedelta(seconds=1)
    result = _drain(sms_portal)

    assert (result.claimed, result.sent) == (1, 1)
    row = load_sms(sms_portal, row_id)
    assert (row.status, row.attempts) == ("queued", 2)
    assert len(twilio.messages) == 1


def test_a_sender_that_keeps_dying_exhausts_the_attempts(sms_portal, twilio):
    policy = SendPolicy(max_attempts=2, lease_seconds=60.0, request_timeout=5.0)
    row_id = add_sms(sms_portal, body="Engangskoden din er 482913.", sensitive=True)
    with sms_portal.sessions() as db:
        for _ in range(2):
            assert len(claim_due(db, sms_portal.clock.now(), 10, policy=policy)) == 1
            sms_portal.clock.advance(seconds=61)
        assert claim_due(db, sms_portal.clock.now(), 10, policy=policy) == []

    row = load_sms(sms_portal, row_id)
    assert (row.status, row.error_code, row.body) == ("failed", "lease_expired", MASKED_BODY)
    assert twilio.requests == []


def test_two_workers_never_send_the_same_sms(sms_portal, twilio):
    ids = [add_sms(sms_portal, body=f"Melding {n}") for n in range(8)]
    results, errors = [], []

    def work() -> None:
        send = TwilioSender(sms_portal.settings)
        try:
            while (result := drain(sms_portal, send=send, policy=POLICY, limit=2)).claimed:
                results.append(result)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)

    assert errors == []
    assert sorted(m["body"] for m in twilio.messages) == sorted(f"Melding {n}" for n in range(8))
    assert sum(r.sent for r in results) == 8
    with sms_portal.sessions() as db:
        rows = db.execute(select(OutboundSms).where(OutboundSms.id.in_(ids))).scalars().all()
        assert {(r.status, r.attempts) for r in rows} == {("queued", 1)}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # row locks
def test_claims_skip_rows_another_worker_has_locked(sms_portal, twilio):
    first, second = add_sms(sms_portal), add_sms(sms_portal)
    now = sms_portal.clock.now()
    with sms_portal.sessions() as holder, sms_portal.sessions() as db:
        holder.execute(select(OutboundSms).where(OutboundSms.id == first).with_for_update())
        assert [r.id for r in claim_due(db, now, 10)] == [second]
        holder.rollback()
        assert [r.id for r in claim_due(db, now, 10)] == [first]


def _sent(portal, twilio, body: str = "Hei") -> tuple:
    row_id = add_sms(portal, body=body)
    _drain(portal)
    return row_id, load_sms(portal, row_id).provider_sid


def test_status_callbacks_move_forward_only(sms_portal, twilio, status_receiver):
    row_id, sid = _sent(sms_portal, twilio)

    for status in ("sent", "delivered", "sent", "queued", "undelivered"):
        assert twilio.send_status(sid, status).status_code == 200

    assert status_receiver.results == ["applied", "applied", "stale", "stale", "stale"]
    assert load_sms(sms_portal, row_id).status == "delivered"


def test_out_of_order_callbacks_keep_the_final_status(sms_portal, twilio, status_receiver):
    delivered_id, delivered_sid = _sent(sms_portal, twilio)
    lost_id, lost_sid = _sent(sms_portal, twilio)

    twilio.send_status(delivered_sid, "delivered")
    twilio.send_status(delivered_sid, "sent")
    twilio.send_status(lost_sid, "undelivered", 30003)
    twilio.send_status(lost_sid, "sending")

    assert status_receiver.results == ["applied", "stale", "applied", "stale"]
    assert load_sms(sms_portal, delivered_id).status == "delivered"
    lost = load_sms(sms_portal, lost_id)
    assert (lost.status, lost.error_code) == ("undelivered", "30003")


def test_unknown_callbacks_are_ignored_and_reported(sms_portal, twilio):
    row_id, sid = _sent(sms_portal, twilio)
    with sms_portal.sessions() as db:
        assert apply_status_callback(db, "SM" + "0" * 32, "delivered") == \
            CallbackResult.UNKNOWN_SID
        assert apply_status_callback(db, sid, "teleported") == CallbackResult.UNKNOWN_STATUS
        assert apply_status_callback(db, sid, "SENT") == CallbackResult.APPLIED
    assert load_sms(sms_portal, row_id).status == "sent"
