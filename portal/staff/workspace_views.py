"""The caseworker workspace pages: queue tabs, conversation view (take over, reply, hand back,
close, tags, notes, reviewed) and review search with weekly figures."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, redirect, render_template, request, url_for
from marshmallow import ValidationError

from portal.api.context import get_db, now, portal, settings
from portal.conversations import workspace
from portal.errors import NotFound, PortalError
from portal.services import retention
from portal.staff.auth import current_staff, error_page, staff_login_required, translate
from portal.staff.conversations_api import QuerySchema

bp = Blueprint("workspace", __name__, url_prefix="/staff")
TABS = (workspace.WAITING, workspace.MINE, workspace.LIVE)
DONE = ("claimed", "sent", "released", "closed", "held", "hold_lifted")
REVIEW_FILTERS = ("q", "channel", "language", "logged_in", "handoff", "unsure", "reviewed",
                  "intent", "tag")


def local(at: datetime, fmt: str = "%d.%m.%Y %H:%M") -> str:
    return at.astimezone(ZoneInfo(settings().timezone)).strftime(fmt)


@bp.app_template_filter("staff_time")
def _staff_time(at, fmt: str = "%d.%m.%Y %H:%M") -> str:
    return local(at, fmt) if at else ""


# --- queue -------------------------------------------------------------------------------------

def queue_context(tab: str) -> dict:
    """The queue of one tab; taken conversations past the claim timeout go back first."""
    db = get_db()
    tab = tab if tab in TABS else workspace.WAITING
    workspace.expire_claims(db, settings(), now())
    page = workspace.search(db, current_staff(), workspace.Filters(status=tab), now(),
                            per_page=workspace.MAX_PER_PAGE)
    db.commit()
    return {"conversations": page.items, "tab": tab, "tabs": TABS, "at": now(),
            "updated": local(now(), "%H:%M")}


def queue_announcement(context: dict) -> str | None:
    """Announced in the aria-live region when the tab's count changed since the last poll."""
    seen = request.args.get("seen", "")
    count = len(context["conversations"])
    if seen.isdigit() and int(seen) != count:
        return translate("queue_count", count=count)
    return None


# --- conversation view ---------------------------------------------------------------------------

def _conversation(conversation_id: int):
    try:
        return workspace.get(get_db(), conversation_id)
    except NotFound:
        return None


def _view(conversation, status: int = 200, error: str | None = None, holder: str | None = None,
          form: dict | None = None):
    db = get_db()
    detail = workspace.read(db, portal().store, current_staff(), conversation, now())
    db.commit()
    done = request.args.get("done")
    return render_template("staff/conversation.html", staff=current_staff(), d=detail,
                           c=conversation, done=done if done in DONE else None, error=error,
                           holder=holder, form=form or {},
                           mine=conversation.owner_staff_id == current_staff().id,
                           retention_days=settings().conversation_retention_days,
                           at=now(), updated=local(now(), "%H:%M")), status


@bp.get("/conversations/<int:conversation_id>")
@staff_login_required()
def conversation(conversation_id: int):
    found = _conversation(conversation_id)
    if found is None:
        return error_page(404, "error_title", "conversation_not_found")
    return _view(found)


@bp.get("/conversations/<int:conversation_id>/transcript")
@staff_login_required()
def transcript(conversation_id: int):
    """The transcript region alone, for htmx's periodic refresh; new messages are announced."""
    found = _conversation(conversation_id)
    if found is None:
        return error_page(404, "error_title", "conversation_not_found")
    db = get_db()
    detail = workspace.read(db, portal().store, current_staff(), found, now())
    db.commit()
    seen = request.args.get("seen", "")
    count = len(detail.messages)
    announce = None
    if seen.isdigit() and int(seen) < count:
        newest = detail.messages[-1]
        announce = f"{_author(newest)}: {newest.text}"
    return render_template("staff/_transcript.html", d=detail, c=found, announce=announce,
                           updated=local(now(), "%H:%M"))


def _author(message) -> str:
    if message.author == "caseworker":
        return translate("author_caseworker", name=message.staff_name or "")
    return translate("author_" + message.author)


def _act(conversation_id: int, action, done: str, form: dict | None = None):
    """Runs one change; success redirects to the view, a refusal shows it on the page."""
    found = _conversation(conversation_id)
    if found is None:
        return error_page(404, "error_title", "conversation_not_found")
    db = get_db()
    try:
        action(db, found)
    except PortalError as exc:
        db.rollback()
        return _view(found, exc.status, exc.code, exc.details.get("holder"), form)
    db.commit()
    return redirect(url_for("workspace.conversation", conversation_id=conversation_id,
                            done=done) + (f"#{done}" if done else ""))


