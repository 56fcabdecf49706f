"""A citizen deletes their own conversation, through the action server."""
from apifairy import other_responses, response
from flask import Blueprint, request
from marshmallow import fields

from portal.api.auth import CHANNEL_HEADER, CONVERSATION_HEADER, service_token_required
from portal.api.context import get_db, now, settings
from portal.api.schemas import ErrorSchema
from portal.extensions import ma
from portal.services.erasure import erase_conversation

bp = Blueprint("erasure", __name__, url_prefix="/api/v1/conversations")


class ErasedSchema(ma.Schema):
    erased_at = fields.DateTime(attribute="at")
    messages = fields.Integer()


@bp.post("/erase")
@service_token_required
@response(ErasedSchema)
@other_responses({401: (ErrorSchema, "Missing or wrong service token"),
                  409: (ErrorSchema, "The municipality holds the conversation "
                                     "(conversation_on_hold); nothing was deleted"),
                  422: (ErrorSchema, "No conversation id of the named channel")})
def erase():
    """Delete the content of the conversation named by X-Channel and X-Conversation-Id
    everywhere, and end its login; the audit keeps that it happened"""
    return erase_conversation(get_db(), settings(), request.headers.get(CHANNEL_HEADER),
                              request.headers.get(CONVERSATION_HEADER), now())
