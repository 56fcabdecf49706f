"""Citizens writing to the municipality, the staff queue of cases, and the opening hours."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from portal.models import (
    AuditEvent,
    Channel,
    CitizenCase,
    Conversation,
    HandoffRequest,
    Letter,
    LetterStatus,
    OutboundSms,
    SmsNotice,
)
from portal.services import opening_hours
from portal.services.letters import send_due_to_print
from portal.staff import accounts
from tests.conftest import KARI, KARI_MOBILE, OLA, T0
from tests.staff_helpers import create_staff

CASES = "/api/v1/me/cases"
STAFF_CASES = "/api/v1/staff/cases"
OSLO = "Europe/Oslo"


def _at(text: str) -> datetime:
    """A Bergen wall-clock time as an aware UTC moment."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(OSLO)).astimezone(timezone.utc)


@pytest.fixture
def staff_token(app, clock, demo):
    account = create_staff(app, clock, "siri@bergen.kommune.no")
    with app.extensions["portal"].sessions() as db:
        member = db.get(accounts.StaffMember, account.id)
        token = accounts.issue_token(db, member, now=clock.now(), by=accounts.CLI)
    return {"Authorization": f"Bearer {token}"}


def _kari_letter(db, demo, title_part: str) -> Letter:
    letter = db.execute(select(Letter).where(
        Letter.citizen_id == demo[KARI], Letter.title.contains(title_part))).scalars().first()
    db.expunge(letter)
    db.rollback()  # ends the read: SQLite takes its write lock at BEGIN
    return letter


def _count(db, model) -> int:
    count = db.execute(select(func.count()).select_from(model)).scalar_one()
    db.rollback()
    return count


# --- opening hours ------------------------------------------------------------------------

@pytest.mark.parametrize("moment, is_open, opens", [
    ("2026-11-24T10:00", True, None),                    # Tuesday morning
    ("2026-11-24T15:29", True, None),
    ("2026-11-24T15:30", False, "2026-11-25T08:00"),     # closing time: tomorrow 08:00
    ("2026-11-24T07:59", False, "2026-11-24T08:00"),
    ("2026-11-27T16:00", False, "2026-11-30T08:00"),     # Friday evening: Monday
    ("2026-12-24T12:00", True, None),                    # Christmas Eve: a working day,
    ("2026-12-24T16:00", False, "2026-12-28T08:00"),     # then two holidays and a Sunday
    ("2026-12-25T09:00", False, "2026-12-28T08:00"),
    ("2027-03-24T20:00", False, "2027-03-30T08:00"),     # Easter: Skjærtorsdag ... 2. påskedag
    ("2027-05-17T09:00", False, "2027-05-18T08:00"),     # Grunnlovsdagen (summer time)
])
def test_opening_hours_with_norwegian_holidays(moment, is_open, opens):
    queue = opening_hours.status("mon-fri 08:00-15:30", _at(moment), OSLO)
    assert queue.open is is_open
    assert queue.next_open == (None if opens is None else _at(opens))


def test_opening_hours_setting_with_several_groups():
    spec = "mon-thu 08:00-15:30; fri 08:00-14:00"
    assert opening_hours.status(spec, _at("2026-11-27T14:30"), OSLO).next_open == \
        _at("2026-11-30T08:00")
    assert opening_hours.status(spec, _at("2026-11-26T14:30"), OSLO).open


@pytest.mark.parametrize("spec", ["", "mon-fri", "mon-fri 16:00-08:00", "fri-mon 08:00-15:00",
                                  "man-fre 08:00-15:30", "mon-fri 8-15"])
def test_a_malformed_opening_hours_setting_is_refused(spec):
    with pytest.raises(ValueError):
        opening_hours.parse(spec)


