"""The personal code (the SMS-code login's second factor): its rules, the same answer whatever
was wrong, no SMS unless both were right, the limits it counts into (frozen clock), choosing,
changing and resetting it (the waiting period and its cancellation)."""
import dataclasses
import re
import uuid

import pytest
import redis
from sqlalchemy import select

from portal.app import create_app
from portal.errors import InvalidInput
from portal.kv import MemoryStore
from portal.models import AuditEvent, OutboundSms, PersonalCode
from portal.services import login, personal_code_rules
from portal.sms.outbox import open_body
from portal.sms.sender_keys import ensure_identity
from tests.conftest import AISHA, KARI, KARI_MOBILE, PER, PERSONAL_CODES, REDIS_URL, UNKNOWN
from tests.login_helpers import OWN, request_code

PER_MOBILE = "+4741234000"


def conversation() -> str:
    return f"rest-pc-{uuid.uuid4().hex[:8]}"


def sms_to(db, mobile, purpose="otp"):
    """The stored bodies of the SMS to a number (sealed for codes)."""
    bodies = db.execute(select(OutboundSms.body).where(OutboundSms.to_number == mobile,
                                                       OutboundSms.purpose == purpose)
                        .order_by(OutboundSms.id)).scalars().all()
    db.rollback()  # SQLite: let go of the write lock the portal needs
    return bodies


def last_code(app, db, mobile) -> str:
    key = app.extensions["portal"].settings.outbox_key
    return re.search(r"\d{6}", open_body(key, sms_to(db, mobile)[-1])).group(0)


def verify(client, headers, code, conversation_id):
    return client.post("/api/v1/login/verify", headers=headers, json={
        "code": code, "channel": "rest", "conversation_id": conversation_id})


def log_in(app, client, db, headers, fnr, mobile, personal_code=OWN):
    """A whole SMS-code login; returns the verify answer and the session's headers."""
    conv = conversation()
    assert request_code(client, headers, fnr, conv, personal_code).status_code == 202
    answer = verify(client, headers, last_code(app, db, mobile), conv)
    assert answer.status_code == 200, answer.json
    return answer.json, {**headers, "X-Channel": "rest", "X-Conversation-Id": conv}


def frozen_store(app, clock):
    """The in-process store on the portal's frozen clock, so back-off and lock can be waited."""
    store = MemoryStore(now=lambda: clock.now().timestamp())
    app.extensions["portal"].store = store
    return store


# --- the rules --------------------------------------------------------------------------


@pytest.mark.parametrize("code, rule", [
    ("123", "personal_code_format"), ("123456789", "personal_code_format"),
    ("12a4", "personal_code_format"), ("", "personal_code_format"),
    ("１２３４", "personal_code_format"),  # full-width digits are not ASCII digits
    ("1111", "personal_code_repeated"), ("00000000", "personal_code_repeated"),
    ("1234", "personal_code_run"), ("9876", "personal_code_run"),
    ("45678", "personal_code_run"), ("87654321", "personal_code_run"),
    ("1403", "personal_code_birth_date"), ("140385", "personal_code_birth_date"),
    ("14031985", "personal_code_birth_date"),
])
def test_codes_that_break_a_rule_are_refused(code, rule):
    with pytest.raises(InvalidInput) as refused:
        personal_code_rules.check(code, KARI)  # Kari was born 14 March 1985
    assert refused.value.code == rule


@pytest.mark.parametrize("code", ["2580", "1357", "1243", "90210", "4711", "31415926"])
def test_codes_within_the_rules_are_taken(code):
    assert personal_code_rules.check(code, KARI) == code


def test_the_birth_date_comes_from_the_fodselsnummer():
    assert personal_code_rules.birth_date_forms(PER) == {"0709", "070962", "07091962"}


# --- the same answer whatever was wrong; no SMS unless both were right --------------------


