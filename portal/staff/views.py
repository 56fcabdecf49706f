"""The staff workspace pages: login with TOTP, set-up link, enrolment, queue, staff admin."""
from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import segno
from flask import Blueprint, g, redirect, render_template, request, session, url_for

from portal.api.context import get_db, now, portal, settings
from portal.errors import PortalError
from portal.extensions import csrf
from portal.models import StaffMember, StaffRole
from portal.services.audit import record
from portal.staff import accounts, totp, workspace_views
from portal.staff.auth import current_staff, end_session, error_page, staff_login_required
from portal.staff.auth import start_session
from portal.staff.texts import LANGUAGES

bp = Blueprint("staff", __name__, url_prefix="/staff")

PENDING = "staff_pending"  # password checked, TOTP code still to come
ENROL = "staff_enrol"  # password set through a link, TOTP enrolment still to come
ENROL_WINDOW = timedelta(minutes=30)


@bp.before_request
def _protect_forms():
    if request.method == "POST":
        csrf.protect()


def _client() -> str:
    return request.remote_addr or "-"


def _local_time(at: datetime) -> str:
    return at.astimezone(ZoneInfo(settings().timezone)).strftime("%H:%M")


def _backoff_message(exc: PortalError) -> dict:
    wait = int(exc.details.get("retry_after_seconds", 0))
    return {"minutes": wait // 60, "seconds": wait % 60,
            "until": _local_time(now() + timedelta(seconds=wait))}


def _remember(key: str, member: StaffMember) -> None:
    session[key] = {"id": member.id, "epoch": member.session_epoch, "at": now().isoformat()}


def _recall(key: str, window: timedelta):
    """The member a half-finished login or enrolment belongs to, while it is fresh."""
    state = session.get(key)
    if not state:
        return None
    member = get_db().get(StaffMember, state["id"])
    fresh = now() - datetime.fromisoformat(state["at"]) < window
    if member is None or not member.active or member.session_epoch != state["epoch"] or not fresh:
        session.pop(key, None)
        return None
    return member


def _safe_next(target: str) -> str:
    parsed = urlparse(target or "")
    if parsed.scheme or parsed.netloc or not (target or "").startswith("/staff"):
        return url_for("staff.home")
    return target


# --- login ------------------------------------------------------------------------------

@bp.get("/login")
def login():
    return render_template("staff/login.html", email="", error=None,
                           notice=request.args.get("notice"),
                           next_url=_safe_next(request.args.get("next", "")))


@bp.post("/login")
def login_submit():
    email = request.form.get("email", "")
    next_url = _safe_next(request.form.get("next", ""))
    try:
        member = accounts.check_password(get_db(), portal().store, email,
                                         request.form.get("password", ""), client=_client(),
                                         now=now())
    except PortalError as exc:
        status = 429 if exc.code == "login_backoff" else 401
        values = _backoff_message(exc) if exc.code == "login_backoff" else {}
        return render_template("staff/login.html", email=email, error=exc.code,
                               error_values=values, notice=None, next_url=next_url), status
    session.pop(ENROL, None)
    if member.totp_enrolled_at is None:
        _remember(ENROL, member)
        return redirect(url_for("staff.enrol"))
    _remember(PENDING, member)
    session["staff_next"] = next_url
    return redirect(url_for("staff.login_code"))


@bp.get("/login/code")
def login_code():
    if _recall(PENDING, accounts.PENDING_LOGIN) is None:
        return redirect(url_for("staff.login", notice="login_expired"))
    return render_template("staff/code.html", error=None)


@bp.post("/login/code")
def login_code_submit():
    member = _recall(PENDING, accounts.PENDING_LOGIN)
    if member is None:
        return redirect(url_for("staff.login", notice="login_expired"))
    try:
        accounts.check_code(get_db(), portal().store, member, request.form.get("code", ""),
                            client=_client(), now=now(), totp_key=settings().staff_totp_key)
    except PortalError as exc:
        status = 429 if exc.code == "login_backoff" else 401
        values = _backoff_message(exc) if exc.code == "login_backoff" else {}
        return render_template("staff/code.html", error=exc.code,
                               error_values=values), status
    next_url = session.get("staff_next") or url_for("staff.home")
    start_session(member)
    return redirect(_safe_next(next_url))


@bp.post("/logout")
@staff_login_required()
def logout():
    member = current_staff()
    record(get_db(), accounts.actor(member), "staff.logout", at=now(), object_type="staff",
           object_id=member.id)
    get_db().commit()
    end_session()
    return redirect(url_for("staff.login", notice="logged_out"))


@bp.post("/language")
def language():
    lang = request.form.get("lang")
    if lang in LANGUAGES:
        session["staff_lang"] = lang
    return redirect(_safe_next(request.form.get("next", "")))


# --- set-up link and TOTP enrolment ------------------------------------------------------

def _link_or_page(token: str):
    try:
        return accounts.setup_link(get_db(), token, now=now()), None
    except PortalError as exc:
        return None, error_page(exc.status, "error_title", exc.code, login_link=True)


