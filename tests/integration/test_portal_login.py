"""Login by one-time code: limits on code requests (frozen clock), answers and audit rows
alike for known and unknown numbers, and a back-off and lock that concurrent guesses cannot
slip past (real Redis and the in-process store)."""
import dataclasses
import re
import threading
import uuid

import pytest
import redis
from sqlalchemy import func, select

from portal.app import create_app
from portal.models import AuditEvent, Channel, OutboundSms
from portal.services import login
from portal.sms.outbox import open_body
from tests.conftest import AISHA, KARI, KARI_MOBILE, NINA, OLA, PER, PERSONAL_CODES
from tests.conftest import REDIS_URL, UNKNOWN
from tests.login_helpers import request_code
from tests.workspace_helpers import GATEWAY, GATEWAY_TOKEN, SERVICE


@pytest.fixture
def make_app(settings, clock, demo):
    """The portal with some settings changed; the demo data is already in its database."""
    built = []

    def _make(**changes):
        app = create_app(dataclasses.replace(settings, **changes), clock)
        built.append(app)
        return app.test_client()

    yield _make
    for app in built:
        app.extensions["portal"].engine.dispose()


def rest_id(conversation):
    """A REST conversation id carries its channel's prefix (portal/conversation_ids.py)."""
    return conversation if conversation.startswith("rest-") else f"rest-{conversation}"


def ask(client, headers, fnr, conversation=None, **extra):
    return request_code(client, headers, fnr,
                        rest_id(conversation or f"c-{uuid.uuid4().hex[:8]}"), **extra)


def verify(client, headers, code, conversation):
    return client.post("/api/v1/login/verify", headers=headers, json={
        "code": code, "channel": "rest", "conversation_id": rest_id(conversation)})


def codes_sent(db, to):
    count = db.execute(select(func.count()).select_from(OutboundSms).where(
        OutboundSms.to_number == to, OutboundSms.purpose == "otp")).scalar_one()
    db.rollback()  # SQLite: let go of the write lock the portal needs
    return count


def test_ten_codes_a_day_per_number(client, db, demo, clock, service_headers):
    statuses = []
    for _ in range(3):  # three 10-minute windows of five: only ten get through in the day
        statuses += [ask(client, service_headers, KARI).status_code for _ in range(5)]
        clock.advance(minutes=10)
    assert statuses == [202] * 10 + [429] * 5
    assert codes_sent(db, KARI_MOBILE) == 10
    refused = ask(client, service_headers, KARI)
    assert refused.json["error"]["code"] == "too_many_codes"
    assert 0 < refused.json["error"]["details"]["retry_after_seconds"] <= 24 * 3600
    clock.advance(days=1)
    assert ask(client, service_headers, KARI).status_code == 202
    assert codes_sent(db, KARI_MOBILE) == 11


def test_the_day_limit_applies_to_unknown_numbers_alike(client, clock, service_headers):
    statuses = []
    for _ in range(3):
        statuses += [ask(client, service_headers, UNKNOWN).status_code for _ in range(5)]
        clock.advance(minutes=10)
    assert statuses == [202] * 10 + [429] * 5


def test_one_conversation_cannot_ask_for_many_numbers(client, clock, service_headers):
    numbers = [KARI, OLA, AISHA, PER, NINA, UNKNOWN]
    answers = [ask(client, service_headers, fnr, "bomber") for fnr in numbers]
    assert [a.status_code for a in answers] == [202] * 5 + [429]
    assert answers[-1].json["error"]["code"] == "too_many_codes"
    assert ask(client, service_headers, UNKNOWN, "other").status_code == 202
    clock.advance(hours=1)
    assert ask(client, service_headers, UNKNOWN, "bomber").status_code == 202


def test_one_source_cannot_open_many_conversations(make_app, clock, service_headers):
    client = make_app(otp_codes_per_source_per_hour=3)
    numbers = [KARI, OLA, AISHA, PER]
    answers = [ask(client, service_headers, fnr, source="+4690000001") for fnr in numbers]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert ask(client, service_headers, PER, source="+4690000002").status_code == 202
    clock.advance(hours=1)
    assert ask(client, service_headers, NINA, source="+4690000001").status_code == 202


