"""The demo SMS outbox: where SMS go when no SMS provider is configured (demo/dev only)."""
from apifairy import arguments, response
from flask import Blueprint, render_template

from portal.api.context import get_db, settings
from portal.api.schemas import DevSmsListSchema, DevSmsQuerySchema
from portal.identity import normalize_mobile
from portal.sms.outbox import dev_messages

bp = Blueprint("dev", __name__, url_prefix="/dev")


def _recipient(value):
    return normalize_mobile(value) if value else None


@bp.get("/sms")
@arguments(DevSmsQuerySchema)
@response(DevSmsListSchema)
def list_sms(query):
    """SMS held in the demo outbox, newest first (demo and development only)"""
    return {"messages": dev_messages(get_db(), settings().outbox_key,
                                     to=_recipient(query["to"]))}


@bp.get("/outbox")
def outbox_page():
    """A page showing the demo outbox, for a person trying the assistant."""
    return render_template("outbox.html",
                           messages=dev_messages(get_db(), settings().outbox_key))
