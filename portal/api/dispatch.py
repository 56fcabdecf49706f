"""Inbound letters from the case/archive system (SvarUt-style dispatch)."""
from apifairy import body, other_responses, response
from flask import Blueprint

from portal.api.auth import dispatch_token_required
from portal.api.context import get_db, now, portal, settings
from portal.api.schemas import DispatchedSchema, DispatchLetterSchema, ErrorSchema
from portal.models import ActorType
from portal.services import letters
from portal.services.audit import Actor

bp = Blueprint("dispatch", __name__, url_prefix="/api/v1/dispatch")


@bp.post("/letters")
@dispatch_token_required
@body(DispatchLetterSchema)
@response(DispatchedSchema, 201)
@other_responses({
    401: (ErrorSchema, "Missing or wrong dispatch token"),
    404: (ErrorSchema, "No citizen with that fødselsnummer"),
    409: (ErrorSchema, "external_id already used for another recipient"),
    422: (ErrorSchema, "Invalid input"),
})
def dispatch_letter(payload):
    """File a letter in a citizen's inbox; repeating an external_id returns the first letter"""
    db = get_db()
    moment = now()
    letter, created = letters.dispatch(
        db, settings(), letters.NewLetter(**payload), now=moment,
        actor=Actor(ActorType.SYSTEM, "case-system", "dispatch"))
    db.commit()
    if created:
        portal().notifier.letter_dispatched(letter)
    letter.created = created
    return letter, 201 if created else 200