def test_global_limits_per_minute_and_hour(make_app, clock, service_headers):
    client = make_app(otp_codes_global_per_minute=3, otp_codes_global_per_hour=4)
    assert [ask(client, service_headers, fnr).status_code
            for fnr in (KARI, OLA, AISHA, PER)] == [202, 202, 202, 429]
    clock.advance(minutes=1)
    assert ask(client, service_headers, PER).status_code == 202  # fourth of the hour
    assert ask(client, service_headers, NINA).status_code == 429
    clock.advance(hours=1)
    assert ask(client, service_headers, NINA).status_code == 202


def test_limits_come_from_the_environment(tmp_path):
    from portal.config import Settings

    settings = Settings.from_env({"OTP_CODES_PER_NUMBER_PER_DAY": "4",
                                  "OTP_CODES_PER_CONVERSATION_PER_HOUR": "2",
                                  "OTP_CODES_PER_SOURCE_PER_HOUR": "7",
                                  "OTP_CODES_GLOBAL_PER_MINUTE": "9",
                                  "OTP_CODES_GLOBAL_PER_HOUR": "99",
                                  "ASSISTANT_ENV": "test", "ASSISTANT_VAR_DIR": str(tmp_path)})
    assert (settings.otp_codes_per_number_per_day, settings.otp_codes_per_conversation_per_hour,
            settings.otp_codes_per_source_per_hour, settings.otp_codes_global_per_minute,
            settings.otp_codes_global_per_hour) == (4, 2, 7, 9, 99)


def audit_rows(db):
    rows = db.execute(select(AuditEvent.action, AuditEvent.actor_type, AuditEvent.actor_id)
                      .order_by(AuditEvent.id)).all()
    db.rollback()
    return rows


def test_known_and_unknown_numbers_answer_and_log_alike(client, db, demo, service_headers):
    trails = {}
    for fnr in (KARI, UNKNOWN):
        before = len(audit_rows(db))
        conversation = f"enum-{fnr}"
        requested = ask(client, service_headers, fnr, conversation)
        wrong = verify(client, service_headers, "000000", conversation)
        trails[fnr] = (requested.status_code, requested.json, wrong.status_code, wrong.json,
                       audit_rows(db)[before:])
    assert trails[KARI] == trails[UNKNOWN]
    assert [row.action for row in trails[KARI][4]] == ["login.code_requested", "login.failed"]


def test_a_right_code_still_logs_in(client, app, db, demo, service_headers):
    ask(client, service_headers, KARI, "right")
    stored = db.execute(select(OutboundSms.body).where(
        OutboundSms.to_number == KARI_MOBILE)).scalar_one()
    key = app.extensions["portal"].settings.outbox_key
    code = re.search(r"\d{6}", open_body(key, stored)).group(0)
    db.rollback()
    for _ in range(3):
        assert verify(client, service_headers, "000000", "right").status_code == 401
    answer = verify(client, service_headers, code, "right")
    assert answer.status_code == 200 and answer.json["first_name"] == "Kari"


@pytest.fixture(params=["memory", "redis"])
def store_settings(request, settings):
    if request.param == "redis":
        redis.Redis.from_url(REDIS_URL).flushdb()
        return dataclasses.replace(settings, redis_url=REDIS_URL)
    return settings