@bp.get("/setup/<token>")
def setup(token: str):
    link, page = _link_or_page(token)
    if page:
        return page
    return render_template("staff/setup.html", member=link.staff, error=None)


@bp.post("/setup/<token>")
def setup_submit(token: str):
    link, page = _link_or_page(token)
    if page:
        return page
    password = request.form.get("password", "")
    if password != request.form.get("password_again", ""):
        return render_template("staff/setup.html", member=link.staff,
                               error="password_mismatch"), 422
    try:
        member = accounts.set_password(get_db(), link, password, now=now(),
                                       totp_key=settings().staff_totp_key)
    except PortalError as exc:
        return render_template("staff/setup.html", member=link.staff, error=exc.code), 422
    end_session()  # whoever was logged in on this browser, the new member starts afresh
    _remember(ENROL, member)
    return redirect(url_for("staff.enrol"))


def _enrol_page(member: StaffMember, error, status: int = 200):
    key = settings().staff_totp_key
    uri = accounts.provisioning_uri(member, settings().municipality_name, key)
    lang = session.get("staff_lang", "nb")
    qr = segno.make(uri, error="m").svg_inline(scale=5, border=2, omitsize=False)
    plain = totp.secret_of(member, key)
    secret = " ".join(plain[i:i + 4] for i in range(0, len(plain), 4))
    return render_template("staff/enrol.html", member=member, qr_svg=qr, secret=secret,
                           error=error, lang=lang), status


@bp.get("/enrol")
def enrol():
    member = _recall(ENROL, ENROL_WINDOW)
    if member is None or member.totp_enrolled_at is not None:
        return redirect(url_for("staff.login", notice="login_expired"))
    return _enrol_page(member, None)


@bp.post("/enrol")
def enrol_submit():
    member = _recall(ENROL, ENROL_WINDOW)
    if member is None or member.totp_enrolled_at is not None:
        return redirect(url_for("staff.login", notice="login_expired"))
    try:
        accounts.confirm_enrolment(get_db(), member, request.form.get("code", ""), now=now(),
                                   totp_key=settings().staff_totp_key)
    except PortalError as exc:
        return _enrol_page(member, exc.code, 401)
    member.last_login_at = now()
    record(get_db(), accounts.actor(member), "staff.login", at=now(), object_type="staff",
           object_id=member.id, detail={"first": True})
    get_db().commit()
    start_session(member)
    return redirect(url_for("staff.home"))


# --- workspace ---------------------------------------------------------------------------

@bp.get("/")
@staff_login_required()
def home():
    context = workspace_views.queue_context(request.args.get("tab", ""))
    return render_template("staff/home.html", staff=current_staff(), **context)


@bp.get("/queue")
@staff_login_required()
def queue():
    """The queue region alone, for htmx's periodic refresh; a changed count is announced."""
    context = workspace_views.queue_context(request.args.get("tab", ""))
    return render_template("staff/_queue.html", announce=workspace_views.queue_announcement(
        context), **context)


# --- staff administration ----------------------------------------------------------------

def _staff_page(status: int = 200, **extra):
    return render_template("staff/admin_staff.html", staff=current_staff(),
                           members=accounts.list_staff(get_db()),
                           roles=[r.value for r in StaffRole], form=extra.pop("form", {}),
                           **extra), status


@bp.get("/admin/staff")
@staff_login_required(role="admin")
def staff_list():
    return _staff_page()


@bp.post("/admin/staff")
@staff_login_required(role="admin")
def staff_add():
    form = {k: request.form.get(k, "") for k in ("email", "name", "role")}
    if form["role"] not in [r.value for r in StaffRole]:
        return _staff_page(422, form=form, error="invalid_role", error_field="role")
    try:
        member, token = accounts.add(get_db(), email=form["email"], name=form["name"],
                                     role=StaffRole(form["role"]), now=now(),
                                     link_hours=settings().staff_setup_link_hours,
                                     by=accounts.actor(current_staff()))
    except PortalError as exc:
        field = {"invalid_email": "email", "staff_exists": "email",
                 "invalid_name": "name"}.get(exc.code, "email")
        return _staff_page(exc.status, form=form, error=exc.code, error_field=field)
    link = url_for("staff.setup", token=token, _external=True)  # where the admin reached us
    return _staff_page(201, added=member, setup_link=link,
                       hours=settings().staff_setup_link_hours)


@bp.post("/admin/staff/<int:staff_id>/disable")
@staff_login_required(role="admin")
def staff_disable(staff_id: int):
    member = get_db().get(StaffMember, staff_id) if staff_id < 2 ** 31 else None
    if member is None:
        return error_page(404, "error_title", "staff_not_found")
    if member.id == current_staff().id:
        return _staff_page(409, error="cannot_disable_self")
    try:
        accounts.disable(get_db(), member, now=now(), by=accounts.actor(current_staff()))
    except PortalError as exc:
        return _staff_page(exc.status, error=exc.code)
    return _staff_page(disabled=member)
