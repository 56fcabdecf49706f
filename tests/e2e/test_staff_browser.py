"""Staff in real Chromium: set-up link, password, TOTP enrolment, login, workspace and staff
administration, with axe-core on every page (0 violations)."""
from __future__ import annotations

import re
import shutil

import pyotp
import pytest
from axe_playwright_python.sync_playwright import Axe
from click.testing import CliRunner
from playwright.sync_api import expect, sync_playwright

from assistant.cli import main
from portal.config import PROJECT_ROOT
from tests.conftest import serve
from tests.staff_helpers import PASSWORD, create_staff

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
AXE = Axe()
DOCS = PROJECT_ROOT / "docs"


@pytest.fixture
def portal_url(app):
    with serve(app) as url:
        yield url


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def new_page(browser):
    return browser.new_context(locale="nb-NO", viewport={"width": 1100, "height": 760}).new_page()


def accessible(page) -> None:
    results = AXE.run(page)
    assert results.violations_count == 0, results.generate_report()


def enter_code(page, secret: str, clock, button: str) -> None:
    page.get_by_label("Engangskode (6 sifre)").fill(pyotp.TOTP(secret).at(clock.now()))
    page.get_by_role("button", name=button).click()
    clock.advance(seconds=30)


def log_in_page(page, portal_url: str, account, clock) -> None:
    """Password then the TOTP code on the real login page."""
    page.goto(f"{portal_url}/staff/login")
    page.get_by_label("E-postadresse").fill(account.email)
    page.get_by_label("Passord", exact=True).fill(account.password)
    page.get_by_role("button", name="Fortsett").click()
    enter_code(page, account.secret, clock, "Logg inn")


def set_up_account(page, link: str, clock) -> None:
    page.goto(link)
    expect(page.get_by_role("heading", name="Velg passord")).to_be_visible()
    accessible(page)
    page.get_by_label("Nytt passord").fill("kort")
    page.get_by_label("Gjenta passordet").fill("kort")
    page.get_by_role("button", name="Lagre passord").click()
    expect(page.get_by_label("Nytt passord")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#password-error")).to_have_text("Passordet må ha minst 12 tegn.")
    accessible(page)  # the error state, tied to its field
    page.get_by_label("Nytt passord").fill(PASSWORD)
    page.get_by_label("Gjenta passordet").fill(PASSWORD)
    page.get_by_role("button", name="Lagre passord").click()

    expect(page.get_by_role("heading", name="Sett opp autentiseringsapp")).to_be_visible()
    expect(page.get_by_role("img", name="QR-kode for autentiseringsappen")).to_be_visible()
    accessible(page)
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    enter_code(page, secret, clock, "Bekreft")
    return secret


def test_set_up_enrol_log_out_and_log_in(browser, portal_url, app, clock, database_url,
                                         tmp_path, monkeypatch):
    monkeypatch.setattr("portal.bootstrap.Clock", lambda: clock)
    result = CliRunner().invoke(main, ["staff", "add", "siri@bergen.kommune.no", "--name",
                                       "Siri Berg", "--role", "caseworker"],
                                env={"DATABASE_URL": database_url, "ASSISTANT_ENV": "test",
                                     "ASSISTANT_VAR_DIR": str(tmp_path / "cli"),
                                     "PORTAL_PUBLIC_URL": portal_url},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    link = re.search(r"http://\S+/staff/setup/\S+", result.output).group(0)

    page = new_page(browser)
    secret = set_up_account(page, link, clock)

    expect(page.get_by_role("heading", name="Samtaler som venter")).to_be_visible()
    expect(page.get_by_text("Ingen samtaler venter")).to_be_visible()
    expect(page.get_by_text("Innlogget som Siri Berg (Saksbehandler)")).to_be_visible()
    expect(page.get_by_role("link", name="Ansatte")).to_have_count(0)
    accessible(page)
    if "sqlite" in database_url:
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / "staff-home.png"))

    # The keyboard: the first Tab reaches the skip link, which moves focus to the content.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Hopp til hovedinnhold")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()

    # An htmx refresh of the queue keeps the focus where it was and announces a changed count.
    logout = page.get_by_role("button", name="Logg ut")
    logout.focus()
    page.evaluate("htmx.ajax('GET', '/staff/queue?seen=2', {target: '#queue', swap: 'innerHTML'})")
    expect(page.locator("#staff-live")).to_have_text("0 samtaler venter.")
    expect(logout).to_be_focused()
    expect(page.get_by_text("Ingen samtaler venter")).to_be_visible()
    accessible(page)

    logout.click()
    expect(page.get_by_text("Du er logget ut.")).to_be_visible()
    accessible(page)
    if "sqlite" in database_url:
        page.screenshot(path=str(DOCS / "staff-login.png"))

    page.get_by_label("E-postadresse").fill("siri@bergen.kommune.no")
    page.get_by_label("Passord", exact=True).fill("feil-passord-igjen")
    page.get_by_role("button", name="Fortsett").click()
    expect(page.get_by_label("E-postadresse")).to_have_attribute("aria-invalid", "true")
    accessible(page)
    page.get_by_label("Passord", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Fortsett").click()
    expect(page.get_by_role("heading", name="Kode fra autentiseringsappen")).to_be_visible()
    accessible(page)
    enter_code(page, secret, clock, "Logg inn")
    expect(page.get_by_text("Ingen samtaler venter")).to_be_visible()

    # English on request, kept for the session.
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_text("No conversations waiting")).to_be_visible()
    accessible(page)


