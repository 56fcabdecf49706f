"""Citizens writing to the municipality (POST /api/v1/me/cases, or a draft that the citizen
then sends or discards: POST|DELETE /api/v1/me/cases/<id>) and the staff queue of cases
(GET /api/v1/staff/cases, POST /api/v1/staff/cases/<id>/answer)."""
from apifairy import arguments, body, other_responses, response
from flask import Blueprint
from marshmallow import fields, validate

from portal.api.auth import citizen_session_required, current_actor, current_session
from portal.api.context import get_db, now, portal, settings
from portal.api.schemas import ErrorSchema
from portal.extensions import ma
from portal.models import Channel, Letter
from portal.services import cases
from portal.services.opening_hours import status as queue_status
from portal.staff.auth import current_staff, staff_token_required

bp = Blueprint("cases", __name__, url_prefix="/api/v1/me/cases")
staff_bp = Blueprint("staff_cases", __name__, url_prefix="/api/v1/staff/cases")


class CaseInSchema(ma.Schema):
    # Length is the service's rule (cases.MAX_BODY), so the bot gets one stable error code.
    text = fields.String(required=True)
    reply_to_letter_id = fields.Integer(load_default=None, allow_none=True)
    draft = fields.Boolean(load_default=False, metadata={
        "description": "Keep it as the citizen's draft until POST /api/v1/me/cases/<id>"})


class CaseSchema(ma.Schema):
    id = fields.Integer()
    status = fields.String()
    created_at = fields.DateTime()
    reply_to_letter_id = fields.Integer(allow_none=True)
    reply_to_title = fields.String(allow_none=True)
    length = fields.Integer()
    open_now = fields.Boolean(metadata={"description": "Caseworkers are at work now"})
    next_open = fields.DateTime(allow_none=True)


class StaffCaseSchema(ma.Schema):
    id = fields.Integer()
    citizen_id = fields.Integer()
    channel = fields.Enum(Channel, by_value=True)
    conversation_id = fields.Integer(allow_none=True)
    reply_to_letter_id = fields.Integer(allow_none=True)
    handoff_request_id = fields.Integer(allow_none=True)
    body = fields.String()
    created_at = fields.DateTime()
    status = fields.String()
    answered_at = fields.DateTime(allow_none=True)
    answered_by = fields.Integer(allow_none=True)
    answer_letter_id = fields.Integer(allow_none=True)


class StaffCaseListSchema(ma.Schema):
    cases = fields.List(fields.Nested(StaffCaseSchema))


class StaffCaseQuerySchema(ma.Schema):
    status = fields.String(load_default="open",
                           validate=validate.OneOf(["open", "answered", "all"]))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class AnswerInSchema(ma.Schema):
    text = fields.String(required=True)


@bp.post("")
@citizen_session_required
@body(CaseInSchema)
@response(CaseSchema, 201)
@other_responses({401: (ErrorSchema, "No valid session"),
                  404: (ErrorSchema, "The letter replied to is not the citizen's"),
                  422: (ErrorSchema, "Empty or too long message")})
def write_case(payload):
    """Write to the municipality, optionally as a reply to one of the citizen's letters"""
    db = get_db()
    session = current_session()
    row = cases.write_case(db, citizen_id=session.citizen_id, channel=session.channel,
                           conversation_key=session.conversation_id, text=payload["text"],
                           reply_to_letter_id=payload["reply_to_letter_id"], now=now(),
                           actor=current_actor(), draft=payload["draft"])
    db.commit()
    return _shown(db, row), 201


@bp.post("/<int:case_id>")
@citizen_session_required
@response(CaseSchema)
@other_responses({401: (ErrorSchema, "No valid session"),
                  404: (ErrorSchema, "No such draft of the citizen's"),
                  409: (ErrorSchema, "Sent already")})
def send_draft(case_id):
    """Send the citizen's draft to the municipality (the JA after the restatement)"""
    db = get_db()
    row = cases.send_draft(db, citizen_id=current_session().citizen_id, case_id=case_id,
                           now=now(), actor=current_actor())
    db.commit()
    return _shown(db, row)


@bp.delete("/<int:case_id>")
@citizen_session_required
@other_responses({204: "The draft is deleted",
                  401: (ErrorSchema, "No valid session"),
                  404: (ErrorSchema, "No such draft of the citizen's"),
                  409: (ErrorSchema, "Sent already: it cannot be taken back")})
def discard_draft(case_id):
    """Delete the citizen's draft unsent (the NEI after the restatement)"""
    db = get_db()
    cases.discard_draft(db, citizen_id=current_session().citizen_id, case_id=case_id,
                        now=now(), actor=current_actor())
    db.commit()
    return "", 204


def _shown(db, row):
    """The case as the citizen's side sees it: its letter's title, and when caseworkers are in."""
    queue = queue_status(settings().staff_opening_hours, now(), settings().timezone)
    row.open_now, row.next_open = queue.open, queue.next_open
    row.length = len(row.body)
    letter = db.get(Letter, row.reply_to_letter_id) if row.reply_to_letter_id else None
    row.reply_to_title = letter.title if letter else None
    return row


@staff_bp.get("")
@staff_token_required(role="caseworker")
@arguments(StaffCaseQuerySchema)
@response(StaffCaseListSchema)
@other_responses({401: (ErrorSchema, "No valid staff API token")})
def list_cases(query):
    """The citizens' written messages in the queue, oldest first"""
    db = get_db()
    staff = current_staff()
    rows = cases.list_cases(db, actor=cases.staff_actor(staff.id), now=now(),
                            status=None if query["status"] == "all" else query["status"],
                            limit=query["limit"])
    db.commit()
    return {"cases": rows}


@staff_bp.post("/<int:case_id>/answer")
@staff_token_required(role="caseworker")
@body(AnswerInSchema)
@response(StaffCaseSchema)
@other_responses({401: (ErrorSchema, "No valid staff API token"),
                  404: (ErrorSchema, "No such case"),
                  409: (ErrorSchema, "The case is answered already"),
                  422: (ErrorSchema, "Empty or too long answer")})
def answer_case(payload, case_id):
    """Answer a case: the citizen gets a letter in the inbox and an SMS notice"""
    db = get_db()
    staff = current_staff()
    row, _ = cases.answer_and_notify(db, settings(), portal().notifier, case_id,
                                     staff_id=staff.id, text=payload["text"], now=now())
    return row
