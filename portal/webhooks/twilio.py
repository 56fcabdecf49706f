"""Twilio's inbound SMS and status webhooks: signed, size-limited, de-duplicated, logged, acked.

No turn runs here: the SMS is logged (InboundSms and the redacted transcript) and Twilio gets
an empty TwiML answer; the turn workers (`assistant turn-worker`) run the turns in order.
A malformed, unsigned or replayed webhook gets a 4xx and changes nothing.
"""
from __future__ import annotations

import logging
import re
from typing import Dict
from urllib.parse import parse_qsl

import redis
from apifairy import other_responses
from flask import Blueprint, Response, request
from twilio.request_validator import RequestValidator

from portal.api.context import get_db, now, portal, settings
from portal.api.schemas import ErrorSchema
from portal.conversations import service
from portal.errors import (BadRequest, Conflict, Forbidden, InvalidInput, LengthRequired,
                           TooLarge)
from portal.identity import normalize_mobile
from portal.sms.sender import apply_status_callback
from portal.text_input import storable

log = logging.getLogger(__name__)

bp = Blueprint("twilio_webhooks", __name__, url_prefix="/webhooks/twilio")

TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
MAX_WEBHOOK_BYTES = 16 * 1024  # Twilio's inbound form is a few hundred bytes
MAX_BODY_CHARS = 1600
SEEN_TTL = 7 * 24 * 3600
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def _form() -> Dict[str, str]:
    """The signed form, size checked before anything is parsed; blank fields kept."""
    length = request.content_length
    if length is None:
        raise LengthRequired("A Content-Length is required.")
    if length > MAX_WEBHOOK_BYTES:
        raise TooLarge("The webhook body is too large.")
    if not (request.mimetype or "") == "application/x-www-form-urlencoded":
        raise BadRequest("Expected a form-encoded body.", code="unsupported_media_type")
    raw = request.stream.read(MAX_WEBHOOK_BYTES + 1)
    if len(raw) > MAX_WEBHOOK_BYTES:
        raise TooLarge("The webhook body is too large.")
    try:
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True,
                              strict_parsing=bool(raw)))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("The form cannot be read.") from exc


def _check_signature(form: Dict[str, str]) -> None:
    token = settings().twilio_auth_token
    url = settings().public_base_url + request.path
    if request.query_string:
        url += "?" + request.query_string.decode("latin-1")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature or not RequestValidator(token).validate(url, form, signature):
        raise Forbidden("The request is not signed by Twilio.", code="invalid_signature")


def _sender(value: str) -> str:
    """A Norwegian mobile in E.164, or another country's E.164 number as Twilio sends it."""
    try:
        return normalize_mobile(value)
    except InvalidInput:
        value = value.strip()
        if E164.fullmatch(value):
            return value
        raise BadRequest("From is not a phone number.", code="invalid_from") from None


def _twiml() -> Response:
    return Response(TWIML_EMPTY, status=200, mimetype="text/xml")


def _first_sighting(message_sid: str) -> bool:
    """Redis SET NX when configured; when Redis is down the database's unique sid decides."""
    try:
        return portal().store.set(f"sms:sid:{message_sid}", "1", SEEN_TTL, only_if_new=True)
    except redis.RedisError:
        log.warning("Redis unavailable: the database de-duplicates inbound SMS")
        return True


def _forget_sighting(message_sid: str) -> None:
    try:
        portal().store.delete(f"sms:sid:{message_sid}")
    except redis.RedisError:
        pass


REFUSALS = {400: (ErrorSchema, "Malformed (no MessageSid, bad From or NumMedia)"),
            403: (ErrorSchema, "Not signed by Twilio for PUBLIC_BASE_URL + path"),
            411: (ErrorSchema, "No Content-Length"),
            413: (ErrorSchema, "Body over 16 KiB")}


@bp.post("/sms")
@other_responses({200: "Empty TwiML: the SMS is logged for the turn workers", **REFUSALS,
                  409: (ErrorSchema, "This MessageSid was received already")})
def inbound():
    """An inbound SMS from Twilio: logged for the turn workers, answered with empty TwiML"""
    form = _form()
    _check_signature(form)
    message_sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not message_sid or len(message_sid) > 64:
        raise BadRequest("MessageSid is required.", code="missing_message_sid")
    phone = _sender(form.get("From") or "")
    media = form.get("NumMedia") or "0"
    if not media.isdigit() or int(media) > 10:
        raise BadRequest("NumMedia must be a small whole number.", code="invalid_num_media")
    if not _first_sighting(message_sid):
        raise Conflict("This message was received already.", code="already_received")
    try:
        row = service.record_inbound(
            get_db(), settings(), message_sid=message_sid, phone=phone,
            body=storable(form.get("Body") or "")[:MAX_BODY_CHARS], num_media=int(media),
            now=now())
    except Exception:
        _forget_sighting(message_sid)  # not logged: Twilio's retry must get through
        raise
    if row is None:
        raise Conflict("This message was received already.", code="already_received")
    log.info("inbound SMS %s logged for the turn workers", message_sid,
             extra={"message_sid": message_sid, "inbound_id": row.id})
    return _twiml()


@bp.post("/status")
@other_responses({200: "Empty TwiML: applied (or stale, kept)", **REFUSALS})
def status():
    """A Twilio delivery receipt: the outbox and the transcript move forward only"""
    form = _form()
    _check_signature(form)
    message_sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not message_sid or not form.get("MessageStatus"):
        raise BadRequest("MessageSid and MessageStatus are required.", code="missing_fields")
    db = get_db()
    apply_status_callback(db, message_sid, form["MessageStatus"], form.get("ErrorCode"),
                          now=now())
    service.follow_outbox(db, message_sid)
    db.commit()
    return _twiml()
