"""Guards for staff pages (Flask-Login session) and the staff JSON API (bearer token).

A page session is valid while the account is active, its session epoch is unchanged (disabling
bumps it) and the server-side last-activity mark in the key-value store is under the idle limit.
"""
from __future__ import annotations

import functools
import secrets
from datetime import datetime
from typing import Callable, Optional

from flask import Flask, g, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError

from portal.api.context import get_db, now, portal, settings
from portal.errors import Forbidden, Unauthorized
from portal.extensions import csrf, login_manager
from portal.models import StaffMember, StaffRole
from portal.services.audit import record
from portal.staff import accounts
from portal.staff.texts import DEFAULT, LANGUAGES, text

ROLE_RANK = {StaffRole.CASEWORKER: 1, StaffRole.ADMIN: 2}
SEEN_KEY = "staff:seen:"


class StaffUser:
    """Flask-Login's view of a staff member; the id carries the session epoch."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, member: StaffMember):
        self.member = member

    def get_id(self) -> str:
        return f"{self.member.id}:{self.member.session_epoch}"


def init_app(app: Flask) -> None:
    """Binds Flask-Login and CSRF (checked only where the staff pages ask for it)."""
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the session's idle limit governs
    login_manager.init_app(app)
    csrf.init_app(app)
    app.jinja_env.globals.update(t=translate, current_lang=current_lang)

    @app.context_processor
    def _municipality():
        return {"municipality": settings().municipality_name}

    @app.errorhandler(CSRFError)
    def _csrf_failed(_exc):  # on any staff page, not only this package's blueprint
        return error_page(400, "error_title", "csrf")


@login_manager.user_loader
def _load(user_id: str) -> Optional[StaffUser]:
    staff_id, _, epoch = user_id.partition(":")
    if not staff_id.isdigit() or not epoch.isdigit():
        return None
    member = get_db().get(StaffMember, int(staff_id))
    if member is None or not member.active or member.session_epoch != int(epoch):
        return None
    return StaffUser(member)


def current_lang() -> str:
    lang = session.get("staff_lang")
    return lang if lang in LANGUAGES else DEFAULT


def translate(key: str, **values) -> str:
    return text(current_lang(), key, **values)


def _seen_ttl() -> int:
    return settings().staff_idle_minutes * 60 + 60


def start_session(member: StaffMember) -> None:
    """Logs the member in: a fresh session with a new server-side activity mark."""
    lang = session.get("staff_lang")
    session.clear()
    if lang:
        session["staff_lang"] = lang
    login_user(StaffUser(member))
    sid = secrets.token_urlsafe(24)
    session["staff_sid"] = sid
    portal().store.set(SEEN_KEY + sid, now().isoformat(), _seen_ttl())


def end_session() -> None:
    sid = session.get("staff_sid")
    if sid:
        portal().store.delete(SEEN_KEY + sid)
    lang = session.get("staff_lang")
    logout_user()
    session.clear()
    if lang:
        session["staff_lang"] = lang


def _idle_expired(at: datetime) -> bool:
    sid = session.get("staff_sid")
    seen = portal().store.get(SEEN_KEY + sid) if sid else None
    if seen is None:
        return True
    idle = (at - datetime.fromisoformat(seen)).total_seconds()
    return idle >= settings().staff_idle_minutes * 60


def _allowed(member: StaffMember, role: Optional[str]) -> bool:
    return role is None or ROLE_RANK[member.role] >= ROLE_RANK[StaffRole(role)]


def error_page(status: int, title_key: str, message_key: str, *, login_link: bool = False,
               **values):
    """A full HTML error page in the staff layout."""
    staff = getattr(g, "staff", None)
    return render_template("staff/error.html", title_key=title_key, message_key=message_key,
                           values=values, login_link=login_link, staff=staff,
                           next_url=_here() if request.method == "GET" else None), status


def is_htmx() -> bool:
    """The request came from htmx (it wants a region of the page, not the whole page)."""
    return request.headers.get("HX-Request") == "true"


def _here() -> str:
    query = request.query_string.decode()
    return request.path + ("?" + query if query else "")


def current_staff() -> StaffMember:
    return g.staff


def staff_login_required(role: Optional[str] = None) -> Callable:
    """For pages: a logged-in, active staff member with at least `role` (admin > caseworker)."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if request.method not in ("GET", "HEAD", "OPTIONS"):
                csrf.protect()
            user = current_user
            if not user.is_authenticated:
                return error_page(401, "unauthorized_title", "unauthorized", login_link=True)
            member = user.member
            at = now()
            if _idle_expired(at):
                record(get_db(), accounts.actor(member), "staff.session_expired", at=at,
                       object_type="staff", object_id=member.id)
                get_db().commit()
                end_session()
                return error_page(401, "unauthorized_title", "session_expired",
                                  login_link=True, minutes=settings().staff_idle_minutes)
            portal().store.set(SEEN_KEY + session["staff_sid"], at.isoformat(), _seen_ttl())
            g.staff = member
            if not _allowed(member, role):
                return error_page(403, "forbidden_title", "forbidden")
            return view(*args, **kwargs)

        return wrapper

    return decorator


def staff_token_required(role: Optional[str] = None) -> Callable:
    """For the JSON API: `Authorization: Bearer <staff token>` of an active member."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            member = (accounts.token_owner(get_db(), token.strip(), now=now())
                      if scheme.lower() == "bearer" and token.strip() else None)
            if member is None:
                raise Unauthorized("A valid staff API token is required.",
                                   code="invalid_token")
            if not _allowed(member, role):
                raise Forbidden("Your role does not give access to this endpoint.",
                                code="forbidden_role")
            g.staff = member
            return view(*args, **kwargs)

        return wrapper

    return decorator
