"""A person in headless Chromium logs in through the web chat and reads a letter."""
import re
import shutil

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import KARI, PERSONAL_CODES

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def page(embedded_stack):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(locale="nb-NO")
        yield page
        browser.close()


def send(page, text):
    field = page.get_by_label("Din melding")
    field.fill(text)
    field.press("Enter")


def test_login_and_read_a_letter_with_the_keyboard(page, embedded_stack):
    embedded_stack.reset_demo()
    page.goto(f"{embedded_stack.runtime.rasa_url}/webhooks/webchat/")
    expect(page.get_by_role("status")).to_have_text("Tilkoblet.")
    log = page.get_by_role("log")
    expect(page.get_by_label("Din melding")).to_be_focused()

    send(page, "logg inn")
    expect(log).to_contain_text("fødselsnummer")
    send(page, KARI)
    expect(log).to_contain_text("personlige koden")
    send(page, PERSONAL_CODES[KARI])
    expect(log).to_contain_text("Hvis fødselsnummeret og den personlige koden stemmer")
    code = None
    for _ in range(20):
        messages = embedded_stack.sms_to("+4791234567")
        if messages:
            code = re.search(r"\b(\d{6})\b", messages[0]["body"]).group(1)
            break
        page.wait_for_timeout(250)
    assert code
    send(page, code)
    expect(log).to_contain_text("Hei, Kari!")
    send(page, "brev")
    expect(log).to_contain_text("Feievarsel for Fjellveien 12")
    send(page, "les 1")
    expect(log).to_contain_text("feie pipen din i uke 7")


def test_a_conversation_id_chosen_by_the_browser_is_ignored(page, embedded_stack):
    page.goto(f"{embedded_stack.runtime.rasa_url}/webhooks/webchat/")
    expect(page.get_by_role("status")).to_have_text("Tilkoblet.")
    forged = page.evaluate("""() => new Promise(resolve => {
        const s = io({path: "/socket.io", transports: ["websocket"], forceNew: true});
        s.on("connect", () => s.emit("session_request",
             {session_id: "web-victim", ticket: "web-victim.0000"}));
        s.on("session_confirm", c => resolve(c));
    })""")
    assert forged["session_id"] != "web-victim"
    assert forged["resumed"] is False


def conversation_key(page) -> str:
    ticket = page.evaluate("() => sessionStorage.getItem('assistant-webchat-ticket')")
    return ticket.split(".")[0]


def test_the_web_chat_writes_a_masked_transcript_through_the_portal(page, embedded_stack):
    from portal.bootstrap import Portal
    from portal.clock import Clock
    from portal.conversations import service
    from portal.models import Channel

    page.goto(f"{embedded_stack.runtime.rasa_url}/webhooks/webchat/")
    expect(page.get_by_role("status")).to_have_text("Tilkoblet.")
    log = page.get_by_role("log")
    send(page, "logg inn")
    expect(log).to_contain_text("fødselsnummer")
    send(page, KARI)
    expect(log).to_contain_text("personlige koden")
    send(page, PERSONAL_CODES[KARI])
    expect(log).to_contain_text("Hvis fødselsnummeret og den personlige koden stemmer")
    portal = Portal(embedded_stack.runtime.settings, Clock())
    with portal.sessions() as db:
        conv = service.find_conversation(db, Channel.WEBCHAT, conversation_key(page))
        rows = [(m.direction, m.author, m.text, m.intent, m.entities, m.action, m.status)
                for m in service.transcript(db, conv)]
    portal.close()
    citizen = [r for r in rows if r[1] == "citizen"]
    assert [r[2] for r in citizen] == ["logg inn", "[fødselsnummer]", "[kode]"]
    assert citizen[0][3] == "login" and citizen[1][4] == ["fnr"]
    bot = [r for r in rows if r[1] == "bot"]
    assert bot and all(r[5] and r[6] == "delivered" for r in bot)
    assert all(KARI not in r[2] and PERSONAL_CODES[KARI] not in r[2] for r in rows)


