"""The logged-in citizen's preferences: the language the assistant writes in."""
from apifairy import body, other_responses, response
from flask import Blueprint

from portal.api.auth import citizen_session_required, current_actor, current_citizen_id
from portal.api.context import get_db, now
from portal.api.schemas import ErrorSchema, LanguageSchema
from portal.services import profile

bp = Blueprint("preferences", __name__, url_prefix="/api/v1/me")


@bp.put("/language")
@citizen_session_required
@body(LanguageSchema)
@response(LanguageSchema)
@other_responses({400: (ErrorSchema, "Malformed request"), 401: (ErrorSchema, "No valid session"),
                  422: (ErrorSchema, "Not one of nb, nn, en")})
def set_language(payload):
    """Keep a language as the citizen's preference (every later login uses it)"""
    db = get_db()
    citizen = profile.set_language(db, current_citizen_id(), payload["language"],
                                   actor=current_actor(), now=now())
    db.commit()
    return {"language": citizen.language.value}
