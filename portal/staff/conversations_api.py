"""The caseworker workspace's JSON API (bearer staff tokens) under /api/v1/staff/conversations."""
from __future__ import annotations

from apifairy import arguments, body, other_responses, response
from flask import Blueprint
from marshmallow import fields, validate

from portal.api.context import get_db, now, portal, settings
from portal.api.schemas import ErrorSchema
from portal.conversations import workspace
from portal.extensions import ma
from portal.models import Channel
from portal.services import retention
from portal.staff.auth import current_staff, staff_token_required

bp = Blueprint("staff_conversations", __name__, url_prefix="/api/v1/staff/conversations")
ERRORS = {401: (ErrorSchema, "No valid staff API token"),
          404: (ErrorSchema, "No such conversation")}
CONFLICT = {409: (ErrorSchema, "Another person answers it (details.holder: their first name), "
                               "or the web chat citizen has left (citizen_left)")}


class QuerySchema(ma.Schema):
    status = fields.String(validate=validate.OneOf(workspace.STATUSES))
    channel = fields.Enum(Channel, by_value=True)
    language = fields.String(validate=validate.OneOf(("nb", "nn", "en")))
    logged_in = fields.Boolean()
    handoff = fields.Boolean()
    reviewed = fields.Boolean()
    unsure = fields.Boolean()
    intent = fields.String(validate=validate.Length(max=60))
    tag = fields.String(validate=validate.Length(max=workspace.MAX_TAG))
    q = fields.String(validate=validate.Length(min=1, max=200))
    since = fields.AwareDateTime()
    until = fields.AwareDateTime()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=20,
                              validate=validate.Range(min=1, max=workspace.MAX_PER_PAGE))


class SummarySchema(ma.Schema):
    id = fields.Integer(attribute="conversation.id")
    channel = fields.String(attribute="conversation.channel.value")
    language = fields.String(attribute="conversation.language")
    status = fields.String()
    logged_in = fields.Function(lambda s: s.conversation.citizen_id is not None)
    owner = fields.String(attribute="conversation.owner_name")
    started_at = fields.DateTime(attribute="conversation.started_at")
    last_message_at = fields.DateTime(attribute="conversation.last_message_at")
    waiting_since = fields.DateTime()
    reviewed = fields.Function(lambda s: s.reviewed_at is not None)
    tags = fields.List(fields.String())
    held = fields.Function(lambda s: s.conversation.held_at is not None)
    held_at = fields.DateTime(attribute="conversation.held_at")
    hold_reason = fields.String(attribute="conversation.hold_reason")
    erased_at = fields.DateTime(attribute="conversation.erased_at")


class PageSchema(ma.Schema):
    conversations = fields.List(fields.Nested(SummarySchema), attribute="items")
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    pages = fields.Integer()


class MessageSchema(ma.Schema):
    id = fields.Integer()
    at = fields.DateTime()
    direction = fields.String()
    author = fields.String()
    text = fields.String()
    language = fields.String()
    intent = fields.String()
    confidence = fields.Float()
    status = fields.String()
    staff_name = fields.String()


class NoteSchema(ma.Schema):
    id = fields.Integer()
    at = fields.DateTime()
    staff_name = fields.String()
    text = fields.String()


class DetailSchema(ma.Schema):
    conversation = fields.Nested(SummarySchema, attribute="summary")
    citizen_name = fields.String()
    connected = fields.Boolean()
    messages = fields.List(fields.Nested(MessageSchema))
    notes = fields.List(fields.Nested(NoteSchema))


