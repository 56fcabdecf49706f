"""The personal code: choosing and changing it while logged in, and resetting a forgotten one."""
from apifairy import body, other_responses, response
from flask import Blueprint

from portal.api.auth import citizen_session_required, current_session, service_token_required
from portal.api.context import get_db, now, portal, settings
from portal.api.schemas import CodeSentSchema, ErrorSchema, PersonalCodeSchema
from portal.api.schemas import ResetCancelledSchema, ResetCancelSchema, ResetRequestSchema
from portal.models import Channel
from portal.services import personal_code_change, personal_code_reset

bp = Blueprint("personal_code", __name__, url_prefix="/api/v1")


@bp.post("/me/personal-code/confirm")
@citizen_session_required
@body(PersonalCodeSchema)
@response(CodeSentSchema)
@other_responses({401: (ErrorSchema, "No valid session, or wrong_personal_code "
                                     "(attempts_left)"),
                  429: (ErrorSchema, "login_backoff or login_locked (retry_after_seconds)")})
def confirm_code(payload):
    """Check the current personal code; a match allows one change in the next five minutes"""
    personal_code_change.confirm_old_code(get_db(), portal().store, settings(),
                                          current_session(), payload["code"], now=now())
    return {"status": "confirmed"}


@bp.put("/me/personal-code")
@citizen_session_required
@body(PersonalCodeSchema)
@response(CodeSentSchema)
@other_responses({401: (ErrorSchema, "No valid session"),
                  403: (ErrorSchema, "old_code_required: confirm the current code first"),
                  422: (ErrorSchema, "personal_code_format, personal_code_repeated, "
                                     "personal_code_run or personal_code_birth_date")})
def choose_code(payload):
    """Choose a personal code: 4-8 digits, not one digit repeated, not a run, not the birth
    date"""
    personal_code_change.choose_code(get_db(), portal().store, settings(), current_session(),
                                     payload["code"], now=now())
    return {"status": "personal_code_set"}


@bp.post("/login/personal-code/reset")
@service_token_required
@body(ResetRequestSchema)
@response(CodeSentSchema, 202)
@other_responses({422: (ErrorSchema, "Not a valid fødselsnummer"),
                  429: (ErrorSchema, "too_many_codes (retry_after_seconds)")})
def request_reset(payload):
    """Ask to reset a forgotten personal code: the registered mobile is told, and the reset
    takes effect after the waiting period unless cancelled. The same answer for every number."""
    personal_code_reset.request(get_db(), portal().store, settings(), payload["fnr"],
                                channel=Channel(payload["channel"]),
                                conversation_id=payload["conversation_id"], now=now())
    return {"status": "reset_requested_if_registered"}, 202


@bp.post("/login/personal-code/reset/cancel")
@service_token_required
@body(ResetCancelSchema)
@response(ResetCancelledSchema)
def cancel_reset(payload):
    """Cancel the waiting resets of the mobile whose own SMS conversation this is"""
    cancelled = personal_code_reset.cancel(get_db(), settings(),
                                           channel=Channel(payload["channel"]),
                                           conversation_id=payload["conversation_id"],
                                           now=now())
    return {"cancelled": cancelled}
