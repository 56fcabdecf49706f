"""The caseworker workspace on the real stack (PostgreSQL, Redis, Rasa, turn workers, SMS
worker, Twilio stand-in): a caseworker in real Chromium (password + TOTP, axe on every page)
takes over a web chat and hands it back; over signed SMS webhooks a caseworker's reply reaches
the phone and the bot stays silent while the conversation is claimed."""
from __future__ import annotations

import time
import uuid

import pyotp
import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from portal.bootstrap import Portal
from portal.clock import Clock
from portal.models import StaffRole
from portal.staff import accounts, totp
from tests.staff_helpers import PASSWORD
from tests.e2e.test_staff_browser import CHROMIUM, DOCS, FLAGS, accessible

pytestmark = pytest.mark.slow
API = "/api/v1/staff/conversations"


def enrolled(stack, email: str, name: str):
    """An enrolled caseworker in the stack's database; the enrolment used the previous TOTP
    step, so the current one logs in."""
    portal = Portal(stack.runtime.settings, Clock())
    try:
        with portal.sessions() as db:
            now = portal.clock.now()
            member, token = accounts.add(db, email=email, name=name, role=StaffRole.CASEWORKER,
                                         now=now, link_hours=1, by=accounts.CLI)
            key = portal.settings.staff_totp_key
            accounts.set_password(db, accounts.setup_link(db, token, now=now), PASSWORD, now=now,
                                  totp_key=key)
            secret = totp.secret_of(member, key)
            previous = pyotp.TOTP(secret).at(now.timestamp() - 30)
            accounts.confirm_enrolment(db, member, previous, now=now, totp_key=key)
            api_token = accounts.issue_token(db, member, now=now, by=accounts.CLI)
            return secret, {"Authorization": f"Bearer {api_token}"}
    finally:
        portal.close()


def waiting_id(stack, headers, channel: str) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page = requests.get(f"{stack.runtime.portal_url}{API}", headers=headers, timeout=10,
                            params={"status": "waiting", "channel": channel}).json()
        if page["conversations"]:
            return page["conversations"][-1]["id"]  # the newest waiting
        time.sleep(0.3)
    raise AssertionError("no waiting conversation")


def test_over_sms_a_caseworker_answers_and_the_bot_stays_silent(production_stack):
    stack = production_stack
    phone = "+47915" + str(uuid.uuid4().int)[:5]
    _, headers = enrolled(stack, f"sms-{uuid.uuid4().hex[:6]}@bergen.kommune.no", "Ola Nordmann")

    def text(body):
        response = stack.post_sms(phone, body, "SM" + uuid.uuid4().hex)
        assert response.status_code == 200, response.text

    text("jeg vil snakke med en person")
    stack.wait_for_sms(phone, "", after=0)
    cid = waiting_id(stack, headers, "sms")
    detail = requests.get(f"{stack.runtime.portal_url}{API}/{cid}", headers=headers,
                          timeout=10).json()
    assert detail["messages"][0]["intent"] == "human_handoff"
    assert phone not in str(detail)

    before = len(stack.sms_to(phone))
    claim = requests.post(f"{stack.runtime.portal_url}{API}/{cid}/claim", headers=headers,
                          json={}, timeout=10)
    assert claim.status_code == 200, claim.text
    stack.wait_for_sms(phone, "Du snakker nå med Ola i Bergen kommune.", after=before)
    reply = requests.post(f"{stack.runtime.portal_url}{API}/{cid}/messages", headers=headers,
                          json={"text": "Hei, jeg heter Ola. Hva gjelder det?"}, timeout=10)
    assert reply.status_code == 201, reply.text
    stack.wait_for_sms(phone, "Hei, jeg heter Ola. Hva gjelder det?", after=before)

    count = len(stack.sms_to(phone))
    text("det gjelder en faktura")
    key = requests.get(f"{stack.runtime.portal_url}{API}/{cid}", headers=headers,
                       timeout=10).json()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "det gjelder en faktura" not in str(key["messages"]):
        time.sleep(0.3)
        key = requests.get(f"{stack.runtime.portal_url}{API}/{cid}", headers=headers,
                           timeout=10).json()
    assert "det gjelder en faktura" in str(key["messages"])
    time.sleep(2)  # a turn worker would have answered by now
    assert len(stack.sms_to(phone)) == count  # no bot reply while claimed

    released = requests.post(f"{stack.runtime.portal_url}{API}/{cid}/release", headers=headers,
                             timeout=10)
    assert released.status_code == 200
    stack.wait_for_sms(phone, "Du snakker nå med assistenten igjen.", after=count)
    after = len(stack.sms_to(phone))
    text("hjelp")
    stack.wait_for_sms(phone, "BREV", after=after)


