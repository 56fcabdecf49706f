"""The caseworker's pages for citizens' written messages ("Henvendelser"): the unanswered and
answered lists, one case, and its answer form (htmx, with a plain-form fallback)."""
from __future__ import annotations

from typing import Optional

from flask import Blueprint, redirect, render_template, request, url_for

from portal.api.context import get_db, now, portal, settings
from portal.errors import NotFound, PortalError
from portal.services import case_details, cases
from portal.staff import accounts
from portal.staff.auth import current_staff, error_page, is_htmx, staff_login_required, translate

bp = Blueprint("case_pages", __name__, url_prefix="/staff/cases")
TABS = (cases.OPEN, cases.ANSWERED)
PER_PAGE = 50
MAX_PAGE = 10_000
REFUSALS = {"empty_message": "case_empty_answer", "message_too_long": "case_answer_too_long",
            "invalid_text": "case_invalid_answer", "case_answered": "case_answered"}


@bp.app_context_processor
def _open_case_count():
    """The nav's count of unanswered cases, queried only where a page shows the nav."""
    return {"open_case_count": lambda: cases.count_cases(get_db())}


@bp.app_template_filter("waited")
def _waited(minutes: int) -> str:
    if minutes < 60:
        return translate("minutes", n=minutes)
    hours = minutes // 60
    if hours < 24:
        return translate("waited_hours", h=hours, m=minutes % 60)
    return translate("waited_days", d=hours // 24, h=hours % 24)


def _actor():
    return accounts.actor(current_staff())


@bp.get("")
@staff_login_required()
def case_list():
    tab = request.args.get("tab")
    tab = tab if tab in TABS else cases.OPEN
    page = request.args.get("page", "1")
    page = min(int(page), MAX_PAGE) if page.isdigit() and int(page) > 0 else 1
    db = get_db()
    total = cases.count_cases(db, tab)
    pages = max(1, -(-total // PER_PAGE))
    page = min(page, pages)
    rows = cases.list_cases(db, actor=_actor(), now=now(), status=tab, limit=PER_PAGE,
                            offset=(page - 1) * PER_PAGE, newest_first=tab == cases.ANSWERED)
    shown = case_details.details(db, rows)
    db.commit()
    return render_template("staff/cases.html", staff=current_staff(), cases=shown, tab=tab,
                           tabs=TABS, at=now(), total=total, page=page, pages=pages)


def _message(error: Optional[str], detail) -> Optional[str]:
    """The page's words for a refused answer."""
    if error is None:
        return None
    if error == "case_answered" and detail.answered_by:
        return translate("case_answered_by_name", name=detail.answered_by)
    return translate(REFUSALS.get(error, "error_title"), max=cases.MAX_BODY)


def _render(case_id: int, status: int = 200, *, error: Optional[str] = None, text: str = "",
            done: Optional[str] = None):
    """The case page, or for htmx its answer region; every case shown is an audited read."""
    db = get_db()
    try:
        row = cases.read_case(db, case_id, actor=_actor(), now=now())
    except NotFound:
        return error_page(404, "error_title", "case_not_found")
    detail = case_details.detail(db, row)
    db.commit()
    message = _message(error, detail)
    context = {"d": detail, "error": error, "message": message, "text": text, "done": done,
               "at": now(), "max_length": cases.MAX_BODY}
    if is_htmx():
        announce = message or (translate("case_sent") if done else None)
        return render_template("staff/_case_answer.html", announce=announce, **context), status
    return render_template("staff/case.html", staff=current_staff(), **context), status


@bp.get("/<int:case_id>")
@staff_login_required()
def case(case_id: int):
    done = request.args.get("done")
    return _render(case_id, done="answered" if done == "answered" else None)


@bp.post("/<int:case_id>/answer")
@staff_login_required()
def answer(case_id: int):
    """Answers as a letter with its SMS notice; a refusal is shown next to the field."""
    text = request.form.get("text", "")
    db = get_db()
    member = current_staff()
    try:
        cases.answer_and_notify(db, settings(), portal().notifier, case_id, staff_id=member.id,
                                text=text, now=now(), actor=_actor())
    except NotFound:
        db.rollback()
        return error_page(404, "error_title", "case_not_found")
    except PortalError as exc:
        db.rollback()
        return _render(case_id, exc.status, error=exc.code, text=text)
    if not is_htmx():
        return redirect(url_for("case_pages.case", case_id=case_id, done="answered")
                        + "#case-result", 303)
    return _render(case_id, done="answered")