def test_the_answer_is_the_same_whether_the_number_the_code_or_both_were_wrong(
        client, db, demo, service_headers):
    answers = {}
    for case, fnr, code in [("right", KARI, "2580"), ("wrong code", KARI, "9999"),
                            ("no code", KARI, None), ("unknown number", UNKNOWN, "2580"),
                            ("both wrong", UNKNOWN, "9999")]:
        conv = conversation()
        started = client.post("/api/v1/login/start", headers=service_headers, json={
            "fnr": fnr, "channel": "rest", "conversation_id": conv})
        asked = client.post("/api/v1/login/code", headers=service_headers, json={
            "personal_code": code, "channel": "rest", "conversation_id": conv})
        answers[case] = (started.status_code, started.json, asked.status_code, asked.json)
    assert len(set(map(repr, answers.values()))) == 1
    assert answers["right"] == (202, {"status": "personal_code_required"},
                                202, {"status": "code_sent_if_registered"})
    assert len(sms_to(db, KARI_MOBILE)) == 1  # only the right pair sent a code


def test_a_wrong_personal_code_sends_nothing_and_no_sms_code_opens_the_login(
        client, db, demo, service_headers):
    conv = conversation()
    assert request_code(client, service_headers, KARI, conv, personal_code="9999"
                        ).status_code == 202
    assert sms_to(db, KARI_MOBILE) == []
    refused = verify(client, service_headers, "123456", conv)
    assert refused.status_code == 401 and refused.json["error"]["code"] == "wrong_code"
    rows = db.execute(select(AuditEvent.action, AuditEvent.detail)
                      .where(AuditEvent.action.like("login.%"))).all()
    db.rollback()
    assert [(a, d["reason"]) for a, d in rows if a == "login.code_requested"] == [
        ("login.code_requested", "wrong_personal_code")]


def test_audit_rows_do_not_tell_an_unknown_number_from_a_wrong_code(client, db, demo,
                                                                  service_headers):
    trails = {}
    for fnr in (KARI, UNKNOWN):
        before = db.execute(select(AuditEvent.id)).all()
        db.rollback()
        request_code(client, service_headers, fnr, conversation(), personal_code="9999")
        rows = db.execute(select(AuditEvent.action, AuditEvent.actor_type, AuditEvent.actor_id)
                          .order_by(AuditEvent.id)).all()[len(before):]
        db.rollback()
        trails[fnr] = rows
    assert trails[KARI] == trails[UNKNOWN]
    assert [row.action for row in trails[KARI]] == ["login.code_requested"]


def test_the_code_step_needs_a_started_login(client, service_headers):
    answer = client.post("/api/v1/login/code", headers=service_headers, json={
        "personal_code": "2580", "channel": "rest", "conversation_id": conversation()})
    assert answer.status_code == 401 and answer.json["error"]["code"] == "login_not_started"


def test_a_citizen_with_a_code_must_give_it(app, client, db, demo, service_headers):
    answer, _ = log_in(app, client, db, service_headers, KARI, KARI_MOBILE, "2580")
    assert answer["first_name"] == "Kari" and answer["choose_personal_code"] is False
    request_code(client, service_headers, KARI, conversation(), personal_code=None)
    assert len(sms_to(db, KARI_MOBILE)) == 1  # leaving the code out sent nothing


# --- the first login: choosing a code -----------------------------------------------------


def test_the_first_login_leaves_the_code_out_and_then_chooses_one(app, client, db, demo,
                                                                 service_headers):
    answer, session = log_in(app, client, db, service_headers, PER, PER_MOBILE)
    assert answer["choose_personal_code"] is True
    for code, rule in [("12", "personal_code_format"), ("7777", "personal_code_repeated"),
                       ("3456", "personal_code_run"), ("0709", "personal_code_birth_date")]:
        refused = client.put("/api/v1/me/personal-code", headers=session, json={"code": code})
        assert refused.status_code == 422 and refused.json["error"]["code"] == rule
    chosen = client.put("/api/v1/me/personal-code", headers=session, json={"code": "5173"})
    assert chosen.status_code == 200 and chosen.json == {"status": "personal_code_set"}
    stored = db.execute(select(PersonalCode.code_hash).where(
        PersonalCode.citizen_id == demo[PER])).scalar_one()
    db.rollback()
    assert stored.startswith("$argon2id$") and "5173" not in stored
    # From now on the code is asked for: left out, nothing is sent; given, the login works.
    sent = len(sms_to(db, PER_MOBILE))
    request_code(client, service_headers, PER, conversation(), personal_code=None)
    assert len(sms_to(db, PER_MOBILE)) == sent
    again, _ = log_in(app, client, db, service_headers, PER, PER_MOBILE, "5173")
    assert again["choose_personal_code"] is False
    actions = [a for (a,) in db.execute(select(AuditEvent.action).where(
        AuditEvent.citizen_id == demo[PER], AuditEvent.action.like("personal_code.%")))]
    db.rollback()
    assert actions == ["personal_code.set"]