def test_a_caseworker_takes_over_a_web_chat_in_the_browser_and_hands_back(production_stack):
    stack = production_stack
    email = f"web-{uuid.uuid4().hex[:6]}@bergen.kommune.no"
    secret, _ = enrolled(stack, email, "Siri Berg")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        citizen = browser.new_context(locale="nb-NO").new_page()
        citizen.goto(f"{stack.runtime.rasa_url}/webhooks/webchat/")
        expect(citizen.get_by_role("status")).to_have_text("Tilkoblet.")
        log = citizen.get_by_role("log")
        field = citizen.get_by_label("Din melding")
        field.fill("jeg vil snakke med en person")
        field.press("Enter")
        expect(log.locator("li.bot")).not_to_have_count(0)

        staff = browser.new_context(locale="nb-NO",
                                    viewport={"width": 1100, "height": 760}).new_page()
        staff.goto(f"{stack.runtime.portal_url}/staff/login")
        staff.get_by_label("E-postadresse").fill(email)
        staff.get_by_label("Passord", exact=True).fill(PASSWORD)
        staff.get_by_role("button", name="Fortsett").click()
        staff.get_by_label("Engangskode (6 sifre)").fill(pyotp.TOTP(secret).now())
        staff.get_by_role("button", name="Logg inn").click()
        expect(staff.get_by_role("heading", name="Samtaler som venter")).to_be_visible()
        row = staff.locator("#queue-table tbody tr").last
        expect(row).to_contain_text("Nettprat")
        accessible(staff)
        DOCS.mkdir(exist_ok=True)
        staff.screenshot(path=str(DOCS / "workspace-queue.png"))

        row.get_by_role("link").click()
        expect(staff.get_by_text("Tolket som human_handoff")).to_be_visible()
        accessible(staff)
        staff.get_by_role("button", name="Ta over samtalen").click()
        expect(staff.get_by_text("Du har tatt over samtalen.")).to_be_visible()
        expect(log).to_contain_text("Du snakker nå med Siri i Bergen kommune.")
        accessible(staff)

        bot_lines = log.locator("li.bot").count()
        staff.get_by_label("Svar til innbyggeren").fill("Hei, jeg heter Siri. Hva gjelder det?")
        staff.get_by_role("button", name="Send svar").click()
        expect(staff.get_by_text("Svaret er sendt.")).to_be_visible()
        person = log.locator("li.caseworker")
        expect(person).to_contain_text("Hei, jeg heter Siri. Hva gjelder det?")

        field.fill("det gjelder fakturaen min")
        field.press("Enter")
        # The caseworker's transcript refreshes itself and announces the new message.
        expect(staff.locator("#transcript")).to_contain_text("det gjelder fakturaen min",
                                                             timeout=15000)
        expect(staff.locator("#staff-live")).to_contain_text("det gjelder fakturaen min")
        citizen.wait_for_timeout(1500)
        assert log.locator("li.bot").count() == bot_lines  # the bot stayed silent
        accessible(staff)
        staff.screenshot(path=str(DOCS / "workspace-conversation.png"))

        staff.get_by_role("button", name="Gi samtalen tilbake til assistenten").click()
        expect(staff.get_by_text("Samtalen er gitt tilbake til assistenten.")).to_be_visible()
        expect(log).to_contain_text("Du snakker nå med assistenten igjen.")
        field.fill("hjelp")
        field.press("Enter")
        expect(log).to_contain_text("BREV - se nye brev")
        assert log.locator("li.bot").count() > bot_lines

        staff.get_by_role("link", name="Gjennomgang").click()
        expect(staff.get_by_role("heading", name="Gjennomgang av samtaler")).to_be_visible()
        expect(staff.locator("#figures")).to_be_visible()
        accessible(staff)
        browser.close()
