"""Kindergarten place offers."""
from apifairy import arguments, body, other_responses, response
from flask import Blueprint

from portal.api.auth import citizen_session_required, current_actor, current_citizen_id
from portal.api.auth import current_session
from portal.api.context import get_db, now
from portal.api.schemas import AnswerResultSchema, AnswerSchema, ErrorSchema, OfferListSchema
from portal.api.schemas import OfferQuerySchema
from portal.services import offers

bp = Blueprint("offers", __name__, url_prefix="/api/v1/me/offers")


@bp.get("")
@citizen_session_required
@arguments(OfferQuerySchema)
@response(OfferListSchema)
@other_responses({401: (ErrorSchema, "No valid session")})
def list_offers(query):
    """List the guardian's kindergarten offers, open ones first"""
    db = get_db()
    rows = offers.list_offers(db, current_citizen_id(), actor=current_actor(), now=now(),
                              open_only=query["open"])
    db.commit()
    return {"offers": rows}


@bp.post("/<int:offer_id>/answer")
@citizen_session_required
@body(AnswerSchema)
@response(AnswerResultSchema)
@other_responses({
    401: (ErrorSchema, "No valid session"),
    404: (ErrorSchema, "No such offer for this guardian"),
    409: (ErrorSchema, "Answered differently before (offer_already_answered), "
                       "or past the deadline (offer_deadline_passed)"),
})
def answer_offer(payload, offer_id):
    """Accept or decline an offer; answering the same way twice reports the first answer"""
    db = get_db()
    result = offers.answer_offer(db, current_citizen_id(), offer_id, payload["answer"],
                                 via=current_session().channel, actor=current_actor(),
                                 now=now())
    db.commit()
    return result