# --- changing it while logged in ----------------------------------------------------------


def test_changing_the_code_needs_the_old_one(app, client, db, demo, service_headers):
    _, session = log_in(app, client, db, service_headers, KARI, KARI_MOBILE, "2580")
    put = client.put("/api/v1/me/personal-code", headers=session, json={"code": "8025"})
    assert put.status_code == 403 and put.json["error"]["code"] == "old_code_required"
    wrong = client.post("/api/v1/me/personal-code/confirm", headers=session,
                        json={"code": "1357"})
    assert wrong.status_code == 401 and wrong.json["error"]["code"] == "wrong_personal_code"
    assert wrong.json["error"]["details"]["attempts_left"] == 4
    right = client.post("/api/v1/me/personal-code/confirm", headers=session,
                        json={"code": "2580"})
    assert right.status_code == 200
    assert client.put("/api/v1/me/personal-code", headers=session,
                      json={"code": "8025"}).status_code == 200
    # The confirmation allowed one change only.
    assert client.put("/api/v1/me/personal-code", headers=session,
                      json={"code": "8026"}).status_code == 403
    old = conversation()
    request_code(client, service_headers, KARI, old, personal_code="2580")
    assert len(sms_to(db, KARI_MOBILE)) == 1
    log_in(app, client, db, service_headers, KARI, KARI_MOBILE, "8025")
    actions = [a for (a,) in db.execute(select(AuditEvent.action).where(
        AuditEvent.citizen_id == demo[KARI], AuditEvent.action.like("personal_code.%"))
        .order_by(AuditEvent.id))]
    db.rollback()
    assert actions == ["personal_code.set", "personal_code.confirm_failed",
                       "personal_code.confirmed", "personal_code.changed"]


def test_the_code_endpoints_need_a_session(client, demo, service_headers):
    for method, path in [("put", "/api/v1/me/personal-code"),
                         ("post", "/api/v1/me/personal-code/confirm")]:
        answer = getattr(client, method)(path, headers=service_headers, json={"code": "2580"})
        assert answer.status_code == 401


# --- limits (frozen clock) ----------------------------------------------------------------


def test_wrong_personal_codes_meet_the_back_off_and_it_passes(app, client, clock, demo,
                                                              service_headers):
    store = frozen_store(app, clock)
    clock.advance(minutes=9, seconds=58)  # the wait ends as a new 10-minute window begins
    # Each guess from a new conversation: the account counts them all.
    statuses = [request_code(client, service_headers, AISHA, conversation(),
                             personal_code="1357").status_code for _ in range(4)]
    assert statuses == [202] * 4  # three free failures; the fourth sets a 2 s wait
    waiting = request_code(client, service_headers, AISHA, conversation(),
                           personal_code="1357")
    assert waiting.status_code == 429 and waiting.json["error"]["code"] == "login_backoff"
    assert waiting.json["error"]["details"]["retry_after_seconds"] == 2
    clock.advance(seconds=1)
    assert request_code(client, service_headers, AISHA, conversation(), personal_code="1357"
                        ).json["error"]["code"] == "too_many_codes"  # 5 in 10 minutes
    clock.advance(seconds=1)
    assert request_code(client, service_headers, AISHA, conversation(),
                        personal_code="1357").status_code == 202
    account = login._digest(app.extensions["portal"].settings, "fnr", AISHA)
    assert store.get(f"otp:failures:{account}") == "5"


