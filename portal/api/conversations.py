"""The conversation gateway for the Rasa-side web chat channel (bearer GATEWAY_TOKEN).

The web chat records every citizen message here and asks who answers BEFORE the bot runs,
posts the bot's replies and shows only those the portal allows, and polls for the messages
of a person (caseworker) to show them live.
"""
from apifairy import body, other_responses, response
from flask import Blueprint
from sqlalchemy import select, update

from portal.api.auth import gateway_token_required
from portal.api.context import get_db, now, portal, settings
from portal.api.conversation_schemas import (
    CitizenMessageInSchema,
    LiveInSchema,
    LiveSchema,
    RecordedSchema,
    RepliesInSchema,
    RepliesSchema,
)
from portal.api.schemas import ErrorSchema
from portal.conversations import service, workspace
from portal.errors import NotFound
from portal.models import Channel, Conversation, TranscriptMessage
from portal.services import login

bp = Blueprint("conversations", __name__, url_prefix="/api/v1/gateway")
ERRORS = {401: (ErrorSchema, "Missing or wrong gateway token")}


@bp.post("/webchat/messages")
@gateway_token_required
@body(CitizenMessageInSchema)
@response(RecordedSchema, 201)
@other_responses(ERRORS)
def record_message(payload):
    """Record a citizen's web chat message (once per message id) and say who answers it"""
    db = get_db()
    conv = service.open_conversation(db, Channel.WEBCHAT, payload["sender"], now(),
                                     language=payload["language"])
    recorded = service.record_citizen_message(db, conv, payload["text"], now(),
                                              external_id=payload["message_id"],
                                              language=payload["language"])
    db.commit()
    login.remember_source(portal().store, settings(), Channel.WEBCHAT, payload["sender"],
                          payload["source"])
    return {"message_id": recorded.message.id, "new": recorded.new,
            "route": recorded.route}, 201 if recorded.new else 200


@bp.post("/webchat/messages/<int:message_id>/replies")
@gateway_token_required
@body(RepliesInSchema)
@response(RepliesSchema)
@other_responses({**ERRORS, 404: (ErrorSchema, "No such web chat message")})
def record_replies(payload, message_id):
    """Record the bot's replies to a web chat message; answers which of them may be shown"""
    db = get_db()
    asked = db.get(TranscriptMessage, message_id)
    conv = db.get(Conversation, asked.conversation_id) if asked is not None else None
    if conv is None or conv.channel != Channel.WEBCHAT or asked.author != service.CITIZEN:
        raise NotFound("No such web chat message.", code="unknown_message")
    prediction = payload["prediction"]
    if prediction:
        service.record_prediction(db, message_id, prediction["intent"],
                                  prediction["confidence"], prediction["entities"])
    messages = [m for m in payload["messages"] if m["text"] or m["buttons"]]
    allowed = service.record_bot_replies(db, conv, message_id, messages, now())
    for message in allowed:
        message.status = service.DELIVERED
    db.commit()
    return {"send": list(range(len(messages))) if allowed else []}


@bp.post("/webchat/live")
@gateway_token_required
@body(LiveInSchema)
@response(LiveSchema)
@other_responses(ERRORS)
def live(payload):
    """Mark shown person messages delivered; the undelivered ones of connected conversations"""
    db = get_db()
    workspace.mark_connected(portal().store, payload["conversations"], now())
    if payload["delivered"]:
        db.execute(update(TranscriptMessage)
                   .where(TranscriptMessage.id.in_(payload["delivered"]),
                          TranscriptMessage.status == service.PENDING)
                   .values(status=service.DELIVERED)
                   .execution_options(synchronize_session=False))
        db.commit()
    pending = service.undelivered_live(db, payload["conversations"])
    keys = dict(db.execute(select(Conversation.id, Conversation.sender_key).where(
        Conversation.id.in_({m.conversation_id for m in pending}))).all()) if pending else {}
    return {"messages": [{"id": m.id, "conversation": keys[m.conversation_id],
                          "author": m.author, "staff_name": m.staff_name, "text": m.text}
                         for m in pending]}