@bp.post("/conversations/<int:conversation_id>/claim")
@staff_login_required()
def claim(conversation_id: int):
    reassign = request.form.get("reassign") == "1"
    return _act(conversation_id, lambda db, c: workspace.claim(
        db, settings(), c, current_staff(), now(), reassign=reassign), "claimed")


@bp.post("/conversations/<int:conversation_id>/messages")
@staff_login_required()
def send(conversation_id: int):
    text = request.form.get("text", "")
    return _act(conversation_id, lambda db, c: workspace.reply(
        db, settings(), portal().store, c, current_staff(), text, now()), "sent",
        form={"text": text})


@bp.post("/conversations/<int:conversation_id>/release")
@staff_login_required()
def release(conversation_id: int):
    return _act(conversation_id, lambda db, c: workspace.release(
        db, settings(), c, current_staff(), now()), "released")


@bp.post("/conversations/<int:conversation_id>/close")
@staff_login_required()
def close(conversation_id: int):
    return _act(conversation_id, lambda db, c: workspace.close(
        db, settings(), c, current_staff(), now()), "closed")


@bp.post("/conversations/<int:conversation_id>/tags")
@staff_login_required()
def tags(conversation_id: int):
    add = [request.form["tag"]] if "tag" in request.form else []
    remove = [request.form["remove"]] if "remove" in request.form else []
    return _act(conversation_id, lambda db, c: workspace.set_tags(
        db, c, current_staff(), add, remove, now()), "", form={"tag": request.form.get("tag")})


@bp.post("/conversations/<int:conversation_id>/notes")
@staff_login_required()
def notes(conversation_id: int):
    text = request.form.get("text", "")
    return _act(conversation_id, lambda db, c: workspace.add_note(
        db, c, current_staff(), text, now()), "", form={"note": text})


@bp.post("/conversations/<int:conversation_id>/reviewed")
@staff_login_required()
def reviewed(conversation_id: int):
    mark = request.form.get("reviewed") == "1"
    return _act(conversation_id, lambda db, c: workspace.set_reviewed(
        db, c, current_staff(), mark, now()), "")


@bp.post("/conversations/<int:conversation_id>/hold")
@staff_login_required()
def hold(conversation_id: int):
    reason = request.form.get("reason", "")
    return _act(conversation_id, lambda db, c: retention.hold(
        db, c, current_staff(), reason, now()), "held", form={"reason": reason})


@bp.post("/conversations/<int:conversation_id>/hold/lift")
@staff_login_required()
def lift_hold(conversation_id: int):
    return _act(conversation_id, lambda db, c: retention.lift_hold(
        db, c, current_staff(), now()), "hold_lifted")


# --- review ----------------------------------------------------------------------------------

def _day(value: str, field: str):
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise ValidationError({field: ["Not a date."]})
    return day.replace(tzinfo=ZoneInfo(settings().timezone))


@bp.get("/review")
@staff_login_required()
def review():
    args = {k: v for k, v in request.args.items() if v != ""}
    form = dict(args)
    error = None
    try:
        since = _day(args.pop("from"), "from") if "from" in args else None
        until = _day(args.pop("to"), "to") + timedelta(days=1) if "to" in args else None
        query = QuerySchema().load({k: v for k, v in args.items()
                                    if k in REVIEW_FILTERS + ("page",)})
    except ValidationError as exc:
        error = ", ".join(sorted(exc.messages))
        since = until = None
        query = {"page": 1, "per_page": 20}
    db = get_db()
    if error:
        return render_template("staff/review.html", staff=current_staff(), form=form,
                               error=error, result=None, weeks=[], args={}), 422
    page_number, per_page = query.pop("page"), query.pop("per_page")
    filters = workspace.Filters(since=since, until=until, **query)
    result = workspace.search(db, current_staff(), filters, now(), page=page_number,
                              per_page=per_page)
    to = until or now() + timedelta(days=1)
    weeks = workspace.weekly(db, current_staff(), since or to - timedelta(weeks=8), to, now())
    db.commit()
    keep = {k: v for k, v in request.args.items() if v != "" and k != "page"}
    return render_template("staff/review.html", staff=current_staff(), form=form, error=None,
                           result=result, weeks=weeks, args=keep)