class TextSchema(ma.Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class ClaimSchema(ma.Schema):
    reassign = fields.Boolean(load_default=False)


class TagsSchema(ma.Schema):
    add = fields.List(fields.String(validate=validate.Length(min=1, max=workspace.MAX_TAG)),
                      load_default=list, validate=validate.Length(max=20))
    remove = fields.List(fields.String(validate=validate.Length(min=1, max=workspace.MAX_TAG)),
                         load_default=list, validate=validate.Length(max=20))


class TagListSchema(ma.Schema):
    tags = fields.List(fields.String())


class ReviewedSchema(ma.Schema):
    reviewed = fields.Boolean(required=True)


class HoldSchema(ma.Schema):
    reason = fields.String(required=True,
                           validate=validate.Length(min=1, max=retention.MAX_REASON))


def _detail(conversation):
    db = get_db()
    detail = workspace.read(db, portal().store, current_staff(), conversation, now())
    db.commit()
    return detail


@bp.get("")
@staff_token_required()
@arguments(QuerySchema)
@response(PageSchema)
@other_responses(ERRORS)
def list_conversations(query):
    """Conversations by status (waiting, mine, live, closed) and filters, paged; waiting ones
    oldest first"""
    db = get_db()
    page, per_page = query.pop("page"), query.pop("per_page")
    if query.get("status") == workspace.WAITING:
        workspace.expire_claims(db, settings(), now())
    result = workspace.search(db, current_staff(), workspace.Filters(**query), now(),
                              page=page, per_page=per_page)
    db.commit()
    return result


@bp.get("/<int:conversation_id>")
@staff_token_required()
@response(DetailSchema)
@other_responses(ERRORS)
def get_conversation(conversation_id):
    """One conversation: the redacted transcript with NLU predictions, notes, tags, state"""
    return _detail(workspace.get(get_db(), conversation_id))


@bp.post("/<int:conversation_id>/claim")
@staff_token_required()
@body(ClaimSchema)
@response(DetailSchema)
@other_responses({**ERRORS, **CONFLICT})
def claim(payload, conversation_id):
    """Take the conversation over from the bot (an admin may reassign it to themselves)"""
    db = get_db()
    conversation = workspace.get(db, conversation_id)
    workspace.claim(db, settings(), conversation, current_staff(), now(),
                    reassign=payload["reassign"])
    db.commit()
    return _detail(conversation)


@bp.post("/<int:conversation_id>/messages")
@staff_token_required()
@body(TextSchema)
@response(MessageSchema, 201)
@other_responses({**ERRORS, **CONFLICT})
def post_message(payload, conversation_id):
    """Answer the citizen over their own channel (only the owner)"""
    db = get_db()
    conversation = workspace.get(db, conversation_id)
    message = workspace.reply(db, settings(), portal().store, conversation, current_staff(),
                              payload["text"], now())
    db.commit()
    return message


@bp.post("/<int:conversation_id>/release")
@staff_token_required()
@response(DetailSchema)
@other_responses({**ERRORS, **CONFLICT})
def release(conversation_id):
    """Hand the conversation back to the bot (only the owner)"""
    db = get_db()
    conversation = workspace.get(db, conversation_id)
    workspace.release(db, settings(), conversation, current_staff(), now())
    db.commit()
    return _detail(conversation)


@bp.post("/<int:conversation_id>/close")
@staff_token_required()
@response(DetailSchema)
@other_responses({**ERRORS, **CONFLICT})
def close(conversation_id):
    """Close the conversation: out of the queue, back to the bot"""
    db = get_db()
    conversation = workspace.get(db, conversation_id)
    workspace.close(db, settings(), conversation, current_staff(), now())
    db.commit()
    return _detail(conversation)


@bp.post("/<int:conversation_id>/tags")
@staff_token_required()
@body(TagsSchema)
@response(TagListSchema)
@other_responses(ERRORS)
def tags(payload, conversation_id):
    """Add and remove tags"""
    db = get_db()
    conversation = workspace.get(db, conversation_id)
    result = workspace.set_tags(db, conversation, current_staff(), payload["add"],
                                payload["remove"], now())
    db.commit()
    return {"tags": result}


@bp.post("/<int:conversation_id>/notes")
@staff_token_required()
@body(TextSchema)
@response(NoteSchema, 201)
@other_responses(ERRORS)
def notes(payload, conversation_id):
    """Add an internal note (staff only; redacted)"""
    db = get_db()
    conversation = workspace.get(db, conversation_id)
    note = workspace.add_note(db, conversation, current_staff(), payload["text"], now())
    db.commit()
    return note


@bp.post("/<int:conversation_id>/reviewed")
@staff_token_required()
@body(ReviewedSchema)
@response(DetailSchema)
@other_responses(ERRORS)
def reviewed(payload, conversation_id):
    """Mark the conversation reviewed, or not"""
    db = get_db()
    conversation = workspace.get(db, conversation_id)
    workspace.set_reviewed(db, conversation, current_staff(), payload["reviewed"], now())
    db.commit()
    return _detail(conversation)


@bp.post("/<int:conversation_id>/hold")
@staff_token_required()
@body(HoldSchema)
@response(DetailSchema)
@other_responses({**ERRORS, 409: (ErrorSchema, "Held already, or deleted by the citizen")})
def hold(payload, conversation_id):
    """Keep the conversation's content from the retention purge, with a reason"""
    db = get_db()
    conversation = workspace.get(db, conversation_id)
    retention.hold(db, conversation, current_staff(), payload["reason"], now())
    db.commit()
    return _detail(conversation)


@bp.post("/<int:conversation_id>/hold/lift")
@staff_token_required()
@response(DetailSchema)
@other_responses({**ERRORS, 403: (ErrorSchema, "Only the holder or an admin lifts a hold"),
                  409: (ErrorSchema, "The conversation is not held")})
def lift_hold(conversation_id):
    """Lift the hold: the next purge erases old content as usual"""
    db = get_db()
    conversation = workspace.get(db, conversation_id)
    retention.lift_hold(db, conversation, current_staff(), now())
    db.commit()
    return _detail(conversation)