def test_a_handoff_outside_opening_hours_says_when_and_links_its_conversation(
        client, app, clock, demo, service_headers, db):
    key = "web-" + "a" * 16
    with app.extensions["portal"].sessions() as s:
        s.add(Conversation(channel=Channel.WEBCHAT, sender_key=key, started_at=clock.now(),
                           last_message_at=clock.now()))
        s.commit()
    clock.at = _at("2026-11-27T18:00")  # Friday evening
    response = client.post("/api/v1/handoffs", headers=service_headers, json={
        "channel": "webchat", "conversation_id": key, "reason": "citizen_request"})
    assert response.status_code == 201
    assert response.json["open_now"] is False
    assert datetime.fromisoformat(response.json["next_open"]) == _at("2026-11-30T08:00")
    row = db.execute(select(HandoffRequest)).scalar_one()
    conversation = db.execute(select(Conversation).where(Conversation.sender_key == key)).scalar_one()
    assert row.conversation_row_id == conversation.id == response.json["conversation_row_id"]
    assert row.within_opening_hours is False
    db.rollback()  # ends the read (SQLite's write lock)

    clock.at = T0  # inside opening hours: the same open request, open now
    again = client.post("/api/v1/handoffs", headers=service_headers, json={
        "channel": "webchat", "conversation_id": key, "reason": "citizen_request"})
    assert again.status_code == 200 and again.json["id"] == row.id
    assert again.json["open_now"] is True and again.json["next_open"] is None


# --- writing to the municipality ------------------------------------------------------------

def test_kari_writes_a_reply_to_a_letter_and_it_is_stored_as_written(client, login, db, demo):
    headers = login(KARI, Channel.SMS)
    letter = _kari_letter(db, demo, "Feievarsel")
    text = "Hei! Jeg er ikke hjemme torsdag, kan feiingen flyttes? Ring 91234567."
    response = client.post(CASES, headers=headers, json={"text": text,
                                                        "reply_to_letter_id": letter.id})
    assert response.status_code == 201, response.json
    assert response.json["reply_to_letter_id"] == letter.id
    assert response.json["open_now"] is True and response.json["next_open"] is None
    case = db.get(CitizenCase, response.json["id"])
    assert case.body == text  # the citizen's own message, as written
    assert case.citizen_id == demo[KARI] and case.channel == Channel.SMS
    assert case.status == "open"
    events = db.execute(select(AuditEvent).where(AuditEvent.action == "case.write")).scalars().all()
    assert [(e.citizen_id, e.object_id, e.actor_id) for e in events] == \
        [(demo[KARI], str(case.id), f"citizen:{demo[KARI]}")]


def test_a_case_links_the_open_handoff_of_its_conversation(client, login, app, clock, db,
                                                           service_headers):
    headers = login(KARI, Channel.WEBCHAT)
    key = headers["X-Conversation-Id"]
    handoff = client.post("/api/v1/handoffs", headers=service_headers, json={
        "channel": "webchat", "conversation_id": key, "reason": "not_understood"})
    response = client.post(CASES, headers=headers, json={"text": "Ring meg om skatten."})
    assert response.status_code == 201
    assert db.get(CitizenCase, response.json["id"]).handoff_request_id == handoff.json["id"]


@pytest.mark.parametrize("payload, status, code", [
    ({"text": ""}, 422, "empty_message"),
    ({"text": "   \n  "}, 422, "empty_message"),
    ({"text": "x" * 10_000}, 422, "message_too_long"),
    ({"text": "x" * 1501}, 422, "message_too_long"),
    ({"text": "nul \x00 here"}, 422, "invalid_text"),
    ({}, 400, None),
    ({"text": "Hei", "reply_to_letter_id": 0}, 404, "letter_not_found"),
    ({"text": "Hei", "reply_to_letter_id": 2 ** 40}, 404, "letter_not_found"),
    ({"text": "Hei", "reply_to_letter_id": "to"}, 400, None),
])
def test_bad_messages_get_a_clear_4xx_and_change_nothing(client, login, db, payload, status,
                                                        code):
    headers = login(KARI)
    before = _count(db, AuditEvent)
    response = client.post(CASES, headers=headers, json=payload)
    assert response.status_code in ((status, 422) if code is None else (status,)), response.json
    assert set(response.json["error"]) >= {"code", "message"}
    if code:
        assert response.json["error"]["code"] == code
    assert _count(db, CitizenCase) == 0
    assert _count(db, AuditEvent) == before


def test_a_reply_to_another_citizens_letter_is_not_found(client, login, db, demo):
    ola_letter = db.execute(select(Letter).where(Letter.citizen_id == demo[OLA])).scalars().first()
    assert ola_letter is not None
    db.expunge(ola_letter)
    db.rollback()
    response = client.post(CASES, headers=login(KARI), json={
        "text": "Hei", "reply_to_letter_id": ola_letter.id})
    assert response.status_code == 404
    assert response.json["error"]["code"] == "letter_not_found"
    assert _count(db, CitizenCase) == 0