def test_concurrent_guesses_meet_the_back_off(store_settings, clock, demo):
    """After three free failures, eight guesses at once: one is counted, seven wait."""
    app = create_app(store_settings, clock)
    portal = app.extensions["portal"]
    try:
        def guess(code, conversation):
            with portal.sessions() as db:
                try:
                    login.verify_code(db, portal.store, portal.settings, code,
                                      channel=Channel.REST, conversation_id=conversation,
                                      now=clock.now())
                except Exception as exc:  # noqa: BLE001 - the outcome is the error code
                    return exc.code
                return "logged_in"

        def new_code(conversation):
            with portal.sessions() as db:
                login.start(db, portal.store, portal.settings, OLA, channel=Channel.REST,
                            conversation_id=conversation, now=clock.now())
                login.request_code(db, portal.store, portal.settings, PERSONAL_CODES[OLA],
                                   channel=Channel.REST, conversation_id=conversation,
                                   now=clock.now())

        new_code("race-1")
        assert [guess("000000", "race-1") for _ in range(3)] == ["wrong_code"] * 3
        new_code("race-2")  # fresh tries for the code; the account's failures stay
        barrier, outcomes = threading.Barrier(8), []

        def racer():
            barrier.wait()
            outcomes.append(guess("000000", "race-2"))

        threads = [threading.Thread(target=racer) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(outcomes) == ["login_backoff"] * 7 + ["wrong_code"]
    finally:
        portal.engine.dispose()


def test_the_lock_is_taken_once_however_many_guess_at_once(store_settings, clock, demo):
    """At 19 failures, guesses from ten conversations at once: exactly one is counted."""
    app = create_app(store_settings, clock)
    portal = app.extensions["portal"]
    try:
        account = login._digest(portal.settings, "fnr", OLA)
        conversations = [f"lock-{n}" for n in range(10)]
        for conversation in conversations:  # ten challenges for one account
            with portal.sessions() as db:
                login.start(db, portal.store, portal.settings, OLA, channel=Channel.REST,
                            conversation_id=conversation, now=clock.now())
                login.request_code(db, portal.store, portal.settings, PERSONAL_CODES[OLA],
                                   channel=Channel.REST, conversation_id=conversation,
                                   now=clock.now())
            clock.advance(minutes=3)
        portal.store.set(f"otp:failures:{account}", "19", 3600)
        barrier, outcomes = threading.Barrier(10), []

        def racer(conversation):
            barrier.wait()
            with portal.sessions() as db:
                try:
                    login.verify_code(db, portal.store, portal.settings, "000000",
                                      channel=Channel.REST, conversation_id=conversation,
                                      now=clock.now())
                except Exception as exc:  # noqa: BLE001
                    outcomes.append(exc.code)

        threads = [threading.Thread(target=racer, args=(c,)) for c in conversations]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(outcomes) == ["login_locked"] * 9 + ["wrong_code"]
        assert portal.store.get(f"otp:failures:{account}") == "20"
    finally:
        portal.engine.dispose()


def test_one_web_client_opening_many_chats_shares_one_source_limit(settings, clock, demo):
    """The web chat notes each conversation's client address with the gateway; the code
    requests of every chat that address opens count together, with no source in the call."""
    app = create_app(dataclasses.replace(settings, gateway_token=GATEWAY_TOKEN,
                                         otp_codes_per_source_per_hour=3), clock)
    client = app.test_client()

    def ask_in_new_chat(fnr, address):
        chat = f"web-{uuid.uuid4().hex}"
        noted = client.post("/api/v1/gateway/webchat/messages", headers=GATEWAY, json={
            "sender": chat, "text": "logg inn", "message_id": uuid.uuid4().hex,
            "source": address})
        assert noted.status_code == 201, noted.get_json()
        started = client.post("/api/v1/login/start", headers=SERVICE, json={
            "fnr": fnr, "channel": "webchat", "conversation_id": chat})
        assert started.status_code == 202
        return client.post("/api/v1/login/code", headers=SERVICE, json={
            "personal_code": PERSONAL_CODES.get(fnr), "channel": "webchat",
            "conversation_id": chat}).status_code

    try:
        assert [ask_in_new_chat(fnr, "198.51.100.7") for fnr in (KARI, OLA, AISHA, PER)] \
            == [202, 202, 202, 429]
        assert ask_in_new_chat(PER, "203.0.113.9") == 202  # another client is not held up
        oversized = client.post("/api/v1/gateway/webchat/messages", headers=GATEWAY, json={
            "sender": f"web-{uuid.uuid4().hex}", "text": "hei",
            "message_id": uuid.uuid4().hex, "source": "x" * 101})
        assert oversized.status_code == 422
        clock.advance(hours=1)
        assert ask_in_new_chat(NINA, "198.51.100.7") == 202
    finally:
        app.extensions["portal"].engine.dispose()