def test_a_right_personal_code_is_not_counted_as_a_failure(app, client, clock, db, demo,
                                                          service_headers):
    store = frozen_store(app, clock)
    conv = conversation()
    for _ in range(3):
        request_code(client, service_headers, AISHA, conv, personal_code="1357")
    request_code(client, service_headers, AISHA, conv)  # right: no back-off after it
    account = login._digest(app.extensions["portal"].settings, "fnr", AISHA)
    assert store.get(f"otp:failures:{account}") == "3"
    assert store.get(f"otp:backoff:{account}") is None
    assert verify(client, service_headers, last_code(app, db, "+4745678901"),
                  conv).status_code == 200
    assert store.get(f"otp:failures:{account}") is None  # the login cleared the account


def test_one_conversation_tries_five_personal_codes_an_hour(settings, clock, demo,
                                                            service_headers):
    built = create_app(dataclasses.replace(settings, otp_codes_per_conversation_per_hour=50),
                       clock)
    client = built.test_client()
    frozen_store(built, clock)
    conv = conversation()
    for _ in range(5):
        assert request_code(client, service_headers, KARI, conv,
                            personal_code="1357").status_code == 202
        clock.advance(minutes=2)  # past the back-off and the 5-in-10-minutes limit per number
    refused = request_code(client, service_headers, KARI, conv, personal_code="1357")
    assert refused.status_code == 429 and refused.json["error"]["code"] == "login_locked"
    assert refused.json["error"]["details"]["retry_after_seconds"] == 3600 - 10 * 60
    clock.advance(minutes=1)  # past the account's back-off
    other = conversation()  # another conversation may still try (the account counts on)
    assert request_code(client, service_headers, KARI, other).status_code == 202
    clock.advance(hours=1)
    assert request_code(client, service_headers, KARI, conv).status_code == 202
    built.extensions["portal"].engine.dispose()


@pytest.fixture(params=["memory", "redis"])
def store_app(request, settings, clock, demo):
    if request.param == "redis":
        redis.Redis.from_url(REDIS_URL).flushdb()
        settings = dataclasses.replace(settings, redis_url=REDIS_URL)
    app = create_app(settings, clock)
    yield app
    app.extensions["portal"].engine.dispose()


def test_the_account_lock_is_short_and_a_hundred_failures_close_it(store_app, clock,
                                                                   service_headers):
    client, portal = store_app.test_client(), store_app.extensions["portal"]
    account = login._digest(portal.settings, "fnr", KARI)
    portal.store.set(f"otp:failures:{account}", "19", 3600)
    assert request_code(client, service_headers, KARI, conversation(),
                        personal_code="1357").status_code == 202  # the 20th failure
    locked = request_code(client, service_headers, KARI, conversation())
    assert locked.json["error"]["code"] == "login_locked"
    assert 3500 < locked.json["error"]["details"]["retry_after_seconds"] <= 3600  # an hour
    portal.store.delete(f"otp:lock:{account}")
    portal.store.set(f"otp:failures:{account}", "99", 3600 * 24 * 30)
    clock.advance(minutes=10)
    assert request_code(client, service_headers, KARI, conversation(),
                        personal_code="1357").status_code == 202  # the 100th failure
    closed = request_code(client, service_headers, KARI, conversation())
    assert closed.json["error"]["code"] == "login_locked"
    assert closed.json["error"]["details"]["retry_after_seconds"] > 29 * 24 * 3600