def test_writing_needs_a_live_session(client, service_headers, demo, db):
    response = client.post(CASES, headers={**service_headers, "X-Channel": "rest",
                                           "X-Conversation-Id": "rest-nobody"},
                           json={"text": "Hei"})
    assert response.status_code == 401
    assert _count(db, CitizenCase) == 0


def test_a_draft_waits_unseen_until_kari_sends_it(client, login, db, demo, staff_token, app,
                                                  clock):
    headers = login(KARI, Channel.SMS)
    letter = _kari_letter(db, demo, "Feievarsel")
    text = "Kan feiingen flyttes til fredag? Faktura 12345678 gjelder ikke meg."
    draft = client.post(CASES, headers=headers, json={
        "text": text, "reply_to_letter_id": letter.id, "draft": True})
    assert draft.status_code == 201, draft.json
    assert draft.json["status"] == "draft" and draft.json["length"] == len(text)
    assert draft.json["reply_to_title"] == letter.title
    # Not in the queue, and a caseworker cannot answer it.
    assert client.get(STAFF_CASES, query_string={"status": "all"},
                      headers=staff_token).json["cases"] == []
    refused = client.post(f"{STAFF_CASES}/{draft.json['id']}/answer", headers=staff_token,
                          json={"text": "Svar"})
    assert refused.status_code == 404

    clock.advance(minutes=3)
    sent = client.post(f"{CASES}/{draft.json['id']}", headers=headers)
    assert sent.status_code == 200, sent.json
    assert sent.json["status"] == "open" and sent.json["open_now"] is True
    case = db.get(CitizenCase, draft.json["id"])
    assert case.body == text  # the words Kari confirmed, as written
    assert case.created_at == clock.now()  # waiting from the JA
    db.rollback()
    again = client.post(f"{CASES}/{draft.json['id']}", headers=headers)
    assert again.status_code == 409 and again.json["error"]["code"] == "case_sent"
    assert client.delete(f"{CASES}/{draft.json['id']}", headers=headers).status_code == 409
    queue = client.get(STAFF_CASES, headers=staff_token).json["cases"]
    assert [c["id"] for c in queue] == [draft.json["id"]]
    actions = db.execute(select(AuditEvent.action).where(
        AuditEvent.object_type == "citizen_case").order_by(AuditEvent.id)).scalars().all()
    assert actions[:2] == ["case.draft", "case.write"]


def test_a_discarded_draft_is_gone_and_others_cannot_touch_one(client, login, db, demo):
    kari = login(KARI, Channel.WEBCHAT)
    draft = client.post(CASES, headers=kari, json={"text": "Hei", "draft": True}).json
    ola = login(OLA, Channel.SMS)
    assert client.post(f"{CASES}/{draft['id']}", headers=ola).status_code == 404
    assert client.delete(f"{CASES}/{draft['id']}", headers=ola).status_code == 404
    assert db.get(CitizenCase, draft["id"]).status == "draft"
    db.rollback()
    for bad in (0, 2 ** 40):
        assert client.delete(f"{CASES}/{bad}", headers=kari).status_code == 404
    gone = client.delete(f"{CASES}/{draft['id']}", headers=kari)
    assert gone.status_code == 204
    assert _count(db, CitizenCase) == 0
    assert client.post(f"{CASES}/{draft['id']}", headers=kari).status_code == 404


def test_a_draft_left_for_a_day_is_purged(client, login, db, app, clock):
    from portal.services import retention
    headers = login(KARI)
    client.post(CASES, headers=headers, json={"text": "Glemt", "draft": True})
    sent = client.post(CASES, headers=headers, json={"text": "Sendt"}).json
    clock.advance(hours=25)
    with app.extensions["portal"].sessions() as session:
        done = retention.purge(session, app.extensions["portal"].settings, clock.now())
    assert done.drafts == 1
    assert [c.id for c in db.execute(select(CitizenCase)).scalars()] == [sent["id"]]


# --- the staff queue ------------------------------------------------------------------------

