"""The admin training pages in real Chromium with axe-core (0 violations): annotating the NLU
inbox with keyboard shortcuts (focus moves to the next message, each label is announced), the
models page with a running job's progress bar, the side-by-side comparison, and an evaluation
followed on it while it runs (polled, its end announced, the focus kept)."""
from __future__ import annotations


from playwright.sync_api import expect
from sqlalchemy import select

from portal.models import NluAnnotation
from tests.admin_fixtures import (FNR_TEXT, active_and_candidate, add_evaluation, add_version,
                                  citizen_messages, make_active, running_job, staff_pair)
from tests.e2e.test_staff_browser import DOCS, accessible, browser, log_in_page, new_page  # noqa: F401
from tests.e2e.test_staff_browser import portal_url  # noqa: F401
from tests.redis_fixtures import clean_redis, settings  # noqa: F401 - fixtures


expect.set_options(timeout=15_000)  # a 2-core machine shared with other test runs


def logged_in_admin(browser, portal_url, app, clock):  # noqa: F811
    admin, _ = staff_pair(app, clock)
    page = new_page(browser)
    log_in_page(page, portal_url, admin, clock)
    return page, admin


def focused_row(page) -> str:
    return page.evaluate("document.activeElement.closest('tr') && "
                         "document.activeElement.closest('tr').id")


def test_annotating_the_inbox_with_the_keyboard(browser, portal_url, app, clock, db,  # noqa: F811
                                                database_url):
    ids = citizen_messages(db)
    db.rollback()
    page, _ = logged_in_admin(browser, portal_url, app, clock)
    page.get_by_role("link", name="Meldinger å lære av").click()
    expect(page.get_by_role("heading", name="Meldinger å lære av", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="3 ulike tekster")).to_be_visible()
    expect(page.get_by_text("mitt fødselsnummer er [fødselsnummer] hjelp")).to_be_visible()
    accessible(page)
    if "sqlite" in database_url:
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / "admin-nlu-inbox.png"), full_page=True)

    page.locator("body").press("j")
    assert focused_row(page) == f"msg-{ids['fnr']}"
    page.keyboard.press("c")  # confirm "help"
    expect(page.locator("#staff-live")).to_have_text(
        "«mitt fødselsnummer er [fødselsnummer] hjelp» er merket help.")
    expect(page.locator(f"#msg-{ids['fnr']} .admin-label")).to_contain_text("help")
    expect(page.locator("#nlu-inbox")).not_to_have_attribute("aria-busy", "true")
    expect(page.locator(f"#msg-{ids['hei']}")).to_be_focused()

    page.keyboard.press("2")  # the second intent of the list: affirm
    expect(page.locator("#staff-live")).to_have_text("«hei» er merket affirm.")
    expect(page.locator(f"#msg-{ids['rekning_sms']}")).to_be_focused()
    page.keyboard.press("o")
    expect(page.locator("#staff-live")).to_have_text("«kor e rekninga mi» er merket Utenfor tema.")
    expect(page.locator("#nlu-inbox")).not_to_have_attribute("aria-busy", "true")
    expect(page.locator(f"#msg-{ids['rekning_sms']}")).to_be_focused()  # the last row stays
    page.keyboard.press("k")
    expect(page.locator(f"#msg-{ids['hei']}")).to_be_focused()
    page.keyboard.press("i")
    expect(page.locator("#staff-live")).to_have_text("«hei» er merket Ignorert.")
    accessible(page)
    page.keyboard.press("/")
    expect(page.get_by_label("Sikkerhet under")).to_be_focused()
    page.keyboard.type("0.5")  # typing in the filter is not a shortcut
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="1 ulike tekster")).to_be_visible()
    accessible(page)

    labels = {a.text: a.intent for a in db.execute(select(NluAnnotation)).scalars()}
    db.rollback()
    assert labels == {FNR_TEXT: "help", "hei": None, "kor e rekninga mi": "out_of_scope"}