def test_the_citizen_is_told_by_sms_when_guesses_lock_their_login(store_app, clock,
                                                                    service_headers):
    client, portal = store_app.test_client(), store_app.extensions["portal"]
    account = login._digest(portal.settings, "fnr", KARI)
    portal.store.set(f"otp:failures:{account}", "19", 3600)
    request_code(client, service_headers, KARI, conversation(), personal_code="1357")  # 20th
    locked = request_code(client, service_headers, KARI, conversation(), personal_code="1357")
    assert locked.json["error"]["code"] == "login_locked"
    with portal.sessions() as db:
        [notice] = sms_to(db, KARI_MOBILE, "notice")  # once, when the lock was set
        events = db.execute(select(AuditEvent.detail).where(
            AuditEvent.action == "login.lock_notice")).scalars().all()
        db.rollback()
    assert "sperret i 1 time" in notice and "ID-porten" in notice and KARI not in notice
    assert events == [{"kind": "locked", "failures": 20}]
    # Wrong one-time codes count the same: the 100th failure in a row closes it, and says so.
    for kind in ("lock", "backoff"):
        portal.store.delete(f"otp:{kind}:{account}")
    conv = conversation()
    assert request_code(client, service_headers, KARI, conv).status_code == 202  # right code
    for kind in ("lock", "backoff"):  # as if the hour had passed, 99 failures in a row
        portal.store.delete(f"otp:{kind}:{account}")
    portal.store.set(f"otp:failures:{account}", "99", 3600 * 24 * 30)
    assert client.post("/api/v1/login/verify", headers=service_headers, json={
        "code": "000000", "channel": "rest", "conversation_id": conv}).status_code == 401
    with portal.sessions() as db:
        notices = sms_to(db, KARI_MOBILE, "notice")
    assert len(notices) == 2 and "stengt etter 100 feil forsøk" in notices[1]


def test_a_locked_unknown_number_tells_no_one(store_app, service_headers):
    client, portal = store_app.test_client(), store_app.extensions["portal"]
    account = login._digest(portal.settings, "fnr", UNKNOWN)
    portal.store.set(f"otp:failures:{account}", "19", 3600)
    request_code(client, service_headers, UNKNOWN, conversation(), personal_code="1357")
    with portal.sessions() as db:
        sent = db.execute(select(OutboundSms.id).where(OutboundSms.purpose == "notice")
                          ).scalars().all()
        db.rollback()
    assert sent == []


# --- the reset of a forgotten code --------------------------------------------------------


def ask_reset(client, headers, fnr, conv=None):
    return client.post("/api/v1/login/personal-code/reset", headers=headers, json={
        "fnr": fnr, "channel": "rest", "conversation_id": conv or conversation()})


def test_a_reset_answers_alike_and_tells_the_registered_mobile(client, db, demo,
                                                              service_headers):
    answers = {fnr: ask_reset(client, service_headers, fnr) for fnr in (KARI, PER, UNKNOWN)}
    assert {(a.status_code, repr(a.json)) for a in answers.values()} == {
        (202, repr({"status": "reset_requested_if_registered"}))}
    [notice] = sms_to(db, KARI_MOBILE, "personal_code")
    assert "AVBRYT" in notice and "25.11.2026 kl. 11:00" in notice
    assert sms_to(db, PER_MOBILE, "personal_code") == []  # Per has no code to reset
    ask_reset(client, service_headers, KARI)  # asked again: no second notice
    assert len(sms_to(db, KARI_MOBILE, "personal_code")) == 1
    assert ask_reset(client, service_headers, "123").status_code == 422


def test_the_reset_waits_a_day_then_the_next_login_chooses_a_new_code(app, client, clock, db,
                                                                      demo, service_headers):
    ask_reset(client, service_headers, KARI)
    clock.advance(hours=23, minutes=59)
    # Still waiting: leaving the code out sends nothing.
    request_code(client, service_headers, KARI, conversation(), personal_code=None)
    assert sms_to(db, KARI_MOBILE) == []
    clock.advance(minutes=1)
    request_code(client, service_headers, KARI, conversation(), personal_code="2580")
    assert sms_to(db, KARI_MOBILE) == []  # due: the old code no longer opens the login
    answer, session = log_in(app, client, db, service_headers, KARI, KARI_MOBILE, None)
    assert answer["choose_personal_code"] is True
    assert db.execute(select(PersonalCode).where(
        PersonalCode.citizen_id == demo[KARI])).first() is None
    db.rollback()
    assert client.put("/api/v1/me/personal-code", headers=session,
                      json={"code": "3691"}).status_code == 200
    log_in(app, client, db, service_headers, KARI, KARI_MOBILE, "3691")


