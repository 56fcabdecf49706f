"""The citizen's inbox."""
from apifairy import arguments, other_responses, response
from flask import Blueprint

from portal.api.auth import citizen_session_required, current_actor, current_citizen_id
from portal.api.auth import current_session
from portal.api.context import get_db, now
from portal.api.schemas import ErrorSchema, LetterListSchema, LetterQuerySchema, LetterSchema
from portal.services import letters

bp = Blueprint("letters", __name__, url_prefix="/api/v1/me/letters")


@bp.get("")
@citizen_session_required
@arguments(LetterQuerySchema)
@response(LetterListSchema)
@other_responses({401: (ErrorSchema, "No valid session")})
def list_letters(query):
    """List the citizen's letters, unread first, newest first"""
    db = get_db()
    rows, unread = letters.list_letters(db, current_citizen_id(), actor=current_actor(),
                                        now=now(), unread_only=query["unread"],
                                        limit=query["limit"])
    db.commit()
    return {"letters": rows, "unread_count": unread}


@bp.get("/noticed")
@citizen_session_required
@response(LetterListSchema)
@other_responses({401: (ErrorSchema, "No valid session")})
def noticed_letters():
    """The letters named in the last SMS notice to this conversation's phone, newest first"""
    db = get_db()
    rows = letters.noticed_letters(db, current_session(), actor=current_actor(), now=now())
    unread = letters.count_unread(db, current_citizen_id())
    db.commit()
    return {"letters": rows, "unread_count": unread}


@bp.get("/<int:letter_id>")
@citizen_session_required
@response(LetterSchema)
@other_responses({401: (ErrorSchema, "No valid session"), 404: (ErrorSchema, "No such letter")})
def read_letter(letter_id):
    """Read one letter; the first digital read marks it read and cancels its print"""
    db = get_db()
    letter = letters.read_letter(db, current_citizen_id(), letter_id,
                                 via=current_session().channel, actor=current_actor(),
                                 now=now())
    db.commit()
    return letter
