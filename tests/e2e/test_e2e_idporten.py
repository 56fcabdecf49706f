"""A person in headless Chromium logs in to the web chat with ID-porten and reads a letter."""
import os

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import KARI
from tests.e2e.conftest import _seed
from tests.idporten_standin import IdPortenStandIn
from tests.e2e.test_e2e_webchat import CHROMIUM, FLAGS, send

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def idp():
    with IdPortenStandIn(client_id="kommune-chat", client_secret="e2e-idp-secret") as standin:
        yield standin


@pytest.fixture(scope="module")
def idporten_stack(tmp_path_factory, trained_model, idp):
    """The real assistant (embedded stores) with ID-porten login against the stand-in."""
    from tests.stack import RunningAssistant

    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith("TWILIO_")}
    env.update(ASSISTANT_ENV="demo", TWILIO_AUTH_TOKEN="embedded-twilio-auth-token",
               IDPORTEN_ISSUER=idp.issuer, IDPORTEN_CLIENT_ID=idp.client_id,
               IDPORTEN_CLIENT_SECRET=idp.client_secret)
    assistant = RunningAssistant(tmp_path_factory.mktemp("stack-idporten"), trained_model, env)
    idp.redirect_uris.append(f"{assistant.runtime.settings.portal_public_url}/idporten/callback")
    _seed(assistant)
    yield assistant.start()
    assistant.stop()


@pytest.fixture
def page(idporten_stack):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(locale="nb-NO")
        yield page
        browser.close()


def test_login_with_idporten_in_the_browser(page, idporten_stack, idp):
    idp.person = KARI
    chat = f"{idporten_stack.runtime.rasa_url}/webhooks/webchat/"
    page.goto(chat)
    expect(page.get_by_role("status")).to_have_text("Tilkoblet.")
    ticket = page.evaluate("() => sessionStorage.getItem('assistant-webchat-ticket')")

    page.get_by_role("link", name="Logg inn med ID-porten").click()
    page.wait_for_url(chat)
    expect(page.get_by_role("status")).to_have_text("Tilkoblet.")
    # The same conversation, resumed: the login belongs to it.
    resumed = page.evaluate("() => sessionStorage.getItem('assistant-webchat-ticket')")
    assert resumed.split(".")[0] == ticket.split(".")[0]  # a fresh ticket, the same conversation
    log = page.get_by_role("log")
    expect(log).to_contain_text("Du er logget inn med ID-porten, Kari.", timeout=30_000)
    assert idp.issued[-1]["acr"] == "idporten-loa-substantial"
    # The bot asks the portal, so "brev" lists her letters without asking for a fødselsnummer.
    send(page, "brev")
    expect(log).to_contain_text("Feievarsel for Fjellveien 12", timeout=30_000)
    assert "fødselsnummer" not in log.inner_text().rpartition("Du er logget inn")[2]
    slots = idporten_stack.tracker(ticket.split(".")[0])["slots"]
    assert slots["logged_in"] is True and slots["first_name"] == "Kari"


def test_a_refused_login_is_explained_and_leads_back(page, idporten_stack, idp):
    idp.person = KARI
    chat = f"{idporten_stack.runtime.rasa_url}/webhooks/webchat/"
    page.goto(chat)
    expect(page.get_by_role("status")).to_have_text("Tilkoblet.")
    idp.next_claims = {"acr": "idporten-loa-low"}
    page.get_by_role("link", name="Logg inn med ID-porten").click()
    expect(page.get_by_role("alert")).to_contain_text("for lavt sikkerhetsnivå")
    page.get_by_role("link", name="Tilbake til chatten").click()
    page.wait_for_url(chat)
    send(page, "brev")
    expect(page.get_by_role("log")).to_contain_text("fødselsnummer")