def test_a_login_with_the_code_during_the_wait_cancels_the_reset(app, client, clock, db, demo,
                                                                 service_headers):
    ask_reset(client, service_headers, KARI)
    clock.advance(hours=3)
    answer, _ = log_in(app, client, db, service_headers, KARI, KARI_MOBILE, "2580")
    assert answer["reset_cancelled"] is True and answer["choose_personal_code"] is False
    notices = sms_to(db, KARI_MOBILE, "personal_code")
    assert "avbrutt" in notices[-1]
    clock.advance(days=2)
    request_code(client, service_headers, KARI, conversation(), personal_code=None)
    assert len(sms_to(db, KARI_MOBILE)) == 1  # the old code stays; no code-less login


def test_avbryt_from_the_registered_mobile_cancels_the_reset(app, client, clock, db, demo,
                                                             service_headers):
    ask_reset(client, service_headers, KARI)
    settings = app.extensions["portal"].settings
    kari_sms = ensure_identity(db, settings.identity_key, KARI_MOBILE, clock.now()).sender_key
    other_sms = ensure_identity(db, settings.identity_key, "+4799999999",
                                clock.now()).sender_key
    db.commit()

    def cancel(channel, conv):
        return client.post("/api/v1/login/personal-code/reset/cancel", headers=service_headers,
                           json={"channel": channel, "conversation_id": conv})

    assert cancel("sms", other_sms).json == {"cancelled": False}  # another phone cannot
    assert cancel("rest", conversation()).json == {"cancelled": False}
    assert cancel("sms", kari_sms).json == {"cancelled": True}
    assert cancel("sms", kari_sms).json == {"cancelled": False}
    clock.advance(days=2)
    request_code(client, service_headers, KARI, conversation(), personal_code=None)
    assert sms_to(db, KARI_MOBILE) == []
    log_in(app, client, db, service_headers, KARI, KARI_MOBILE, PERSONAL_CODES[KARI])
    actions = [a for (a,) in db.execute(select(AuditEvent.action).where(
        AuditEvent.citizen_id == demo[KARI], AuditEvent.action.like("personal_code.%"))
        .order_by(AuditEvent.id))]
    db.rollback()
    assert actions == ["personal_code.set", "personal_code.reset_requested",
                       "personal_code.reset_cancelled"]


def test_resets_are_limited_per_conversation(client, clock, demo, service_headers):
    conv = conversation()
    statuses = [ask_reset(client, service_headers, fnr, conv).status_code
                for fnr in (KARI, AISHA, PER, UNKNOWN)]
    assert statuses == [202, 202, 202, 429]
    clock.advance(hours=1)
    assert ask_reset(client, service_headers, UNKNOWN, conv).status_code == 202


def test_the_waiting_period_comes_from_the_environment(tmp_path, make_app_with, clock,
                                                       service_headers):
    from portal.config import Settings

    assert Settings.from_env({"PERSONAL_CODE_RESET_HOURS": "48", "ASSISTANT_ENV": "test",
                              "ASSISTANT_VAR_DIR": str(tmp_path)}).personal_code_reset_hours == 48
    client, db = make_app_with(personal_code_reset_hours=48)
    ask_reset(client, service_headers, KARI)
    [notice] = sms_to(db, KARI_MOBILE, "personal_code")
    assert "26.11.2026 kl. 11:00" in notice


@pytest.fixture
def make_app_with(settings, clock, demo):
    """The portal with some settings changed, and a database session on it."""
    built = []

    def _make(**changes):
        app = create_app(dataclasses.replace(settings, **changes), clock)
        session = app.extensions["portal"].sessions()
        built.append((app, session))
        return app.test_client(), session

    yield _make
    for app, session in built:
        session.close()
        app.extensions["portal"].engine.dispose()
