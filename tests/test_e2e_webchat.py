"""A person in headless Chromium logs in through the web chat and reads a letter."""
import re
import shutil

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import KARI

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
    expect(log).to_contain_text("Hvis nummeret er registrert")
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