def test_models_page_and_comparison(browser, portal_url, app, clock, db, settings,  # noqa: F811
                                    database_url):
    models_dir = settings.var_dir / "models"
    old = add_version(db, models_dir, "bot-aaaa1111")
    make_active(db, old)
    candidate = add_version(db, models_dir, "candidate-2-bbbb2222")
    add_evaluation(db, candidate, old, worse=True)
    db.commit()
    candidate_id = candidate.id
    db.rollback()
    page, admin = logged_in_admin(browser, portal_url, app, clock)
    with running_job(app, clock, admin.id) as job_id:
        page.get_by_role("link", name="Modeller").click()
        bar = page.get_by_role("progressbar", name=f"Fremdrift for trening {job_id}")
        expect(bar).to_have_attribute("aria-valuenow", "42")
        accessible(page)
        page.get_by_role("button", name="Tren ny modell").click()
        expect(page.get_by_text(f"Trening {job_id} pågår allerede.")).to_be_visible()
        accessible(page)
    # The runner is gone: the polling region shows the failure and announces it.
    expect(page.locator("#train-job-error")).to_contain_text("Treningen feilet:", timeout=15000)
    expect(page.locator("#staff-live")).to_contain_text("Treningen feilet:")

    page.get_by_role("link", name=f"Sammenlign versjon {candidate_id}").click()
    expect(page.get_by_text("Den nye versjonen er dårligere enn modellen i bruk.")).to_be_visible()
    expect(page.get_by_role("row", name="koble meg til skranken human_handoff out_of_scope "
                                         "human_handoff")).to_be_visible()
    expect(page.get_by_label("Begrunnelse")).to_be_visible()
    accessible(page)
    if "sqlite" in database_url:
        page.screenshot(path=str(DOCS / "admin-comparison.png"), full_page=True)
    page.get_by_role("button", name=f"Ta i bruk versjon {candidate_id}").click()
    # The browser's own check stops an empty reason; the page is unchanged and accessible.
    expect(page.get_by_label("Begrunnelse")).to_be_focused()
    accessible(page)


def test_an_evaluation_is_followed_on_the_comparison_page(browser, portal_url, app, clock,  # noqa: F811
                                                          db, settings, database_url):
    _, candidate_id = active_and_candidate(db, settings.var_dir / "models")
    page, admin = logged_in_admin(browser, portal_url, app, clock)
    log = page.locator("#evaluate-job-log")
    with running_job(app, clock, admin.id, version_id=candidate_id) as job_id:
        page.goto(f"{portal_url}/staff/admin/models/{candidate_id}")
        bar = page.get_by_role("progressbar", name=f"Fremdrift for vurdering {job_id}")
        expect(bar).to_have_attribute("aria-valuenow", "42")
        expect(page.get_by_text("Vurderingen pågår.")).to_be_visible()
        expect(page.get_by_role("button", name="Vurder mot modellen i bruk")).to_have_count(0)
        page.get_by_text("Logg (siste linjer)").click()
        log.focus()
        with page.expect_response(lambda r: f"/staff/admin/jobs/{job_id}" in r.url):
            pass  # a poll replaces the status and the log's text
        expect(log).to_be_focused()
        accessible(page)
        if "sqlite" in database_url:
            page.screenshot(path=str(DOCS / "admin-evaluation-running.png"), full_page=True)
    # The runner is gone: the next poll shows the failure and announces it; the actions come
    # back, and the focus stays where it was.
    expect(page.locator("#evaluate-job-error")).to_contain_text("Vurderingen feilet:")
    expect(page.locator("#staff-live")).to_contain_text("Vurderingen feilet:")
    expect(log).to_be_focused()
    evaluate = page.get_by_role("button", name="Vurder mot modellen i bruk")
    expect(evaluate).to_be_visible()
    accessible(page)

    # Through the button: a real runner takes the job and fails on the file (no Rasa model).
    evaluate.click()
    notice = page.locator("#admin-result")
    expect(notice).to_contain_text("er satt i kø")
    expect(notice).to_be_focused()
    expect(page.locator("#evaluate-job-error")).to_contain_text(
        "is not a Rasa model archive: candidate-2-bbbb2222.tar.gz.", timeout=60_000)
    expect(notice).to_be_focused()  # the polls and the result's swap left it there
    expect(evaluate).to_be_visible()
    accessible(page)
