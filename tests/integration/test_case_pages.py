"""The caseworker's pages for citizens' written messages ("Henvendelser") through the Flask
client: who reaches them, the list and one case as audited reads, CSRF, refused answers that
change nothing, and an answer that becomes exactly one letter and one SMS notice."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from portal.conversations.service import link_citizen, open_conversation
from portal.models import AuditEvent, Channel, CitizenCase, Letter, OutboundSms, SmsNotice
from tests.conftest import KARI, OLA
from tests.staff_helpers import csrf_of, logged_in_client

CASES = "/api/v1/me/cases"
HTMX = {"HX-Request": "true"}


def _write(client, headers, text: str, letter_id=None) -> int:
    response = client.post(CASES, headers=headers, json={"text": text,
                                                         "reply_to_letter_id": letter_id})
    assert response.status_code == 201, response.json
    return response.json["id"]


def _feievarsel(db, demo) -> Letter:
    letter = db.execute(select(Letter).where(
        Letter.citizen_id == demo[KARI], Letter.title.contains("Feievarsel"))).scalars().first()
    db.expunge(letter)
    db.rollback()
    return letter


def _counts(db) -> dict:
    """What an answer adds: letters, SMS notices, notice SMS in the outbox, answered cases."""
    def count(model, *where):
        return db.execute(select(func.count()).select_from(model).where(*where)).scalar_one()

    counts = {"letters": count(Letter), "notices": count(SmsNotice),
              "notice_sms": count(OutboundSms, OutboundSms.purpose == "notice"),
              "answered": count(CitizenCase, CitizenCase.status == "answered")}
    db.rollback()
    return counts


def _reads(db, staff_id: int) -> list:
    rows = db.execute(select(AuditEvent.object_id).where(
        AuditEvent.action == "case.read", AuditEvent.actor_id == f"staff:{staff_id}")
        .order_by(AuditEvent.id)).scalars().all()
    db.rollback()
    return [int(r) for r in rows]


def test_only_logged_in_staff_reach_the_pages(app, client, login, db):
    kari = login(KARI)
    case_id = _write(client, kari, "Hei, når tømmes søpla?")
    for headers in ({}, kari):  # no login, and the citizen's own session
        assert client.get("/staff/cases", headers=headers).status_code == 401
        assert client.get(f"/staff/cases/{case_id}", headers=headers).status_code == 401
        assert client.post(f"/staff/cases/{case_id}/answer", headers=headers,
                           data={"text": "Svar"}).status_code in (400, 401)
    assert _counts(db)["answered"] == 0
    assert db.execute(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "case.read")).scalar_one() == 0
    db.rollback()


def test_the_list_shows_open_cases_oldest_first_and_every_shown_case_is_a_read(
        app, client, login, db, demo, clock):
    kari = login(KARI, Channel.WEBCHAT)
    key = kari["X-Conversation-Id"]
    conversation = open_conversation(db, Channel.WEBCHAT, key, clock.now())
    link_citizen(db, Channel.WEBCHAT, key, demo[KARI])
    db.commit()
    letter = _feievarsel(db, demo)
    written = clock.now()
    first = _write(client, kari, "Kan feiingen flyttes til fredag?", letter.id)
    clock.advance(minutes=95)
    second = _write(client, login(OLA, Channel.SMS), "Hvor leverer jeg hageavfall?")
    clock.advance(minutes=5)

    siri, staff = logged_in_client(app, clock, "siri@bergen.kommune.no", "Siri Berg")
    waited = int((clock.now() - written).total_seconds() // 60)  # the login took a minute
    response = staff.get("/staff/cases")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Henvendelser fra innbyggere" in page and "2 ubesvarte, eldste først" in page
    assert "(2 åpne)" in page  # the nav's count
    kari_row = page.index("Kari Nordmann")
    assert kari_row < page.index("Ola Hansen")  # oldest first
    assert page.index(f"Henvendelse {first}") < page.index(f"Henvendelse {second}")
    assert "Kan feiingen flyttes til fredag?" in page and "Hvor leverer jeg hageavfall?" in page
    assert letter.title in page
    assert "Nettprat" in page and "SMS" in page
    assert f"1 t {waited - 60} min" in page and f"{waited - 95} min" in page  # waiting times
    assert f'href="/staff/conversations/{conversation.id}"' in page
    assert _reads(db, siri.id) == [first, second]

    case_page = staff.get(f"/staff/cases/{first}").get_data(as_text=True)
    assert "Fra Kari Nordmann" in case_page and letter.title in case_page
    assert '<label class="ds-label" for="case-text">Ditt svar</label>' in case_page
    assert _reads(db, siri.id) == [first, second, first]

    english = staff.post("/staff/language", data={"csrf_token": csrf_of(case_page),
                                                  "lang": "en", "next": "/staff/cases"})
    assert english.status_code == 302
    page = staff.get(english.location).get_data(as_text=True)
    assert "Messages from citizens" in page and "2 unanswered, oldest first" in page
    assert "(2 open)" in page and "Web chat" in page

    _, admin = logged_in_client(app, clock, "anne@bergen.kommune.no", "Anne Admin", "admin")
    assert admin.get("/staff/cases").status_code == 200
    assert "Ingen henvendelser er besvart ennå." in admin.get(
        "/staff/cases?tab=answered").get_data(as_text=True)
    missing = staff.get("/staff/cases/999999")
    assert missing.status_code == 404
    assert "The message was not found." in missing.get_data(as_text=True)  # Siri chose English


def test_an_answer_is_one_letter_and_one_notice_and_a_second_answer_is_refused(
        app, client, login, db, demo, clock):
    case_id = _write(client, login(KARI, Channel.SMS), "Kan jeg få utsatt fakturaen?")
    siri, staff = logged_in_client(app, clock, "siri@bergen.kommune.no", "Siri Berg")
    _, other = logged_in_client(app, clock, "ola@bergen.kommune.no", "Ola Nordmann")
    token = csrf_of(staff.get(f"/staff/cases/{case_id}").get_data(as_text=True))
    answer = f"/staff/cases/{case_id}/answer"
    before = _counts(db)

    refused = staff.post(answer, data={"text": "Ja, til 1. desember."})  # no CSRF token
    assert refused.status_code == 400
    assert "Skjemaet var utløpt" in refused.get_data(as_text=True)
    empty = staff.post(answer, data={"csrf_token": token, "text": "   \n "})
    assert empty.status_code == 422
    html = empty.get_data(as_text=True)
    assert re.search(r'aria-describedby="case-text-hint case-text-error" aria-invalid="true"',
                     html)
    assert ('<p class="ds-validation-message" data-color="danger" id="case-text-error">'
            'Skriv et svar før du sender.</p>') in html
    long = staff.post(answer, headers=HTMX, data={"csrf_token": token, "text": "x" * 1501})
    assert long.status_code == 422
    region = long.get_data(as_text=True)
    assert "<html" not in region and 'id="case-answer"' in region
    assert "Svaret kan ha høyst 1500 tegn." in region
    assert '<div id="staff-live" hx-swap-oob="innerHTML">Svaret kan ha høyst 1500 tegn.</div>' \
        in region
    assert _counts(db) == before

    sent = staff.post(answer, data={"csrf_token": token, "text": "Ja, til 1. desember."})
    assert sent.status_code == 303
    assert sent.location.endswith(f"/staff/cases/{case_id}?done=answered#case-result")
    after = _counts(db)
    assert after == {"letters": before["letters"] + 1, "notices": before["notices"] + 1,
                     "notice_sms": before["notice_sms"] + 1, "answered": 1}
    case = db.get(CitizenCase, case_id)
    letter = db.get(Letter, case.answer_letter_id)
    assert (case.answered_by, letter.citizen_id, letter.body) == \
        (siri.id, demo[KARI], "Ja, til 1. desember.")
    assert db.execute(select(AuditEvent.actor_id).where(
        AuditEvent.action == "case.answer", AuditEvent.object_id == str(case_id))
    ).scalar_one() == f"staff:{siri.id}"
    db.rollback()
    shown = staff.get(sent.location).get_data(as_text=True)
    assert "Svaret er sendt." in shown and "Ja, til 1. desember." in shown

    other_token = csrf_of(other.get(f"/staff/cases/{case_id}").get_data(as_text=True))
    again = other.post(answer, headers=HTMX, data={"csrf_token": other_token, "text": "Nei."})
    assert again.status_code == 409
    assert "Henvendelsen er allerede besvart av Siri Berg." in again.get_data(as_text=True)
    plain = other.post(answer, data={"csrf_token": other_token, "text": "Nei."})
    assert plain.status_code == 409
    assert "Henvendelsen er allerede besvart av Siri Berg." in plain.get_data(as_text=True)
    assert _counts(db) == after
    unknown = other.post("/staff/cases/999999/answer",
                         data={"csrf_token": other_token, "text": "Nei."})
    assert unknown.status_code == 404
    assert "Fant ikke henvendelsen." in unknown.get_data(as_text=True)
    assert _counts(db) == after

    listed = staff.get("/staff/cases?tab=answered").get_data(as_text=True)
    assert "1 besvarte, nyeste først" in listed and "Siri Berg" in listed
    assert "Ingen henvendelser venter på svar." in staff.get("/staff/cases").get_data(
        as_text=True)


def test_an_htmx_answer_comes_back_as_the_region_with_its_announcement(
        app, client, login, db, clock):
    case_id = _write(client, login(OLA, Channel.SMS), "Når kommer eiendomsskatten?")
    _, staff = logged_in_client(app, clock, "siri@bergen.kommune.no", "Siri Berg")
    token = csrf_of(staff.get(f"/staff/cases/{case_id}").get_data(as_text=True))
    before = _counts(db)
    sent = staff.post(f"/staff/cases/{case_id}/answer", headers=HTMX,
                      data={"csrf_token": token, "text": "Den kommer i februar."})
    assert sent.status_code == 200
    region = sent.get_data(as_text=True)
    assert "<html" not in region and "<form" not in region
    assert 'id="case-result" tabindex="-1" autofocus' in region
    assert ('<div id="staff-live" hx-swap-oob="innerHTML">Svaret er sendt. Innbyggeren får '
            'det som brev med varsel på SMS.</div>') in region
    assert '<span id="nav-open-cases" hx-swap-oob="outerHTML"></span>' in region  # none open
    facts = region[region.index('id="case-facts"'):]
    assert 'hx-swap-oob="outerHTML"' in facts.split(">", 1)[0]
    assert "<dt>Svartid</dt>" in facts and "Ventetid" not in facts  # the side panel follows
    assert _counts(db)["letters"] == before["letters"] + 1


def test_the_list_pages_by_fifty_and_a_draft_is_not_a_case(app, client, login, db, clock,
                                                           monkeypatch):
    from portal.staff import case_pages

    monkeypatch.setattr(case_pages, "PER_PAGE", 2)
    kari = login(KARI)
    ids = [_write(client, kari, f"Spørsmål nummer {n}") for n in range(1, 6)]
    draft = client.post(CASES, headers=kari, json={"text": "Utkast", "draft": True}).json["id"]
    siri, staff = logged_in_client(app, clock, "siri@bergen.kommune.no", "Siri Berg")
    first = staff.get("/staff/cases").get_data(as_text=True)
    assert "5 ubesvarte, eldste først" in first and "Side 1 av 3" in first
    assert "Spørsmål nummer 1" in first and "Spørsmål nummer 3" not in first
    assert "Utkast" not in first and 'href="/staff/cases?page=2&amp;tab=open"' in first
    last = staff.get("/staff/cases?page=3").get_data(as_text=True)
    assert "Spørsmål nummer 5" in last and "Side 3 av 3" in last and "Neste side" not in last
    for bad in ("0", "-1", "x", "99999999999"):  # clamped to a page that exists
        shown = staff.get(f"/staff/cases?page={bad}")
        assert shown.status_code == 200 and "Side " in shown.get_data(as_text=True)
    assert _reads(db, siri.id)[:4] == ids[:2] + ids[4:] + ids[:1]
    assert staff.get(f"/staff/cases/{draft}").status_code == 404
