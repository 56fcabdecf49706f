"""End to end: citizens write to the municipality through the real Rasa server (SMS and the
web chat), the message lands in the caseworker queue, a caseworker answers through the staff
API or the service, and the citizen gets a letter in the inbox and an SMS notice."""
import re

import pytest
import requests
from sqlalchemy import create_engine, select

from portal.bootstrap import Portal
from portal.clock import Clock
from portal.models import CitizenCase, Letter, StaffMember
from portal.services import cases
from portal.services.opening_hours import status as queue_status
from portal.staff import accounts
from tests.conftest import AISHA, KARI, KARI_MOBILE
from tests.test_e2e_sms import Phone, sid

pytestmark = pytest.mark.slow

AISHA_MOBILE = "+4745678901"


def log_in(stack, phone, fnr, greeting):
    phone.send("logg inn", "fødselsnummer")
    before = len(stack.sms_to(phone.number))
    phone.send(fnr, "registrert" if greeting.startswith("Hei") else "registered")
    code = re.search(r"\b(\d{6})\b", stack.wait_for_sms(
        phone.number, "ode", after=before)["body"])[1]
    phone.send(code, greeting)


def open_portal(stack) -> Portal:
    return Portal(stack.runtime.settings, Clock())


def cases_of(portal, citizen_fnr):
    from portal.models import Citizen
    with portal.sessions() as db:
        citizen = db.execute(select(Citizen).where(Citizen.fnr == citizen_fnr)).scalar_one()
        return [(c.id, c.body, c.reply_to_letter_id, c.status, c.channel.value)
                for c in db.execute(select(CitizenCase).where(
                    CitizenCase.citizen_id == citizen.id).order_by(CitizenCase.id)).scalars()]


def staff_token(portal) -> str:
    with portal.sessions() as db:
        member, _ = accounts.add(db, email=f"siri-{sid()[:8]}@bergen.kommune.no",
                                 name="Siri Saksbehandler", role=accounts.StaffRole.CASEWORKER,
                                 now=portal.clock.now(), link_hours=24, by=accounts.CLI)
        member = db.get(StaffMember, member.id)
        return accounts.issue_token(db, member, now=portal.clock.now(), by=accounts.CLI)


def test_kari_replies_to_a_letter_over_sms_and_gets_the_answer_as_a_letter(production_stack):
    stack, kari = production_stack, Phone(production_stack, KARI_MOBILE)
    stack.reset_demo()
    portal = open_portal(stack)
    log_in(stack, kari, KARI, "Hei, Kari")
    assert "LES 1" in kari.send("brev", "Feievarsel")

    asked = kari.send("svar på brev 1", "Skriv meldingen din")
    assert "Du svarer på brevet «Feievarsel for Fjellveien 12»" in \
        " ".join(m["body"] for m in stack.sms_to(KARI_MOBILE)[-2:])
    assert "NEI" in asked
    text = "Jeg er bortreist i uke 7. Kan feiingen flyttes til uke 8?"
    restated = kari.send(text, "Svar JA for å sende")
    assert text in restated and "1" in restated  # JA/NEI as numbered choices
    assert cases_of(portal, KARI) == []  # nothing is sent before the JA
    sent = kari.send("1", "Meldingen er sendt")
    queue = queue_status(stack.runtime.settings.staff_opening_hours, portal.clock.now())
    assert ("på jobb nå" in sent) if queue.open else ("tidligst" in sent)
    [(case_id, body, letter_id, status, channel)] = cases_of(portal, KARI)
    assert (body, status, channel) == (text, "open", "sms")
    with portal.sessions() as db:
        assert db.get(Letter, letter_id).title == "Feievarsel for Fjellveien 12"
    assert f"saksnummer {case_id}" in sent

    # A caseworker answers through the staff API: a letter and an SMS notice.
    before = len(stack.sms_to(KARI_MOBILE))
    token = staff_token(portal)
    url = f"{stack.runtime.portal_url}/api/v1/staff/cases"
    listed = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert [c["body"] for c in listed["cases"] if c["id"] == case_id] == [text]
    answered = requests.post(f"{url}/{case_id}/answer", timeout=10,
                             headers={"Authorization": f"Bearer {token}"},
                             json={"text": "Feiingen er flyttet til uke 8. Hilsen brannvesenet."})
    assert answered.status_code == 200, answered.text
    notice = stack.wait_for_sms(KARI_MOBILE, "Svar på henvendelsen din", after=before)["body"]
    assert notice.startswith("Du har fått brev") and "Svar LES" in notice
    assert "Feiingen er flyttet til uke 8" in kari.send("LES", "Feiingen er flyttet")
    with portal.sessions() as db:
        letter = db.get(Letter, answered.json()["answer_letter_id"])
        assert (letter.status.value, letter.read_via.value) == ("LEST", "sms")
    portal.close()