def test_an_admin_adds_and_disables_a_caseworker(browser, portal_url, app, clock):
    admin = create_staff(app, clock, "anne@bergen.kommune.no", role="admin", name="Anne Admin")
    page = new_page(browser)
    page.goto(f"{portal_url}/staff/")
    expect(page.get_by_role("heading", name="Du må logge inn")).to_be_visible()
    accessible(page)
    page.get_by_role("link", name="Gå til innlogging").click()
    page.get_by_label("E-postadresse").fill(admin.email)
    page.get_by_label("Passord", exact=True).fill(admin.password)
    page.get_by_role("button", name="Fortsett").click()
    enter_code(page, admin.secret, clock, "Logg inn")

    page.get_by_role("link", name="Ansatte").click()
    expect(page.get_by_role("heading", name="Ansatte", exact=True)).to_be_visible()
    accessible(page)
    page.get_by_label("Navn").fill("Nils Ny")
    page.get_by_label("E-postadresse").fill("nils@bergen.kommune.no")
    page.get_by_label("Rolle").select_option("caseworker")
    page.get_by_role("button", name="Legg til").click()
    expect(page.get_by_text("Nils Ny er lagt til.")).to_be_visible()
    expect(page.locator("#staff-result")).to_be_focused()  # after the swap settles
    accessible(page)
    link = page.locator("#setup-link").inner_text().strip()

    nils = new_page(browser)
    set_up_account(nils, link, clock)
    expect(nils.get_by_text("Innlogget som Nils Ny (Saksbehandler)")).to_be_visible()
    expect(nils.get_by_role("link", name="Ansatte")).to_have_count(0)
    nils.goto(f"{portal_url}/staff/admin/staff")
    expect(nils.get_by_role("heading", name="Ingen tilgang")).to_be_visible()
    accessible(nils)

    page.goto(f"{portal_url}/staff/admin/staff")
    page.get_by_role("button", name="Deaktiver Nils Ny").click()
    expect(page.get_by_text("Nils Ny er deaktivert.")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("Nils Ny.*Deaktivert"))).to_be_visible()
    accessible(page)

    nils.goto(f"{portal_url}/staff/")
    expect(nils.get_by_role("heading", name="Du må logge inn")).to_be_visible()
