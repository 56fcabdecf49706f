"""A caseworker answers a citizen's written message in real Chromium with the keyboard alone:
Henvendelser in the nav (with its count), the case, a refused empty answer and then a sent one,
each result announced in the live region with the focus on it, and axe-core at 0 violations."""
from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from portal.models import Channel, CitizenCase, Letter
from tests.conftest import KARI, OLA
from tests.e2e.test_staff_browser import DOCS, accessible, browser, log_in_page  # noqa: F401
from tests.e2e.test_staff_browser import new_page, portal_url  # noqa: F401
from tests.staff_helpers import create_staff

expect.set_options(timeout=15_000)  # a 2-core machine shared with other test runs


def tab_to(page, locator, limit: int = 60) -> None:
    """Presses Tab until `locator` has the focus, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if locator.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {locator}")


def test_a_caseworker_answers_a_case_with_the_keyboard(browser, portal_url, app, client,  # noqa: F811
                                                       login, db, demo, clock, database_url):
    letter = db.execute(select(Letter).where(
        Letter.citizen_id == demo[KARI], Letter.title.contains("Feievarsel"))).scalars().first()
    letter_id, title = letter.id, letter.title
    db.rollback()  # ends the read: SQLite takes its write lock at BEGIN
    kari = client.post("/api/v1/me/cases", headers=login(KARI, Channel.SMS), json={
        "text": "Jeg er ikke hjemme torsdag. Kan feiingen flyttes?",
        "reply_to_letter_id": letter_id})
    assert kari.status_code == 201
    ola = client.post("/api/v1/me/cases", headers=login(OLA, Channel.SMS),
                      json={"text": "Hvor leverer jeg hageavfall?"})
    assert ola.status_code == 201
    caseworker = create_staff(app, clock, "siri@bergen.kommune.no", name="Siri Berg")

    page = new_page(browser)
    log_in_page(page, portal_url, caseworker, clock)
    nav = page.get_by_role("link", name="Henvendelser (2 åpne)")
    tab_to(page, nav)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Henvendelser fra innbyggere")).to_be_visible()
    expect(page.get_by_role("heading", name="2 ubesvarte, eldste først")).to_be_visible()
    expect(page.get_by_role("cell", name=title)).to_be_visible()
    accessible(page)
    if "sqlite" in database_url:
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / "staff-cases.png"), full_page=True)

    case_id = kari.json["id"]
    tab_to(page, page.get_by_role("link", name=f"Henvendelse {case_id}", exact=True))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"Henvendelse {case_id}")).to_be_visible()
    expect(page.get_by_text("Fra Kari Nordmann")).to_be_visible()
    accessible(page)

    answer = page.get_by_label("Ditt svar")
    tab_to(page, answer)
    page.keyboard.type("   ")  # passes the browser's `required`, not the portal's rule
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Send svaret")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#staff-live")).to_have_text("Skriv et svar før du sender.")
    expect(answer).to_have_attribute("aria-invalid", "true")
    expect(answer).to_be_focused()
    expect(page.locator("#case-text-error")).to_have_text("Skriv et svar før du sender.")
    accessible(page)  # the error state, tied to its field

    page.keyboard.press("Control+a")
    page.keyboard.type("Vi flytter feiingen til fredag.")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#staff-live")).to_have_text(
        "Svaret er sendt. Innbyggeren får det som brev med varsel på SMS.")
    expect(page.locator("#case-result")).to_be_focused()
    expect(page.get_by_text("Vi flytter feiingen til fredag.")).to_be_visible()
    expect(page.get_by_role("button", name="Send svaret")).to_have_count(0)
    expect(page.get_by_role("link", name="Henvendelser (1 åpne)")).to_be_visible()  # out of band
    accessible(page)
    if "sqlite" in database_url:
        page.screenshot(path=str(DOCS / "staff-case.png"), full_page=True)

    case = db.get(CitizenCase, case_id)
    assert case.status == "answered" and case.answered_by == caseworker.id
    assert db.get(Letter, case.answer_letter_id).body == "Vi flytter feiingen til fredag."
    db.rollback()