def test_a_person_takes_over_the_web_chat_live_and_hands_back(page, embedded_stack):
    from portal.bootstrap import Portal
    from portal.clock import Clock
    from portal.conversations import service
    from portal.models import Channel

    page.goto(f"{embedded_stack.runtime.rasa_url}/webhooks/webchat/")
    expect(page.get_by_role("status")).to_have_text("Tilkoblet.")
    log = page.get_by_role("log")
    send(page, "hei")
    expect(log).to_contain_text("digitale assistent")
    bot_lines = log.locator("li.bot").count()
    portal = Portal(embedded_stack.runtime.settings, Clock())
    key = conversation_key(page)

    def act(change, *args):
        with portal.sessions() as db:
            conv = service.find_conversation(db, Channel.WEBCHAT, key)
            change(db, portal.settings, conv, *args, portal.clock.now())
            db.commit()

    act(service.take_over, 42, "Ingrid")
    expect(log).to_contain_text("Du snakker nå med Ingrid i Bergen kommune.")
    send(page, "kan du se på fakturaen min?")
    act(service.answer_as_person, 42, "Ja, jeg ser på den nå.")
    person = log.locator("li.caseworker")
    expect(person).to_contain_text("Ja, jeg ser på den nå.")
    expect(person.locator(".who")).to_have_text("Ingrid")
    page.wait_for_timeout(1500)
    assert log.locator("li.bot").count() == bot_lines  # the bot stayed silent
    act(service.hand_back, 42)
    expect(log).to_contain_text("Du snakker nå med assistenten igjen.")
    send(page, "hjelp")
    expect(log).to_contain_text("BREV - se nye brev")
    with portal.sessions() as db:
        conv = service.find_conversation(db, Channel.WEBCHAT, key)
        authors = [(m.author, m.status) for m in service.transcript(db, conv)]
    portal.close()
    assert ("citizen", None) in authors and ("caseworker", "delivered") in authors
    assert [a for a, _ in authors].count("bot") >= 2


def test_the_language_choice_switches_the_bot_and_marks_each_message(page, embedded_stack):
    from axe_playwright_python.sync_playwright import Axe

    page.goto(f"{embedded_stack.runtime.rasa_url}/webhooks/webchat/")
    expect(page.get_by_role("status")).to_have_text("Tilkoblet.")
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    languages = page.get_by_role("group", name="Språk")
    expect(languages.get_by_role("button", name="Bokmål")).to_have_attribute("aria-pressed",
                                                                             "true")
    languages.get_by_role("button", name="English").click()
    log = page.get_by_role("log", name="The conversation")  # the page's own words follow
    expect(log).to_contain_text("OK, I will write in English.")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Chat with Bergen kommune")
    languages = page.get_by_role("group", name="Language")
    expect(languages.get_by_role("button", name="English")).to_have_attribute("aria-pressed",
                                                                             "true")
    reply = log.locator("li.bot").last
    expect(reply).to_have_attribute("lang", "en")
    expect(reply.locator(".who")).to_have_text("The assistant")
    page.get_by_label("Your message").fill("help")
    page.get_by_label("Your message").press("Enter")
    expect(log).to_contain_text("You can write:")
    expect(page.get_by_role("status")).to_have_text("Connected.")
    languages.get_by_role("button", name="Nynorsk").click()
    log = page.get_by_role("log", name="Samtalen")
    expect(log).to_contain_text("Greitt, eg skriv nynorsk.")
    expect(log.locator("li.bot").last).to_have_attribute("lang", "nn")
    expect(page.get_by_label("Meldinga di")).to_be_visible()
    expect(page.locator("#sms-login")).to_have_text("Logg inn med eingongskode på SMS")
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    page.reload()  # the tab keeps the conversation and its language
    expect(page.get_by_role("status")).to_have_text("Tilkopla.")
    expect(page.locator("html")).to_have_attribute("lang", "nn")


def test_the_socket_refuses_a_foreign_origin(embedded_stack):
    import requests

    url = f"{embedded_stack.runtime.rasa_url}/socket.io/?EIO=4&transport=polling"
    own = requests.get(url, headers={"Origin": embedded_stack.runtime.rasa_url}, timeout=10)
    assert own.status_code == 200 and own.text.startswith("0{")  # engine.io open packet
    assert requests.get(url, timeout=10).status_code == 200  # no Origin: not a browser page
    foreign = requests.get(url, headers={"Origin": "https://evil.example"}, timeout=10)
    assert foreign.status_code == 400