def test_a_caseworker_lists_and_answers_kari_gets_a_letter_and_a_notice(
        client, login, db, demo, staff_token, app, clock):
    # demo is listed: the letter lookup needs its ids
    headers = login(KARI, Channel.SMS)
    letter = _kari_letter(db, demo, "Feievarsel")
    written = client.post(CASES, headers=headers, json={
        "text": "Kan feiingen flyttes?", "reply_to_letter_id": letter.id}).json

    listing = client.get(STAFF_CASES, headers=staff_token)
    assert listing.status_code == 200
    assert [(c["id"], c["body"], c["citizen_id"], c["reply_to_letter_id"])
            for c in listing.json["cases"]] == \
        [(written["id"], "Kan feiingen flyttes?", demo[KARI], letter.id)]
    reads = db.execute(select(AuditEvent).where(AuditEvent.action == "case.read")).scalars().all()
    assert [(e.citizen_id, e.object_id) for e in reads] == [(demo[KARI], str(written["id"]))]
    db.rollback()

    answer = client.post(f"{STAFF_CASES}/{written['id']}/answer", headers=staff_token,
                         json={"text": "Vi flytter feiingen til fredag."})
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "answered"
    db.expire_all()
    reply = db.get(Letter, answer.json["answer_letter_id"])
    assert reply.citizen_id == demo[KARI] and reply.body == "Vi flytter feiingen til fredag."
    assert reply.title == f"Svar på henvendelsen din: {letter.title}"
    # The SMS notice went out at once (office hours): MOTTATT -> VARSLET, as for any letter.
    notice = db.execute(select(SmsNotice).where(SmsNotice.citizen_id == demo[KARI])).scalar_one()
    assert reply.id in notice.letter_ids and notice.status == "sent"
    sms = db.get(OutboundSms, notice.outbound_sms_id)
    assert sms.purpose == "notice" and sms.to_number == KARI_MOBILE
    assert reply.status == LetterStatus.VARSLET and reply.print_due_at > clock.now()
    assert db.execute(select(AuditEvent.action).where(
        AuditEvent.object_id == str(written["id"]), AuditEvent.action == "case.answer")
    ).scalar_one() == "case.answer"
    db.expunge(reply)
    db.rollback()

    # In the inbox like any letter, and on paper when it stays unread past its deadline.
    inbox = client.get("/api/v1/me/letters", headers=headers).json["letters"]
    assert inbox[0]["id"] == reply.id and inbox[0]["unread"]
    with app.extensions["portal"].sessions() as s:
        assert reply.id in send_due_to_print(s, now=reply.print_due_at)
        s.commit()

    # Answered once: a second answer is refused and sends nothing.
    letters_before = _count(db, Letter)
    again = client.post(f"{STAFF_CASES}/{written['id']}/answer", headers=staff_token,
                        json={"text": "Igjen"})
    assert again.status_code == 409 and again.json["error"]["code"] == "case_answered"
    assert _count(db, Letter) == letters_before
    assert client.get(STAFF_CASES, headers=staff_token).json["cases"] == []
    answered = client.get(STAFF_CASES, query_string={"status": "answered"}, headers=staff_token)
    assert [c["id"] for c in answered.json["cases"]] == [written["id"]]


@pytest.mark.parametrize("case_id, payload, status, code", [
    (999, {"text": "Svar"}, 404, "case_not_found"),
    (None, {"text": ""}, 422, "empty_message"),
    (None, {"text": "y" * 10_000}, 422, "message_too_long"),
    (None, {}, 400, None),
])
def test_bad_answers_change_nothing(client, login, db, staff_token, case_id, payload, status,
                                    code):
    written = client.post(CASES, headers=login(KARI), json={"text": "Hei"}).json
    letters_before = _count(db, Letter)
    response = client.post(f"{STAFF_CASES}/{case_id or written['id']}/answer",
                           headers=staff_token, json=payload)
    assert response.status_code in ((status, 422) if code is None else (status,))
    if code:
        assert response.json["error"]["code"] == code
    assert _count(db, Letter) == letters_before
    db.expire_all()
    assert db.get(CitizenCase, written["id"]).status == "open"


def test_the_staff_case_api_needs_a_staff_token(client, login, service_headers):
    client.post(CASES, headers=login(KARI), json={"text": "Hei"})
    for headers in ({}, service_headers, {"Authorization": "Bearer staff_nope"}):
        assert client.get(STAFF_CASES, headers=headers).status_code == 401
        assert client.post(f"{STAFF_CASES}/1/answer", headers=headers,
                           json={"text": "x"}).status_code == 401
