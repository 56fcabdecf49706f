"""Requests to talk to a person."""
from apifairy import body, other_responses, response
from flask import Blueprint, request

from portal.api.auth import CONVERSATION_HEADER, SESSION_HEADER, service_token_required
from portal.api.context import get_db, now, settings
from portal.api.schemas import ErrorSchema, HandoffInSchema, HandoffSchema
from portal.errors import InvalidInput
from portal.models import Channel
from portal.services.handoffs import request_handoff
from portal.services.sessions import resolve_session

bp = Blueprint("handoffs", __name__, url_prefix="/api/v1/handoffs")


@bp.post("")
@service_token_required
@body(HandoffInSchema)
@response(HandoffSchema, 201)
@other_responses({200: (HandoffSchema, "An open request for this conversation already exists"),
                  401: (ErrorSchema, "Missing or wrong service token")})
def create_handoff(payload):
    """Queue a conversation for a caseworker; a logged-in citizen is named on the request"""
    db = get_db()
    citizen_id = None
    if request.headers.get(SESSION_HEADER):
        session = resolve_session(db, request.headers.get(SESSION_HEADER),
                                  request.headers.get(CONVERSATION_HEADER), now=now(),
                                  idle_minutes=settings().session_idle_minutes)
        if session.conversation_id != payload["conversation_id"]:
            raise InvalidInput("The session belongs to another conversation.",
                               code="conversation_mismatch")
        citizen_id = session.citizen_id
    row, created = request_handoff(db, channel=Channel(payload["channel"]),
                                   conversation_id=payload["conversation_id"],
                                   reason=payload["reason"], citizen_id=citizen_id, now=now())
    db.commit()
    return row, 201 if created else 200
