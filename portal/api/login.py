"""Login by one-time code, for the action server acting in a conversation."""
from apifairy import body, other_responses, response
from flask import Blueprint

from portal.api.auth import citizen_session_required, current_citizen_id, current_session
from portal.api.auth import service_token_required
from portal.api.context import get_db, now, portal, settings
from portal.api.schemas import CodeRequestSchema, CodeSentSchema, ErrorSchema, LoginSchema
from portal.api.schemas import LoginStartSchema, MeSchema, VerifySchema
from portal.models import Channel
from portal.services import login, sessions
from portal.services.profile import summary

bp = Blueprint("login", __name__, url_prefix="/api/v1")


@bp.post("/login/start")
@service_token_required
@body(LoginStartSchema)
@response(CodeSentSchema, 202)
@other_responses({422: (ErrorSchema, "Not a valid fødselsnummer")})
def start_login(payload):
    """Take the fødselsnummer of a login in a conversation; the personal code comes next.

    The answer is the same whether or not the number belongs to anyone.
    """
    login.start(get_db(), portal().store, settings(), payload["fnr"],
                channel=Channel(payload["channel"]), conversation_id=payload["conversation_id"],
                now=now())
    return {"status": "personal_code_required"}, 202


@bp.post("/login/code")
@service_token_required
@body(CodeRequestSchema)
@response(CodeSentSchema, 202)
@other_responses({401: (ErrorSchema, "login_not_started: give the fødselsnummer first"),
                  429: (ErrorSchema, "too_many_codes, login_backoff or login_locked "
                                     "(retry_after_seconds)")})
def request_code(payload):
    """Send a one-time code to the registered mobile, if the fødselsnummer and the personal
    code are both right.

    The answer and the work behind it are the same whether the number, the personal code or
    both were wrong; the caller holds the citizen's reply to a timing floor (the action server
    awaits it without holding a thread), so no portal worker sleeps.
    """
    login.request_code(get_db(), portal().store, settings(), payload.get("personal_code"),
                       channel=Channel(payload["channel"]),
                       conversation_id=payload["conversation_id"], now=now(),
                       source=payload.get("source"))
    return {"status": "code_sent_if_registered"}, 202


@bp.post("/login/verify")
@service_token_required
@body(VerifySchema)
@response(LoginSchema)
@other_responses({401: (ErrorSchema, "wrong_code (with attempts_left) or code_expired"),
                  429: (ErrorSchema, "login_backoff or login_locked (retry_after_seconds)")})
def verify_code(payload):
    """Check the code typed in a conversation; a match opens a session bound to it"""
    result = login.verify_code(get_db(), portal().store, settings(), payload["code"],
                               channel=Channel(payload["channel"]),
                               conversation_id=payload["conversation_id"], now=now())
    # No token in the answer: the conversation itself names its session from now on.
    return {"expires_at": result.session.expires_at,
            "first_name": result.citizen.first_name,
            "language": result.citizen.language.value,
            "choose_personal_code": result.choose_personal_code,
            "reset_cancelled": result.reset_cancelled}


@bp.get("/me")
@citizen_session_required
@response(MeSchema)
@other_responses({401: (ErrorSchema, "No valid session")})
def me():
    """The logged-in citizen's first name, language and what awaits them"""
    db = get_db()
    result = summary(db, current_citizen_id(), now=now())
    result["session_expires_at"] = current_session().expires_at
    db.commit()
    return result


@bp.post("/me/logout")
@citizen_session_required
@response(CodeSentSchema)
@other_responses({401: (ErrorSchema, "No valid session")})
def logout():
    """End the session at once"""
    db = get_db()
    sessions.end_session(db, current_session(), now=now(), reason="logout")
    db.commit()
    return {"status": "logged_out"}