def test_bad_messages_over_sms_get_clear_replies_in_english_and_change_nothing(
        production_stack):
    stack, aisha = production_stack, Phone(production_stack, AISHA_MOBILE)
    stack.reset_demo()
    portal = open_portal(stack)
    log_in(stack, aisha, AISHA, "Hi, Aisha")
    assert "can't find letter number 9" in aisha.send("reply to letter 9", "letter number 9")
    aisha.send("write to the municipality", "Write your message")
    too_long = aisha.send("x" * 10_000, "too long")  # Twilio's webhook keeps 1600 characters
    assert "up to 1500 characters" in too_long and "Nothing has been sent" in too_long
    assert "OK, the message has not been sent" in aisha.send("no", "has not been sent")
    aisha.send("write to the municipality", "Write your message")
    aisha.send("Please call me about the invoice.", "Reply YES to send")
    assert "has not been sent" in aisha.send("NO", "has not been sent")
    assert cases_of(portal, AISHA) == []
    portal.close()


def test_the_service_answer_reaches_the_inbox_of_a_web_chat_citizen(embedded_stack):
    """The web chat's journey through the REST-free browser path is in test_e2e_webchat;
    here the case written over the web chat channel is answered through the service."""
    from playwright.sync_api import expect, sync_playwright

    from tests.test_e2e_webchat import CHROMIUM, FLAGS, send

    stack = embedded_stack
    stack.reset_demo()
    portal = open_portal(stack)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(locale="nb-NO")
        page.goto(f"{stack.runtime.rasa_url}/webhooks/webchat/")
        expect(page.get_by_role("status")).to_have_text("Tilkoblet.")
        log = page.get_by_role("log")
        send(page, "logg inn")
        expect(log).to_contain_text("fødselsnummer")
        before = len(stack.sms_to(KARI_MOBILE))
        send(page, KARI)
        expect(log).to_contain_text("Hvis nummeret er registrert")
        code = re.search(r"\b(\d{6})\b", stack.wait_for_sms(
            KARI_MOBILE, "Engangskoden", after=before)["body"])[1]
        send(page, code)
        expect(log).to_contain_text("Hei, Kari!")
        send(page, "skriv til kommunen")
        expect(log).to_contain_text("Skriv meldingen din til kommunen")
        send(page, "Når tømmes glassigloen i Fjellveien?")
        expect(log).to_contain_text("«Når tømmes glassigloen i Fjellveien?»")
        page.get_by_role("button", name="JA").last.click()
        expect(log).to_contain_text("Meldingen er sendt")
        [(case_id, body, letter_id, status, channel)] = cases_of(portal, KARI)
        assert (body, letter_id, status, channel) == \
            ("Når tømmes glassigloen i Fjellveien?", None, "open", "webchat")

        before = len(stack.sms_to(KARI_MOBILE))
        with portal.sessions() as db:
            _, letter = cases.answer_case(db, portal.settings, case_id, staff_id=7,
                                          text="Glassigloen tømmes hver tirsdag.",
                                          now=portal.clock.now())
            db.commit()
            portal.notifier.letter_dispatched(letter)
        assert "Svar på henvendelsen din" in stack.wait_for_sms(
            KARI_MOBILE, "Du har fått brev", after=before)["body"]
        send(page, "brev")
        expect(log).to_contain_text("Svar på henvendelsen din")
        browser.close()
    portal.close()
