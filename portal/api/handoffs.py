"""Requests to talk to a person."""
from apifairy import body, other_responses, response
from flask import Blueprint

from portal.api.auth import service_token_required
from portal.api.context import get_db, now, settings
from portal.api.schemas import ErrorSchema, HandoffInSchema, HandoffSchema
from portal.models import Channel
from portal.services.handoffs import request_handoff
from portal.services.opening_hours import status as queue_status
from portal.services.sessions import find_live_session

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
    # The citizen logged in in this very conversation, if any, is named on the handoff.
    session = find_live_session(db, payload["channel"], payload["conversation_id"], now=now(),
                                idle_minutes=settings().session_idle_minutes)
    citizen_id = session.citizen_id if session is not None else None
    queue = queue_status(settings().staff_opening_hours, now(), settings().timezone)
    row, created = request_handoff(db, channel=Channel(payload["channel"]),
                                   conversation_id=payload["conversation_id"],
                                   reason=payload["reason"], citizen_id=citizen_id, now=now(),
                                   within_opening_hours=queue.open)
    db.commit()
    row.open_now, row.next_open = queue.open, queue.next_open
    row.logged_in = citizen_id is not None
    return row, 201 if created else 200
